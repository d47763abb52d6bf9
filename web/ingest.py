"""Ingest real pages into a `Corpus`: JSONL records, a folder of .html files, or WARC files.

A bad record (unparsable line, missing url, page without text, broken WARC record) is reported with its
file and line or byte offset and skipped; `IngestReport.summary()` says how many of each.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from tqdm.auto import tqdm

from drgym.errors import IngestError
from drgym.web.authority import AuthorityTable
from drgym.web.corpus import Corpus, Page
from drgym.web.extract import extract_html

__all__ = ["IngestIssue", "IngestReport", "ingest"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestIssue:
    """One skipped record: where it is (file and line, or byte offset in a WARC) and why."""

    source: str
    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.location}: {self.reason}"


@dataclass
class IngestReport:
    n_records: int = 0
    n_pages: int = 0
    n_duplicates: int = 0
    n_not_html: int = 0
    issues: list[IngestIssue] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.n_records} records read, {self.n_pages} pages kept, {len(self.issues)} bad records "
                f"skipped, {self.n_duplicates} duplicate urls skipped, {self.n_not_html} non-HTML records skipped")


def ingest(sources: Iterable[str | Path], *, authority: AuthorityTable | None = None, name: str = "corpus",
           keep_html: bool = True, show_progress: bool = True) -> tuple[Corpus, IngestReport]:
    """Builds a corpus from JSONL files, folders of .html files and .warc/.warc.gz files.

    Args:
        sources: paths; the kind is told by the path (a folder, ``*.jsonl``, ``*.warc``, ``*.warc.gz``).
        authority: tiers for domains; a JSONL record's own ``tier`` wins.
        name: the corpus name.
        keep_html: store each page's source HTML next to its text (browse can show it; costs disk).

    Raises:
        IngestError: a source does not exist or is of no known kind (single bad records never raise).
    """
    authority = authority or AuthorityTable.load()
    report = IngestReport()
    pages: dict[str, Page] = {}
    for source in map(Path, sources):
        if not source.exists():
            raise IngestError(f"ingest source {source} does not exist")
        if source.is_dir():
            records = _html_folder_records(source, report)
        elif source.name.endswith(".jsonl"):
            records = _jsonl_records(source, report)
        elif source.name.endswith((".warc", ".warc.gz")):
            records = _warc_records(source, report)
        else:
            raise IngestError(f"{source}: unknown ingest source; expected a folder of .html files, a .jsonl "
                              "file or a .warc / .warc.gz file")
        for record in tqdm(records, desc=f"ingest {source.name}", unit="rec", disable=not show_progress):
            page = _page_from_record(record, authority, keep_html, report)
            if page is None:
                continue
            if page.url in pages:
                report.n_duplicates += 1
                continue
            pages[page.url] = page
    report.n_pages = len(pages)
    for issue in report.issues:
        logger.warning("skipped %s", issue)
    return Corpus.from_pages(pages.values(), name=name), report


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
    crawl_date: str = ""
    """When the record was fetched (WARC-Date): the page's date only when the page itself names none."""


def _page_from_record(record: _Record, authority: AuthorityTable, keep_html: bool,
                      report: IngestReport) -> Page | None:
    def skip(reason: str) -> None:
        report.issues.append(IngestIssue(record.source, record.location, reason))

    parsed = urlparse(record.url)
    if not record.url or not parsed.scheme or not (parsed.netloc or parsed.scheme == "local"):
        skip(f"url {record.url!r} is not absolute")
        return None
    domain = record.domain or parsed.netloc.lower() or parsed.path.split("/")[0]
    title, published, outlinks = record.title, record.published, record.outlinks
    if record.text is not None:
        paragraphs = tuple(p.strip() for p in (record.text if isinstance(record.text, list)
                                                else record.text.split("\n\n")) if p and p.strip())
    else:
        try:
            extracted = extract_html(record.html, url=record.url)
        except Exception as e:  # trafilatura and lxml raise many kinds on broken markup
            skip(f"HTML could not be parsed: {type(e).__name__}: {e}")
            return None
        paragraphs = extracted.paragraphs
        title = title or extracted.title
        published = published or extracted.published
        outlinks = outlinks or extracted.outlinks
    published = published or record.crawl_date
    if not paragraphs:
        skip("no main text found in the page")
        return None
    tier = record.tier if record.tier is not None else authority.tier(domain)
    return Page(url=record.url, domain=domain, title=title or record.url, published=published[:10], tier=tier,
                paragraphs=paragraphs, outlinks=tuple(outlinks), html=record.html if keep_html else "")


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


def _jsonl_records(path: Path, report: IngestReport) -> Iterator[_Record]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            report.n_records += 1
            location = f"line {line_number}"
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


def _html_folder_records(folder: Path, report: IngestReport) -> Iterator[_Record]:
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".html", ".htm") and p.is_file()):
        report.n_records += 1
        relative = path.relative_to(folder).as_posix()
        try:
            html = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as e:
            report.issues.append(IngestIssue(str(path), "file", f"cannot read: {e}"))
            continue
        yield _Record(source=str(path), location="file", url=_canonical_url(html) or f"local://{folder.name}/{relative}",
                      html=html)


def _canonical_url(html: str) -> str:
    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
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
            if record.rec_type != "response":
                continue
            report.n_records += 1
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            try:
                content_type = (record.http_headers.get_header("Content-Type") or "") if record.http_headers else ""
                body = record.content_stream().read()
                error = None
            except Exception as e:  # warcio raises plain Exceptions on broken chunking / compression
                error = e
            location = f"offset {records.get_record_offset()}"  # (reading the offset consumes the record)
            if error is not None:
                report.issues.append(IngestIssue(str(path), location, f"unreadable payload: {type(error).__name__}: {error}"))
                continue
            if content_type and "html" not in content_type.lower():
                report.n_not_html += 1
                continue
            status = record.http_headers.get_statuscode() if record.http_headers else "200"
            if not str(status).startswith("2"):
                report.issues.append(IngestIssue(str(path), location, f"HTTP status {status}, not a page"))
                continue
            yield _Record(source=str(path), location=location, url=url, html=body.decode("utf-8", errors="replace"),
                          crawl_date=(record.rec_headers.get_header("WARC-Date") or "")[:10])
