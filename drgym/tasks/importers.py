"""Importers for published task formats: ResearchRubrics and BrowseComp-Plus.

* ResearchRubrics (github.com/scaleapi/researchrubrics, HF ``ScaleAI/researchrubrics``, ``processed_data.jsonl``):
  one JSON object per line, ``{"prompt", "sample_id", "domain", "conceptual_breadth", "logical_nesting",
  "exploration", "rubrics": [{"criterion", "weight", "axis"}]}`` → deep_research tasks graded by an LLM judge
  (these rubrics have no machine check). The repository's older compiled form (``task_name``; rubrics as a JSON
  string of ``{"title", "weight", "category"}``) is read too. Weights are floats on ResearchRubrics' own −5…5
  scale (``4.0``, ``-2.0``; mandatory at |w| ≥ 4, negative = a fault); drgym's are integers: a weight is rounded
  half away from zero and a non-zero weight never becomes 0 (±0.3 → ±1), so mandatory and fault weights keep
  their meaning; 0 or beyond ±5 is an error naming the line and rubric. The original weights of a task with a
  non-integer one are kept in ``meta["source_weights"]``.
* BrowseComp-Plus (github.com/texttron/BrowseComp-Plus, HF ``Tevatron/browsecomp-plus``, decrypted with its
  ``decrypt_dataset.py``): one query per line, ``{"query_id", "query", "answer", "evidence_docs", "gold_docs",
  "negative_docs"}``, each ``*_docs`` a list of ``{"docid", "text", "url"?}`` → deep_search tasks with
  ``meta["evidence_docids"]`` and ``meta["gold_docids"]``. The corpus (HF ``Tevatron/browsecomp-plus-corpus``,
  as JSONL ``{"docid", "text", "url"}``) and the documents nested in the queries become one `Corpus`, a page per
  docid (a document without a url gets ``local://browsecomp-plus/<docid>``; a url already taken gets
  ``#docid-<docid>``), titled by the ``title`` field, a leading ``---`` front-matter ``title:``, a first-line
  Markdown heading, or else the docid. ``meta["evidence_urls"]`` / ``meta["gold_urls"]`` name those pages.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from pydantic import ValidationError

from drgym.errors import TaskFileError
from drgym.rewards.rubric import Rubric
from drgym.tasks.schema import Task, TaskSet
from drgym.web.authority import AuthorityTable
from drgym.web.corpus import Corpus, Page
from drgym.web.extract import parse_date, split_paragraph

__all__ = ["import_browsecomp_plus", "import_research_rubrics", "research_rubrics_weight"]

_DOC_LISTS = ("evidence_docs", "gold_docs", "negative_docs")
"""BrowseComp-Plus query fields holding documents; the first two are the task's labelled evidence."""
_RR_META = ("domain", "conceptual_breadth", "logical_nesting", "exploration")
"""ResearchRubrics task fields kept in `Task.meta`."""
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.{0,4000}?)\n---[ \t]*(?:\n|\Z)", re.S)


def _rows(path: Path) -> Iterator[tuple[int, dict]]:
    if not path.is_file():
        raise TaskFileError(f"{path} does not exist")
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise TaskFileError(f"{path}:{line_number}: invalid JSON: {e.msg} at column {e.colno}") from None
            except (RecursionError, ValueError) as e:  # nesting past the recursion limit, a 5,000-digit number
                raise TaskFileError(f"{path}:{line_number}: JSON drgym cannot read: {type(e).__name__}") from None
            if isinstance(row, list):
                raise TaskFileError(f"{path}:{line_number}: expected one JSON object per line (JSONL), got a JSON "
                                    "array; convert it with `jq -c '.[]' FILE > FILE.jsonl`")
            if not isinstance(row, dict):
                raise TaskFileError(f"{path}:{line_number}: expected a JSON object, got {type(row).__name__}")
            yield line_number, row


def _text(row: dict, field: str, path: Path, line_number: int, *, where: str = "") -> str:
    value = row.get(field)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # query ids and numeric answers are often written as numbers
    if not isinstance(value, str) or not value.strip():
        seen = "missing" if value in (None, "") else f"a {type(value).__name__}, not text"
        raise TaskFileError(f"{path}:{line_number}: field '{where}{field}' is {seen}")
    return value


