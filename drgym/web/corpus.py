"""A corpus of web pages stored as one Arrow IPC file, opened memory-mapped so many processes share it.

On disk a corpus is a folder::

    corpus.json    name, format version, page and paragraph counts
    pages.arrow    one row per page: url, domain, title, published, tier, paragraphs, outlinks, html
    urls.npy       sorted 64-bit url hashes, and rows.npy the page row of each: url lookup without a dict
    images/        image files, when the corpus has them: ``<16 hex digits of the url hash>.png``
"""

from __future__ import annotations

import array
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drgym.errors import CorpusError
from drgym.web.memory import return_freed_memory

__all__ = ["Corpus", "Page", "PageImage", "image_file_name", "url_hash"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
_IMAGE = pa.struct([("url", pa.string()), ("alt", pa.string()), ("caption", pa.string())])
_SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("domain", pa.string()),
        ("title", pa.string()),
        ("published", pa.string()),
        ("tier", pa.int8()),
        ("paragraphs", pa.list_(pa.string())),
        ("outlinks", pa.list_(pa.string())),
        ("html", pa.string()),
        ("images", pa.list_(_IMAGE)),
    ]
)
_BATCH_ROWS = 2048
"""Pages per record batch of pages.arrow. Writing a batch takes Arrow's pool ~4 KiB a page (the pages' html and
paragraphs, and the batch put together from its pieces): batches of 8,192 pages peaked ~18 MiB higher in a world's
build than batches of 2,048, at any page count; reading rows is as fast."""
_PIECE_ROWS = 1024


@dataclass(frozen=True)
class PageImage:
    """An image shown on a page."""

    url: str
    alt: str = ""
    caption: str = ""


@dataclass(frozen=True)
class Page:
    """One web page, already extracted to clean text paragraphs."""

    url: str
    """Absolute url; the page's identity in the corpus."""
    domain: str
    """Host name, e.g. ``stats.kelvara.gov``."""
    title: str
    published: str
    """ISO date ``YYYY-MM-DD``, or ``""`` when unknown."""
    tier: int
    """Authority tier: 1 primary/official, 2 reputable secondary, 3 low-trust (forums, content farms)."""
    paragraphs: tuple[str, ...]
    outlinks: tuple[str, ...] = ()
    html: str = field(default="", repr=False)
    """The source HTML when it was kept (ingested pages); procedural pages keep text only."""
    images: tuple[PageImage, ...] = ()

    def __post_init__(self) -> None:
        if self.tier not in (1, 2, 3):
            raise CorpusError(f"page {self.url!r}: tier must be 1, 2 or 3, got {self.tier!r}")

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def image_file_name(url: str) -> str:
    """File name of an image's bytes in the corpus's ``images/`` folder."""
    return f"{url_hash(url):016x}.png"


def url_hash(url: str) -> int:
    """Stable 63-bit hash of a url (blake2b), the key of the on-disk url lookup."""
    return int.from_bytes(hashlib.blake2b(url.encode("utf-8"), digest_size=8).digest(), "little") >> 1


