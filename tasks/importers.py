"""Importers for user task files: ResearchRubrics-style and BrowseComp-Plus-style.

* ResearchRubrics: JSONL rows ``{"prompt": …, "rubrics": [{"criterion", "weight", "axis"}], "id"?: …}`` →
  deep_research tasks graded by an LLM judge (these rubrics have no machine check).
* BrowseComp-Plus: JSONL queries ``{"query_id", "query", "answer"}`` and, optionally, a JSONL corpus of
  documents ``{"docid", "text", "url"?, "title"?}`` → deep_search tasks and a `Corpus`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from pydantic import ValidationError

from drgym.errors import TaskFileError
from drgym.rewards.rubric import Rubric
from drgym.tasks.schema import Task, TaskSet
from drgym.web.authority import AuthorityTable
from drgym.web.corpus import Corpus, Page

__all__ = ["import_browsecomp_plus", "import_research_rubrics"]


def _rows(path: Path) -> Iterator[tuple[int, dict]]:
    if not path.is_file():
        raise TaskFileError(f"{path} does not exist")
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise TaskFileError(f"{path}:{line_number}: invalid JSON: {e.msg} at column {e.colno}") from None
            if not isinstance(row, dict):
                raise TaskFileError(f"{path}:{line_number}: expected a JSON object")
            yield line_number, row


def _require(row: dict, field: str, path: Path, line_number: int):
    if field not in row or row[field] in (None, ""):
        raise TaskFileError(f"{path}:{line_number}: field {field!r} is missing")
    return row[field]


def import_research_rubrics(path: str | Path, *, corpus: str = "") -> TaskSet:
    """Deep-research tasks from a ResearchRubrics-style JSONL file."""
    path = Path(path)
    tasks = []
    for line_number, row in _rows(path):
        prompt = _require(row, "prompt", path, line_number)
        raw_rubrics = _require(row, "rubrics", path, line_number)
        task_id = str(row.get("id") or row.get("sample_id") or row.get("task_id") or f"rr-{line_number:05d}")
        rubrics = []
        for number, raw in enumerate(raw_rubrics):
            try:
                weight = int(round(float(raw.get("weight", 1))))
                rubrics.append(Rubric(id=f"r{number}", criterion=str(raw["criterion"]), weight=weight,
                                      axis=str(raw.get("axis") or "general")))
            except (KeyError, TypeError, ValueError, ValidationError) as e:
                raise TaskFileError(f"{path}:{line_number}: field 'rubrics.{number}': {e}") from None
        tasks.append(Task(id=task_id, kind="deep_research", question=prompt, rubrics=rubrics, corpus=corpus,
                          meta={"source": "researchrubrics"}))
    return TaskSet(tasks, name=path.stem)


def import_browsecomp_plus(queries: str | Path, documents: str | Path | None = None, *, corpus: str = "",
                           authority: AuthorityTable | None = None) -> tuple[TaskSet, Corpus | None]:
    """Deep-search tasks (and their document corpus) from BrowseComp-Plus-style JSONL files."""
    queries = Path(queries)
    tasks = []
    for line_number, row in _rows(queries):
        answer = str(_require(row, "answer", queries, line_number))
        query_id = str(row.get("query_id") or row.get("id") or f"bcp-{line_number:05d}")
        tasks.append(Task(id=query_id, kind="deep_search", question=str(_require(row, "query", queries, line_number)),
                          answers=[answer], corpus=corpus, meta={"source": "browsecomp-plus"}))
    if documents is None:
        return TaskSet(tasks, name=queries.stem), None
    documents = Path(documents)
    authority = authority or AuthorityTable.load()
    pages = []
    for line_number, row in _rows(documents):
        docid = str(_require(row, "docid", documents, line_number))
        text = str(_require(row, "text", documents, line_number))
        url = str(row.get("url") or f"local://browsecomp-plus/{docid}")
        domain = urlparse(url).netloc or "browsecomp-plus"
        paragraphs = tuple(p.strip() for p in text.split("\n\n") if p.strip())
        pages.append(Page(url=url, domain=domain, title=str(row.get("title") or docid), published="",
                          tier=authority.tier(domain), paragraphs=paragraphs or (text,)))
    return TaskSet(tasks, name=queries.stem), Corpus.from_pages(pages, name=documents.stem)