def research_rubrics_weight(weight: object) -> int:
    """A ResearchRubrics weight (a float on −5…5) as drgym's integer weight: rounded half away from zero, a
    non-zero weight never 0. Raises ValueError for 0, non-numbers and weights beyond ±5."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        raise ValueError(f"weight must be a number, got {weight!r}")
    if weight == 0 or abs(weight) > 5:
        raise ValueError(f"weight must be non-zero and within -5...5 (ResearchRubrics' scale), got {weight!r}")
    return int(math.copysign(max(1, math.floor(abs(weight) + 0.5)), weight))


def import_research_rubrics(path: str | Path, *, corpus: str = "") -> TaskSet:
    """Deep-research tasks from a ResearchRubrics JSONL file (``processed_data.jsonl``).

    Raises:
        TaskFileError: naming the file, line and field of the first malformed record.
    """
    path = Path(path)
    tasks = []
    for line_number, row in _rows(path):
        prompt = _text(row, "prompt", path, line_number)
        raw_rubrics = row.get("rubrics")
        if isinstance(raw_rubrics, str):  # the compiled CSV/Parquet form stores them as JSON text
            try:
                raw_rubrics = json.loads(raw_rubrics)
            except (ValueError, RecursionError):
                raise TaskFileError(f"{path}:{line_number}: field 'rubrics' is text but not a JSON list") from None
        if not isinstance(raw_rubrics, list) or not raw_rubrics:
            raise TaskFileError(f"{path}:{line_number}: field 'rubrics' must be a non-empty list of "
                                "{criterion, weight, axis} objects")
        task_id = next((str(row[key]) for key in ("sample_id", "task_name", "id", "task_id")
                        if isinstance(row.get(key), (str, int)) and str(row[key]).strip()), f"rr-{line_number:05d}")
        rubrics, source_weights = [], []
        for number, raw in enumerate(raw_rubrics):
            where = f"rubrics.{number}."
            if not isinstance(raw, dict):
                raise TaskFileError(f"{path}:{line_number}: field 'rubrics.{number}' must be an object, got "
                                    f"{type(raw).__name__}")
            criterion = _text(raw, "title" if "title" in raw and "criterion" not in raw else "criterion", path,
                              line_number, where=where)
            axis = raw.get("axis", raw.get("category")) or "general"
            weight = raw.get("weight", 1)
            try:
                rubrics.append(Rubric(id=f"r{number}", criterion=criterion, weight=research_rubrics_weight(weight),
                                      axis=str(axis)))
            except (ValueError, ValidationError) as e:
                message = e.errors()[0]["msg"] if isinstance(e, ValidationError) else str(e)
                raise TaskFileError(f"{path}:{line_number}: field '{where}weight': {message}") from None
            source_weights.append(weight)
        meta = {"source": "researchrubrics", **{key: row[key] for key in _RR_META if row.get(key) is not None}}
        if any(w != int(w) for w in source_weights):
            meta["source_weights"] = source_weights
        tasks.append(Task(id=task_id, kind="deep_research", question=prompt, rubrics=rubrics, corpus=corpus, meta=meta))
    return TaskSet(tasks, name=path.stem)


def import_browsecomp_plus(queries: str | Path, documents: str | Path | None = None, *, corpus: str = "",
                           authority: AuthorityTable | None = None, with_query_documents: bool = True,
                           name: str | None = None) -> tuple[TaskSet, Corpus | None]:
    """Deep-search tasks and their corpus from BrowseComp-Plus JSONL files.

    Args:
        queries: the decrypted queries (``query_id``, ``query``, ``answer``, optional ``*_docs`` lists).
        documents: the corpus as JSONL (``docid``, ``text``, ``url``); None for none.
        corpus: the tasks' ``corpus`` field (the folder the corpus will be saved to, relative to the task file).
        with_query_documents: add the documents nested in the queries to the corpus (a self-contained corpus
            from the queries file alone; with `documents`, those not already in it).
        name: the corpus's name (default: the documents file's name, else the queries file's).

    Returns:
        The tasks, and the corpus (None when there are no documents at all).

    Raises:
        TaskFileError: naming the file, line and field of the first malformed record, or a docid given twice in
            `documents`.
    """
    queries = Path(queries)
    tasks, labelled = [], []
    for line_number, row in _rows(queries):
        query_id = _text(row, "query_id", queries, line_number) if "query_id" in row else f"bcp-{line_number:05d}"
        docids = {name: [doc["docid"] for doc in _documents(row, name, queries, line_number)] for name in _DOC_LISTS}
        tasks.append(Task(id=query_id, kind="deep_search", question=_text(row, "query", queries, line_number),
                          answers=[_text(row, "answer", queries, line_number).strip()], corpus=corpus,
                          meta={"source": "browsecomp-plus", "evidence_docids": docids["evidence_docs"],
                                "gold_docids": docids["gold_docs"]}))
        labelled.append(docids)
    if documents is None and not (with_query_documents and any(any(d.values()) for d in labelled)):
        return TaskSet(tasks, name=queries.stem), None
    authority = authority or AuthorityTable.load()
    url_of: dict[str, str] = {}
    pages = _pages(queries, None if documents is None else Path(documents), authority, url_of, with_query_documents)
    built = Corpus.from_pages(pages, name=name or Path(documents or queries).stem)
    tasks = [task.model_copy(update={"meta": {
        **task.meta, "evidence_urls": [url_of[d] for d in task.meta["evidence_docids"] if d in url_of],
        "gold_urls": [url_of[d] for d in task.meta["gold_docids"] if d in url_of]}}) for task in tasks]
    return TaskSet(tasks, name=queries.stem), built


def _documents(row: dict, field: str, path: Path, line_number: int) -> list[dict]:
    """The documents of a query's ``*_docs`` list, each with a text ``docid``."""
    docs = row.get(field) or []
    if not isinstance(docs, list):
        raise TaskFileError(f"{path}:{line_number}: field {field!r} must be a list of {{docid, text, url}} objects")
    checked = []
    for number, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise TaskFileError(f"{path}:{line_number}: field '{field}.{number}' must be an object")
        checked.append({**doc, "docid": _text(doc, "docid", path, line_number, where=f"{field}.{number}.")})
    return checked