class Corpus:
    """Pages backed by an Arrow table; `Corpus.load` maps the file into memory instead of reading it.

    Example:
        >>> corpus = Corpus.from_pages([Page("https://a.example/x", "a.example", "X", "", 2, ("Hello.",))])
        >>> corpus.page("https://a.example/x").paragraphs
        ('Hello.',)
    """

    def __init__(self, table: pa.Table, *, name: str = "corpus", path: Path | None = None,
                 url_hashes: np.ndarray | None = None, url_rows: np.ndarray | None = None) -> None:
        self.table = table
        self.name = name
        self.path = path
        if url_hashes is None or url_rows is None:
            url_hashes, url_rows = _url_lookup(table.column("url").to_pylist())
        self._url_hashes = url_hashes
        self._url_rows = url_rows
        self._columns: dict[str, pa.ChunkedArray] = {}
        self._images: dict[str, tuple[PageImage, str]] | None = None

    # -- construction ---------------------------------------------------------------------------------

    @classmethod
    def from_pages(cls, pages: Iterable[Page], *, name: str = "corpus") -> Corpus:
        """Builds an in-memory corpus; a url seen twice is an error (urls are page identities)."""
        batches = list(_record_batches(pages))
        table = pa.Table.from_batches(batches, schema=_SCHEMA)
        urls = table.column("url").to_pylist()
        if len(set(urls)) != len(urls):
            seen: set[str] = set()
            duplicate = next(u for u in urls if u in seen or seen.add(u))
            raise CorpusError(f"duplicate page url {duplicate!r}: every page needs its own url")
        return cls(table, name=name)

    @classmethod
    def load(cls, path: str | Path) -> Corpus:
        """Opens a saved corpus memory-mapped (no copy: processes that load the same folder share pages)."""
        path = Path(path)
        meta_path = path / "corpus.json"
        if not meta_path.is_file():
            raise CorpusError(f"{path} is not a drgym corpus: {meta_path.name} is missing "
                              "(build one with `drgym web ingest` or `drgym world build`)")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise CorpusError(f"{path}: corpus format {meta.get('format_version')} is not supported "
                              f"(this drgym reads format {FORMAT_VERSION}); rebuild it")
        try:
            source = pa.memory_map(str(path / "pages.arrow"), "r")
            table = pa.ipc.open_file(source).read_all()
            url_hashes = np.load(path / "urls.npy", mmap_mode="r")
            url_rows = np.load(path / "rows.npy", mmap_mode="r")
        except (OSError, pa.ArrowInvalid, ValueError) as e:
            raise CorpusError(f"{path}: cannot read corpus files ({e}); rebuild it") from e
        return cls(table, name=meta.get("name", path.name), path=path, url_hashes=url_hashes, url_rows=url_rows)

    def save(self, path: str | Path) -> Path:
        """Writes the corpus folder; the bytes depend only on the pages (no timestamps), so builds diff cleanly."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(path / "pages.arrow"), "wb") as sink, pa.ipc.new_file(sink, _SCHEMA) as writer:
            for batch in self.table.to_batches(max_chunksize=_BATCH_ROWS):
                writer.write_batch(batch)
        np.save(path / "urls.npy", np.asarray(self._url_hashes))
        np.save(path / "rows.npy", np.asarray(self._url_rows))
        meta = {"format_version": FORMAT_VERSION, "name": self.name, "n_pages": len(self),
                "n_paragraphs": self.n_paragraphs}
        (path / "corpus.json").write_text(json.dumps(meta, indent=2) + "\n")
        self.path = path
        return path

    @classmethod
    def write(cls, path: str | Path, pages: Iterable[Page], *, name: str = "corpus") -> Corpus:
        """Writes pages into a corpus folder as they come, then opens it memory-mapped.

        Only one record batch of pages (2,048) and 8 bytes per page (the url hash) are held, whatever the page
        count: a generator of millions of pages fits in memory (Arrow's pool gives each batch's memory back once it
        is written, rather than keeping it beside the next). The folder has the same bytes as
        ``Corpus.from_pages(pages, name=name).save(path)``; a url seen twice is an error (and nothing is left).

        Example:
            >>> import tempfile
            >>> folder = tempfile.mkdtemp()
            >>> pages = (Page(f"https://a.example/{i}", "a.example", f"Page {i}", "", 2, ("Hello.",)) for i in range(3))
            >>> len(Corpus.write(folder, pages))
            3
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        hashes = array.array("q")
        n_paragraphs = 0

        def counted(pages: Iterable[Page]) -> Iterator[Page]:
            nonlocal n_paragraphs
            for page in pages:
                hashes.append(url_hash(page.url))
                n_paragraphs += len(page.paragraphs)
                yield page

        written = [path / "pages.arrow"]
        try:
            with pa.OSFile(str(written[0]), "wb") as sink, pa.ipc.new_file(sink, _SCHEMA) as writer:
                for batch in _streamed_batches(counted(pages)):
                    writer.write_batch(batch)
                    del batch
                    # Arrow's pool would keep each written batch's memory, and take more for the next beside it
                    return_freed_memory()
            url_hashes = np.frombuffer(hashes, dtype=np.int64) if hashes else np.empty(0, dtype=np.int64)
            order = np.argsort(url_hashes, kind="stable")
            url_hashes, url_rows = url_hashes[order], order.astype(np.int64)
            duplicate = _first_duplicate(written[0], url_hashes, url_rows)
            if duplicate is not None:
                raise CorpusError(f"duplicate page url {duplicate!r}: every page needs its own url")
            written += [path / "urls.npy", path / "rows.npy", path / "corpus.json"]
            np.save(written[1], url_hashes)
            np.save(written[2], url_rows)
            meta = {"format_version": FORMAT_VERSION, "name": name, "n_pages": len(url_rows),
                    "n_paragraphs": n_paragraphs}
            written[3].write_text(json.dumps(meta, indent=2) + "\n")
        except BaseException:
            for file in written:
                file.unlink(missing_ok=True)
            raise
        return cls.load(path)

    # -- access ---------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.table.num_rows

    def __contains__(self, url: str) -> bool:
        return self.row_of(url) is not None

    @property
    def n_paragraphs(self) -> int:
        return int(pc.sum(pc.list_value_length(self.column("paragraphs"))).as_py() or 0)

    def open_columns(self) -> None:
        """Takes every column's handle now rather than at its first use: a process that forks workers shares them."""
        for name in self.table.column_names:
            self.column(name)

    def column(self, name: str) -> pa.ChunkedArray:
        if name not in self._columns:
            self._columns[name] = self.table.column(name)
        return self._columns[name]

    def row_of(self, url: str) -> int | None:
        """The table row of `url`, or None; a binary search over the sorted url hashes."""
        key = url_hash(url)
        at = int(np.searchsorted(self._url_hashes, key))
        while at < len(self._url_hashes) and int(self._url_hashes[at]) == key:
            row = int(self._url_rows[at])
            if self.column("url")[row].as_py() == url:
                return row
            at += 1
        return None

    def page(self, url: str) -> Page:
        """The page at `url`; raises CorpusError when there is none (`get` returns None instead)."""
        row = self.row_of(url)
        if row is None:
            raise CorpusError(f"no page at {url!r} in corpus {self.name!r}")
        return self.page_at(row)

    def get(self, url: str) -> Page | None:
        row = self.row_of(url)
        return None if row is None else self.page_at(row)

    def fetch(self, url: str) -> Page | None:
        """The page an agent asks for: on an offline corpus, `get` (the `drgym.web.protocol.WebCorpus` interface)."""
        return self.get(url)

    def page_at(self, row: int) -> Page:
        return _page({name: self.column(name)[row].as_py() for name in _SCHEMA.names})

    def find_image(self, url: str) -> tuple[PageImage, str] | None:
        """The image at `url` with the url of a page that shows it, or None."""
        if self._images is None:
            has_images = pc.greater(pc.list_value_length(self.column("images")), 0)
            shown = self.table.filter(pc.fill_null(has_images, False)).select(["url", "images"]).to_pylist()
            self._images = {image["url"]: (PageImage(**image), row["url"]) for row in shown for image in row["images"]}
        return self._images.get(url)

    def image_bytes(self, url: str) -> bytes | None:
        """The image's file from the corpus's ``images/`` folder, or None when the corpus has no copy."""
        if self.path is None:
            return None
        file = self.path / "images" / image_file_name(url)
        return file.read_bytes() if file.is_file() else None

    def paragraph(self, row: int, index: int) -> str:
        return self.column("paragraphs")[row][index].as_py()

    def __iter__(self) -> Iterator[Page]:
        for batch in self.table.to_batches():
            for values in batch.to_pylist():
                yield _page(values)


