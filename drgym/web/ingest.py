"""Ingest real pages into a `Corpus`: JSONL records, folders of .html files, or WARC files.

Pages are extracted by `drgym.web.extract` (structure kept: wrapped lines joined, code with its line breaks,
tables as rows, footnotes kept, long blocks split) on all cores, in input order, so the same sources give the same
corpus. Internal links are resolved against the corpus: an outlink to ``usage/`` becomes the url of the page
``usage/index.html`` when the corpus has it. A folder ingested with `base_url` gets stable urls
(``https://docs.example.org/usage/config.html``) that do not depend on the folder's name.

A bad record (unparsable line, missing url, page without text, broken WARC record, a page whose extraction fails
or crashes its worker) is reported with its file and line or byte offset and skipped;
`IngestReport.summary()` says how many of each.
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlparse, urlsplit, urlunsplit

from tqdm.auto import tqdm

from drgym.errors import IngestError
from drgym.web.authority import AuthorityTable
from drgym.web.corpus import Corpus, Page
from drgym.web.extract import (
    DEFAULT_MAX_PARAGRAPH_CHARS,
    ExtractedPage,
    extract_html,
    parse_date,
    split_paragraph,
)

__all__ = ["MAX_PAGE_BYTES", "IngestIssue", "IngestReport", "ingest"]

logger = logging.getLogger(__name__)

MAX_PAGE_BYTES = 10_000_000
"""A page (HTML file, WARC payload, JSONL line) larger than this is skipped: no document page is that large."""
_BATCH_SIZE = 8  # pages per task sent to a worker: large enough to amortise the transfer, small for balance
_MIN_ITEMS_PER_WORKER = 50  # a worker's start (a fresh interpreter importing lxml and trafilatura) costs about
# what extracting 50-100 documentation pages does: smaller inputs are extracted in this process
_CRASHED = "extraction crashed its worker process (out of memory, or a fault in a parser)"
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class IngestIssue:
    """One skipped record: where it is (file and line, or byte offset in a WARC), its url when known, and why."""

    source: str
    location: str
    reason: str
    url: str = ""

    def __str__(self) -> str:
        return f"{self.source}:{self.location}: " + (f"{self.url}: " if self.url else "") + self.reason


@dataclass
class IngestReport:
    n_records: int = 0
    n_pages: int = 0
    n_duplicates: int = 0
    n_not_html: int = 0
    n_without_text: int = 0
    """Pages skipped because no main text was found in them (they are among `issues` too)."""
    n_redirects: int = 0
    """Pages that only send the reader elsewhere (``<meta http-equiv="refresh">``): links to them lead to
    where they send."""
    n_workers: int = 1
    """Processes that extracted pages (1: this one; small inputs are not worth starting workers)."""
    issues: list[IngestIssue] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.n_records} records read, {self.n_pages} pages kept, {len(self.issues)} bad records "
                f"skipped ({self.n_without_text} without main text), {self.n_duplicates} duplicate urls skipped, "
                f"{self.n_not_html} non-HTML records skipped, {self.n_redirects} redirect pages followed")


def ingest(sources: Iterable[str | Path], *, authority: AuthorityTable | None = None, name: str = "corpus",
           keep_html: bool = True, show_progress: bool = True, base_url: str | None = None,
           guess_dates: bool = False, workers: int | None = None,
           max_paragraph_chars: int = DEFAULT_MAX_PARAGRAPH_CHARS) -> tuple[Corpus, IngestReport]:
    """Builds a corpus from JSONL files, folders of .html files and .warc/.warc.gz files.

    Args:
        sources: paths; the kind is told by the path (a folder, ``*.jsonl``, ``*.warc``, ``*.warc.gz``).
        authority: tiers for domains; a JSONL record's own ``tier`` wins.
        name: the corpus name.
        keep_html: store each page's source HTML next to its text (browse can show it; costs disk).
        base_url: where a folder's pages live on the web (``https://docs.example.org/en/``): a file
            ``usage/config.html`` gets the url ``<base_url>usage/config.html`` and the domain of `base_url`
            (one folder per ingest then: two would share urls).
            Without it a page's ``<link rel="canonical">`` names its url, else ``local://<folder name>/<path>``.
        guess_dates: date a page whose metadata names no date from its text (htmldate's extensive search);
            off by default, because years in a page's text are rarely its date.
        workers: processes that extract pages; default all CPU cores the process may use. Output order does
            not depend on it. Workers are fresh interpreters that import the main script, so a script calling
            `ingest` at its top level needs ``if __name__ == "__main__":`` (else it runs in this process, warned).
        max_paragraph_chars: longer blocks are split into parts of at most this many characters.

    Raises:
        IngestError: a source does not exist or is of no known kind, or an argument is invalid (single bad
            records never raise).
    """
    sources = [Path(source) for source in sources]
    authority = authority or AuthorityTable.load()
    base_url = _checked_base_url(base_url, sources)
    workers = _checked_workers(workers)
    if isinstance(max_paragraph_chars, bool) or not isinstance(max_paragraph_chars, int) or max_paragraph_chars < 80:
        raise IngestError(f"max_paragraph_chars must be a whole number of at least 80, got {max_paragraph_chars!r}")
    for source in sources:  # all checked before minutes of work on the first
        if not source.exists():
            raise IngestError(f"ingest source {source} does not exist")
        if not (source.is_dir() or source.name.endswith((".jsonl", ".warc", ".warc.gz"))):
            raise IngestError(f"{source}: unknown ingest source; expected a folder of .html files, a .jsonl "
                              "file or a .warc / .warc.gz file")
    report = IngestReport()
    pages: dict[str, Page] = {}
    redirects: dict[str, str] = {}
    for source in sources:
        if source.is_dir():
            files = _html_files(source)
            records, total = _html_folder_records(source, files, base_url, report), len(files)
        elif source.name.endswith(".jsonl"):
            records, total = _jsonl_records(source, report), None
        else:
            records, total = _warc_records(source, report), None
        extracted = _ordered_map(_extract_batch, records,
                                 lambda r: _ExtractionJob(r.html, r.url, guess_dates, max_paragraph_chars)
                                 if r.text is None else None, workers=workers,
                                 on_pool_start=lambda n: setattr(report, "n_workers", max(report.n_workers, n)))
        for record, result in tqdm(extracted, total=total, desc=f"ingest {source.name}", unit="page",
                                   disable=not show_progress):
            if isinstance(result, ExtractedPage) and result.redirect_to not in ("", record.url):
                redirects[record.url] = result.redirect_to
                report.n_redirects += 1
                continue
            page = _page_from_record(record, result, authority, keep_html, report, max_paragraph_chars)
            if page is None:
                continue
            if page.url in pages:
                report.n_duplicates += 1
                continue
            pages[page.url] = page
    pages = _resolve_outlinks(pages, redirects)
    report.n_pages = len(pages)
    if report.issues:  # each one is in the report (the CLI prints them); the log says how many, once
        logger.warning("skipped %d records; the first: %s (IngestReport.issues lists them all)", len(report.issues),
                       report.issues[0])
    return Corpus.from_pages(pages.values(), name=name), report


def _checked_base_url(base_url: str | None, sources: list[Path]) -> str | None:
    if base_url is None:
        return None
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise IngestError(f"base_url {base_url!r} must be an absolute http(s) url such as "
                          "'https://docs.example.org/en/latest/'")
    if parsed.query or parsed.fragment:
        raise IngestError(f"base_url {base_url!r} must have no query or fragment")
    folders = [source for source in sources if source.is_dir()]
    if not folders:
        raise IngestError(f"base_url {base_url!r} applies to folders of .html files, and no source is a folder "
                          "(JSONL and WARC records carry their own urls); leave it out")
    if len(folders) > 1:
        raise IngestError(f"base_url {base_url!r} would give the same urls to pages of {len(folders)} folders "
                          f"({', '.join(map(str, folders[:3]))}); ingest one folder per base_url, or put the folders "
                          "in one parent folder and ingest that")
    return base_url if base_url.endswith("/") else base_url + "/"


def _checked_workers(workers: int | None) -> int:
    if workers is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise IngestError(f"workers must be a whole number of processes, 1 or more, got {workers!r}")
    return workers


@dataclass
class _Record:
    source: str
    location: str
    url: str
    html: str = ""
    text: str | list[str] | None = None
    title: str = ""
    published: str = ""
    tier: int | None = None
    domain: str = ""
    outlinks: tuple[str, ...] = ()
    header_date: str = ""
    """From the HTTP Last-Modified header, else the WARC-Date: the page's date when its metadata names none."""


@dataclass(frozen=True)
class _ExtractionJob:
    """What a worker process needs to extract one page (the record itself stays in the main process)."""

    html: str
    url: str
    guess_dates: bool
    max_paragraph_chars: int


def _extract_batch(jobs: list[_ExtractionJob | None]) -> list[ExtractedPage | str | None]:
    """Runs in a worker: each page's extraction, or the reason it failed (one page never fails the batch)."""
    return [_extract_one(job) if job is not None else None for job in jobs]


def _extract_one(job: _ExtractionJob) -> ExtractedPage | str:
    try:
        return extract_html(job.html, url=job.url, guess_dates=job.guess_dates,
                            max_paragraph_chars=job.max_paragraph_chars)
    except RecursionError:
        return "HTML nested too deeply to read"
    except Exception as e:  # lxml and trafilatura raise many kinds on broken markup
        return f"HTML could not be parsed: {type(e).__name__}: {str(e)[:200]}"


_Item = TypeVar("_Item")


def _ordered_map(function: Callable[[list], list], items: Iterable[_Item], job_of: Callable[[_Item], object], *,
                 workers: int, batch_size: int = _BATCH_SIZE,
                 on_pool_start: Callable[[int], None] | None = None) -> Iterator[tuple[_Item, object]]:
    """``(item, result)`` in input order, `function` run on batches of jobs in `workers` processes.

    At most ``2 * workers`` batches are in flight, so a stream of any length runs in bounded memory. When a
    worker dies (out of memory, a segfault in a parser), the batches in flight are run again one item at a time
    in a fresh pool; the item that kills that one too gets the result `_CRASHED`, and the rest go on.
    Fewer than `_MIN_ITEMS_PER_WORKER` items per worker are processed in this process: starting workers would
    cost more than it saves.
    """
    iterator = iter(items)
    threshold = workers * max(batch_size, _MIN_ITEMS_PER_WORKER)
    head = list(itertools.islice(iterator, threshold if workers > 1 else 0))
    batches = _batches(itertools.chain(head, iterator), batch_size)
    if workers <= 1 or len(head) < threshold:
        for batch in batches:
            yield from zip(batch, function([job_of(item) for item in batch]), strict=True)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads and locks
    executor = ProcessPoolExecutor(workers, mp_context=context)
    try:
        executor.submit(function, []).result()  # the workers start: spawned ones import the main script
    except BrokenProcessPool:
        executor.shutdown(wait=True)
        logger.warning("worker processes could not start, so pages are extracted in this process only; a script "
                       "that calls ingest() at its top level must call it under `if __name__ == \"__main__\":` "
                       "(each worker imports the main script)")
        for batch in batches:
            yield from zip(batch, function([job_of(item) for item in batch]), strict=True)
        return
    if on_pool_start is not None:
        on_pool_start(workers)
    pending: deque[tuple[list[_Item], Future]] = deque()
    try:
        while True:
            while len(pending) < 2 * workers and (batch := next(batches, None)) is not None:
                try:
                    future = executor.submit(function, [job_of(item) for item in batch])
                except BrokenProcessPool as e:  # a worker died since the last result: this batch is a suspect too
                    future = Future()
                    future.set_exception(e)
                pending.append((batch, future))
            if not pending:
                return
            batch, future = pending.popleft()
            try:
                results = future.result()
            except BrokenProcessPool:
                suspects = [batch, *(b for b, _ in pending)]
                pending.clear()
                executor.shutdown(wait=True, cancel_futures=True)
                executor = ProcessPoolExecutor(1, mp_context=context)
                for suspect_batch in suspects:
                    for item in suspect_batch:
                        try:
                            result = executor.submit(function, [job_of(item)]).result()[0]
                        except BrokenProcessPool:
                            result = _CRASHED
                            executor.shutdown(wait=True)
                            executor = ProcessPoolExecutor(1, mp_context=context)
                        yield item, result
                executor.shutdown(wait=True)
                executor = ProcessPoolExecutor(workers, mp_context=context)
                continue
            yield from zip(batch, results, strict=True)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _batches(items: Iterator[_Item], size: int) -> Iterator[list[_Item]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


def _page_from_record(record: _Record, extracted: ExtractedPage | str | None, authority: AuthorityTable,
                      keep_html: bool, report: IngestReport, max_paragraph_chars: int) -> Page | None:
    def skip(reason: str) -> None:
        report.issues.append(IngestIssue(record.source, record.location, reason, url=record.url))

    parsed = urlparse(record.url)
    if not record.url or not parsed.scheme or not (parsed.netloc or parsed.scheme == "local"):
        skip(f"url {record.url!r} is not absolute")
        return None
    domain = record.domain or parsed.netloc.lower() or parsed.path.split("/")[0]
    title, published, outlinks = record.title, record.published, record.outlinks
    if isinstance(extracted, str):
        skip(extracted)
        return None
    if extracted is None:
        text = record.text or ""
        paragraphs = tuple(part for p in (text if isinstance(text, list) else text.split("\n\n")) if p and p.strip()
                           for part in split_paragraph(p.strip(), max_paragraph_chars))
    else:
        paragraphs = extracted.paragraphs
        title = title or extracted.title
        published = published or extracted.published
        outlinks = outlinks or extracted.outlinks
    published = parse_date(published) or record.header_date
    if not paragraphs:
        report.n_without_text += 1
        skip("no main text found in the page")
        return None
    tier = record.tier if record.tier is not None else authority.tier(domain)
    return Page(url=record.url, domain=domain, title=title or record.url, published=published, tier=tier,
                paragraphs=paragraphs, outlinks=tuple(outlinks), html=record.html if keep_html else "")


def _resolve_outlinks(pages: dict[str, Page], redirects: dict[str, str]) -> dict[str, Page]:
    """Outlinks pointed at the corpus's own urls: ``usage/`` at ``usage/index.html``, ``a`` at ``a.html``, a
    moved page at where it moved."""
    resolved: dict[str, Page] = {}
    for url, page in pages.items():
        links = tuple(dict.fromkeys(link for link in (_corpus_url(link, pages, redirects) for link in page.outlinks)
                                    if link != url))
        resolved[url] = page if links == page.outlinks else replace(page, outlinks=links)
    return resolved


def _corpus_url(link: str, pages: dict[str, Page], redirects: dict[str, str]) -> str:
    for _ in range(10):  # redirect chains end; a cycle stops here
        known = _known_form(link, pages, redirects)
        if known not in redirects:
            return known
        link = redirects[known]
    return link


def _known_form(link: str, pages: dict[str, Page], redirects: dict[str, str]) -> str:
    if link in pages or link in redirects:
        return link
    parts = urlsplit(link)
    path = parts.path
    if path.endswith("/") or not path:
        candidates = [path + "index.html", path + "index.htm", path.rstrip("/") + ".html"]
    elif path.endswith(("/index.html", "/index.htm")):
        candidates = [path.rsplit("/", 1)[0] + "/"]
    elif path.endswith((".html", ".htm")):
        candidates = [path.rsplit(".", 1)[0], path.rsplit(".", 1)[0] + "/"]
    else:
        candidates = [path + ".html", path + "/", path + "/index.html"]
    for candidate in candidates:
        url = urlunsplit(parts._replace(path=candidate))
        if url in pages or url in redirects:
            return url
    return link


def _field_problem(row: dict, text, html) -> str | None:
    """What is wrong with a JSONL page record's fields, or None (checked before any of them is used)."""
    name = "paragraphs" if "paragraphs" in row else "text"
    if isinstance(text, list):
        bad = next(((i, p) for i, p in enumerate(text, start=1) if not isinstance(p, str)), None)
        if bad is not None:
            return (f"field {name!r} must hold strings; item {bad[0]} is {type(bad[1]).__name__} "
                    f"({json.dumps(bad[1])[:40]})")
    elif text is not None and not isinstance(text, str):
        return f"field {name!r} must be a string or a list of strings, got {type(text).__name__}"
    if not isinstance(html, str):
        return f"field 'html' must be a string, got {type(html).__name__}"
    outlinks = row.get("outlinks")
    if outlinks is not None and not (isinstance(outlinks, list) and all(isinstance(u, str) for u in outlinks)):
        return "field 'outlinks' must be a list of url strings"
    for key in ("title", "published", "date", "domain"):
        if row.get(key) is not None and not isinstance(row[key], str):
            return f"field {key!r} must be a string, got {type(row[key]).__name__}"
    return None


def _bounded_lines(path: Path) -> Iterator[tuple[int, bytes | None, int]]:
    """``(line number, line or None when longer than MAX_PAGE_BYTES, length)``; a long line is never held whole."""
    with path.open("rb") as stream:
        line_number = 0
        while chunk := stream.readline(MAX_PAGE_BYTES + 1):
            line_number += 1
            if len(chunk) <= MAX_PAGE_BYTES or chunk.endswith(b"\n"):
                yield line_number, chunk, len(chunk)
                continue
            length = len(chunk)
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                length += len(rest)
            yield line_number, None, length + len(rest)


def _jsonl_records(path: Path, report: IngestReport) -> Iterator[_Record]:
    for line_number, raw, length in _bounded_lines(path):
        location = f"line {line_number}"
        if raw is None or length > MAX_PAGE_BYTES:
            report.n_records += 1
            report.issues.append(IngestIssue(str(path), location, f"record is {length:,} bytes, over the "
                                             f"{MAX_PAGE_BYTES:,}-byte limit of one page"))
            continue
        if not raw.strip():
            continue
        report.n_records += 1
        line = raw.decode("utf-8", errors="replace")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            report.issues.append(IngestIssue(str(path), location, f"invalid JSON: {e.msg} at column {e.colno}"))
            continue
        except (RecursionError, ValueError) as e:  # nesting past the recursion limit, a 5,000-digit number
            report.issues.append(IngestIssue(str(path), location, f"JSON drgym cannot read: {type(e).__name__}"))
            continue
        if not isinstance(row, dict):
            report.issues.append(IngestIssue(str(path), location, "expected a JSON object"))
            continue
        text = row.get("paragraphs", row.get("text"))
        html = row.get("html", "")
        problem = _field_problem(row, text, html)
        if problem:
            report.issues.append(IngestIssue(str(path), location, problem))
            continue
        if text is None and not html:
            report.issues.append(IngestIssue(str(path), location,
                                             "record has none of 'html', 'text', 'paragraphs'"))
            continue
        tier = row.get("tier")
        if tier is not None and tier not in (1, 2, 3):
            report.issues.append(IngestIssue(str(path), location, f"field 'tier' must be 1, 2 or 3, got {tier!r}"))
            continue
        if not isinstance(row.get("url", ""), str):
            report.issues.append(IngestIssue(str(path), location, "field 'url' must be a string"))
            continue
        yield _Record(source=str(path), location=location, url=row.get("url", ""), html=html or "", text=text,
                      title=str(row.get("title") or ""), published=str(row.get("published") or row.get("date") or ""),
                      tier=tier, domain=str(row.get("domain") or ""), outlinks=tuple(row.get("outlinks") or ()))


def _html_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".html", ".htm") and p.is_file())