def _pages(queries: Path, documents: Path | None, authority: AuthorityTable, url_of: dict[str, str],
           with_query_documents: bool) -> Iterator[Page]:
    """One page per docid, the corpus file's first, then the queries' nested ones (read again, not held)."""
    urls: set[str] = set()
    if documents is not None:
        for line_number, row in _rows(documents):
            docid = _text(row, "docid", documents, line_number)
            if docid in url_of:
                raise TaskFileError(f"{documents}:{line_number}: docid {docid!r} appears twice; each document needs "
                                    "its own docid")
            yield _page(row, docid, f"{documents}:{line_number}", authority, url_of, urls)
    if not with_query_documents:
        return
    for line_number, row in _rows(queries):
        for name in _DOC_LISTS:
            for number, doc in enumerate(_documents(row, name, queries, line_number)):
                if doc["docid"] not in url_of:
                    yield _page(doc, doc["docid"], f"{queries}:{line_number}: {name}.{number}", authority, url_of, urls)


def _page(row: dict, docid: str, where: str, authority: AuthorityTable, url_of: dict[str, str], urls: set[str]) -> Page:
    text = row.get("text")
    if not isinstance(text, str):
        seen = "missing" if text is None else f"a {type(text).__name__}, not text"
        raise TaskFileError(f"{where}: field 'text' of document {docid!r} is {seen}")
    url = row.get("url") if isinstance(row.get("url"), str) and row["url"].strip() else ""
    parsed = urlparse(url.strip())
    url = url.strip() if parsed.scheme and parsed.netloc else f"local://browsecomp-plus/{docid}"
    if url in urls:
        url = f"{url.split('#')[0]}#docid-{docid}"
    urls.add(url)
    url_of[docid] = url
    domain = urlparse(url).netloc or "browsecomp-plus"
    title, published, body = _front_matter(text)
    if isinstance(row.get("title"), str) and row["title"].strip():
        title = row["title"].strip()
    paragraphs = tuple(part for block in body.split("\n\n") if block.strip()
                       for part in split_paragraph(block.strip()))
    return Page(url=url, domain=domain, title=(title or docid)[:300], published=published, tier=authority.tier(domain),
                paragraphs=paragraphs)


def _front_matter(text: str) -> tuple[str, str, str]:
    """(title, date, body) of a document: a leading ``---`` block of ``key: value`` lines, else a first-line
    Markdown heading as the title."""
    match = _FRONT_MATTER.match(text)
    if match:
        fields = dict(line.split(":", 1) for line in match.group(1).splitlines() if ":" in line)
        fields = {key.strip().lower(): value.strip().strip("'\"") for key, value in fields.items()}
        return fields.get("title", ""), parse_date(fields.get("date", "")), text[match.end():]
    first = text.lstrip().split("\n", 1)[0]
    return (first.lstrip("#").strip() if first.startswith("#") else ""), "", text