def _page(values: dict) -> Page:
    return Page(url=values["url"], domain=values["domain"], title=values["title"], published=values["published"],
                tier=int(values["tier"]), paragraphs=tuple(values["paragraphs"]), outlinks=tuple(values["outlinks"]),
                html=values["html"] or "", images=tuple(PageImage(**image) for image in values["images"] or ()))


def _streamed_batches(pages: Iterable[Page]) -> Iterator[pa.RecordBatch]:
    """The non-empty batches `save` writes for these pages (`_BATCH_ROWS` rows each), each put together from
    `_PIECE_ROWS`-row pieces: Python holds the fields of one piece of pages at a time, Arrow the rest compactly."""
    pieces: list[pa.RecordBatch] = []
    for piece in _record_batches(pages, rows=_PIECE_ROWS):
        if piece.num_rows:
            pieces.append(piece)
        if len(pieces) == _BATCH_ROWS // _PIECE_ROWS:
            yield pa.concat_batches(pieces)
            pieces = []
    if pieces:
        yield pa.concat_batches(pieces)


def _record_batches(pages: Iterable[Page], *, rows: int = _BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    columns: dict[str, list] = {name: [] for name in _SCHEMA.names}
    for page in pages:
        columns["url"].append(page.url)
        columns["domain"].append(page.domain)
        columns["title"].append(page.title)
        columns["published"].append(page.published)
        columns["tier"].append(page.tier)
        columns["paragraphs"].append(list(page.paragraphs))
        columns["outlinks"].append(list(page.outlinks))
        columns["html"].append(page.html or None)
        columns["images"].append([{"url": i.url, "alt": i.alt, "caption": i.caption} for i in page.images])
        if len(columns["url"]) >= rows:
            yield pa.RecordBatch.from_pydict(columns, schema=_SCHEMA)
            columns = {name: [] for name in _SCHEMA.names}
    yield pa.RecordBatch.from_pydict(columns, schema=_SCHEMA)  # the last rows; an empty corpus keeps its schema


def _first_duplicate(pages_file: Path, url_hashes: np.ndarray, url_rows: np.ndarray) -> str | None:
    """The first url (in page order) that an earlier page already has, from the sorted url hashes: only pages
    whose hashes collide are read back."""
    colliding = np.flatnonzero(url_hashes[1:] == url_hashes[:-1])
    if not len(colliding):
        return None
    rows = np.unique(np.concatenate([url_rows[colliding], url_rows[colliding + 1]]))
    with pa.memory_map(str(pages_file), "r") as source:
        urls = pa.ipc.open_file(source).read_all().column("url").take(pa.array(rows)).to_pylist()
    seen: set[str] = set()
    return next((url for url in urls if url in seen or seen.add(url)), None)


def _url_lookup(urls: list[str]) -> tuple[np.ndarray, np.ndarray]:
    hashes = np.fromiter((url_hash(u) for u in urls), dtype=np.int64, count=len(urls))
    order = np.argsort(hashes, kind="stable")
    return hashes[order], order.astype(np.int64)