def _html_folder_records(folder: Path, files: list[Path], base_url: str | None,
                         report: IngestReport) -> Iterator[_Record]:
    for path in files:
        report.n_records += 1
        relative = quote(path.relative_to(folder).as_posix(), safe="/~!$&'()*+,;=:@", errors="surrogateescape")
        url = base_url + relative if base_url is not None else (
            f"local://{quote(folder.resolve().name, errors='surrogateescape')}/{relative}")
        try:
            size = path.stat().st_size
            if size > MAX_PAGE_BYTES:
                report.issues.append(IngestIssue(str(path), "file", f"file is {size:,} bytes, over the "
                                                 f"{MAX_PAGE_BYTES:,}-byte limit of one page", url=url))
                continue
            html = _decode(path.read_bytes())
        except OSError as e:
            report.issues.append(IngestIssue(str(path), "file", f"cannot read: {e}", url=url))
            continue
        if base_url is None:
            url = _canonical_url(html) or url
        yield _Record(source=str(path), location="file", url=url, html=html)


def _decode(body: bytes, content_type: str = "") -> str:
    """Page bytes as text: the charset the HTTP header or a <meta> tag names, else UTF-8, else Windows-1252."""
    named = re.search(r"charset=([\w.:-]+)", content_type, re.IGNORECASE)
    meta = _CHARSET.search(body[:4096]) if named is None else None
    charset = named.group(1) if named else meta.group(1).decode("ascii") if meta else ""
    if charset:
        try:
            return body.decode(charset, errors="replace")
        except LookupError:  # a charset name Python does not know
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def _canonical_url(html: str) -> str:
    import lxml.html

    head = html[:200_000]  # the <link> is in <head>; no need to parse a whole large page twice
    try:
        tree = lxml.html.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", head, count=1))
    except (lxml.etree.ParserError, ValueError):
        return ""
    for link in tree.iterfind(".//link[@rel='canonical']"):
        href = (link.get("href") or "").strip()
        if urlparse(href).scheme in ("http", "https"):
            return href
    return ""


def _warc_records(path: Path, report: IngestReport) -> Iterator[_Record]:
    from warcio.archiveiterator import ArchiveIterator

    with path.open("rb") as stream:
        records = ArchiveIterator(stream)
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except Exception as e:  # ArchiveLoadFailed, or whatever a damaged header makes warcio raise
                offset = stream.tell()
                report.n_records += 1
                report.issues.append(IngestIssue(str(path), f"offset {offset}",
                                                 f"broken WARC record, rest of file skipped: {type(e).__name__}: {e}"))
                return
            if record.rec_type not in ("response", "resource"):
                continue
            report.n_records += 1
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            http = record.http_headers if record.rec_type == "response" else None
            try:
                content_type = (http.get_header("Content-Type") if http else
                                record.rec_headers.get_header("Content-Type")) or ""
                body = record.content_stream().read(MAX_PAGE_BYTES + 1)
                error = None
            except Exception as e:  # warcio raises plain Exceptions on broken chunking / compression
                error = e
            location = f"offset {records.get_record_offset()}"  # (reading the offset consumes the record)
            if error is not None:
                report.issues.append(IngestIssue(str(path), location, f"unreadable payload: {type(error).__name__}: "
                                                 f"{str(error)[:200]}", url=url))
                continue
            if content_type and "html" not in content_type.lower():
                report.n_not_html += 1
                continue
            status = http.get_statuscode() if http else "200"
            if not str(status).startswith("2"):
                report.issues.append(IngestIssue(str(path), location, f"HTTP status {status}, not a page", url=url))
                continue
            if len(body) > MAX_PAGE_BYTES:
                report.issues.append(IngestIssue(str(path), location, f"payload over the {MAX_PAGE_BYTES:,}-byte "
                                                 "limit of one page", url=url))
                continue
            header_date = parse_date((http.get_header("Last-Modified") if http else "") or "")
            yield _Record(source=str(path), location=location, url=url, html=_decode(body, content_type),
                          header_date=header_date or parse_date(record.rec_headers.get_header("WARC-Date") or ""))
