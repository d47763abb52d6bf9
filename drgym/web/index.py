"""Paragraph search over a `Corpus`: BM25 with tantivy, optional MiniLM vectors fused by reciprocal rank,
and an authority prior that decides between comparably relevant results.

Ranking, documented and tunable through `RankingConfig`:

1. Candidates: the top ``candidates`` paragraphs by BM25 (``mode="bm25"``), or the top ``candidates`` of
   BM25 and of dense cosine similarity fused by reciprocal rank, ``Σ 1 / (rrf_k + rank)`` (``mode="hybrid"``).
2. Relevance: each candidate's BM25 score divided by the best candidate's, so the best is 1.0; fused
   (hybrid) scores are min-max scaled to [0, 1], since reciprocal ranks differ little from one rank to the next.
3. Final score: ``relevance + authority_weight * tier_prior[tier]``. With the defaults (0.1; priors 1.0,
   0.5, 0.0 for tiers 1, 2, 3) a tier-1 paragraph outranks a tier-3 one whose relevance is less than 10 %
   higher, and never one that is clearly more relevant: the seed's "authority-aware ranking when
   semantic relevance is comparable".

Only as many BM25 candidates are read as the re-rank needs: the top ``3k`` first, and all ``candidates`` only
when the prior could still lift an unread one into the top ``k``. An unread candidate has relevance at most the
last read one's, so its final score is at most that plus the largest ``authority_weight * tier_prior``; when the
``k``-th final score read so far is above that bound, the top ``k`` is the one all ``candidates`` would give.

Identifiers are words: ``lru_cache``, ``functools.lru_cache``, ``IM_A_TEAPOT`` and ``HTTPServer`` are indexed as
the words the tokenizer sees (``lru``, ``cache``; ``httpserver``) plus the terms it cannot make: the joined parts
(``lrucache``, ``functoolslrucache``) and CamelCase parts (``http``, ``server``). A query expands its identifiers
the same way, so ``lru_cache`` finds ``functools.lru_cache`` and ``LruCache``, and ``HttpServer`` finds
``http_server``.

On disk (``<corpus>/index`` by default): ``tantivy/`` (memory-mapped by tantivy, shared between processes),
``para_row.npy`` and ``para_idx.npy`` (paragraph id → page row and paragraph number), ``dense.npy`` when
built with vectors, and ``index.json`` (format, counts, and ``segment_starts``: the first paragraph id of each
segment, whose document ids were checked to be the paragraph ids less that, so a search needs no fast-field read to
name its hits; ``doc_is_pid`` when that is one segment starting at 0). An index of over `_PART_PARAGRAPHS`
paragraphs has a segment per part of at most that many, in paragraph order, so that its build's memory does not grow
with it; which paragraphs of a BM25 tie at the candidate cut are read then depends on tantivy's merge of the
segments' tops (the same on every build of a corpus; see `SearchIndex._bm25`).
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tantivy
from tqdm.auto import tqdm

from drgym.errors import ConfigError, SearchIndexError
from drgym.web.corpus import Corpus
from drgym.web.dense import DIMENSIONS, DenseEncoder
from drgym.web.memory import fix_malloc_thresholds, return_freed_memory

__all__ = ["RankingConfig", "SearchHit", "SearchIndex"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 4  # 4: identifier terms (joined and CamelCase parts) indexed beside the words
_TOKEN = re.compile(r"\w+(?:\.(?=[^\W\d])\w+)*")
"""A word, or words joined by dots (``functools.lru_cache``; not ``3.5``)."""
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_JOINERS = re.compile(r"[._]+")
_MAY_HOLD_IDENTIFIER = r"_|[a-z][A-Z]|[A-Z][A-Z][a-z]|[\pL\pN_]\.[\pL\p{Nl}\p{No}_]"
"""RE2 (Arrow) pattern matching every text in which `_identifier_terms` finds something, and little else."""
_PAGE_COLUMNS = ("url", "title", "domain", "published")
_ENGINE_ATTRIBUTES = frozenset({"_index", "_searcher", "_segment_starts"})
"""What `SearchIndex.open_engine` sets."""
_EMBED_CHUNK_PAGES = 1024
"""Pages whose paragraphs are embedded together (sorted by length among themselves)."""


@dataclass(frozen=True)
class RankingConfig:
    """How candidates are ranked; see the module docstring for the formula."""

    authority_weight: float = 0.1
    """Weight of the tier prior against relevance in [0, 1]; 0 turns authority off."""
    tier_prior: tuple[float, float, float] = (1.0, 0.5, 0.0)
    """Prior of tiers 1, 2 and 3."""
    candidates: int = 50
    """Paragraphs taken from each retriever before re-ranking."""
    rrf_k: int = 60
    """Reciprocal-rank-fusion constant (Cormack et al. 2009 use 60)."""


@dataclass(frozen=True)
class SearchHit:
    """One ranked paragraph with its page's metadata."""

    url: str
    title: str
    domain: str
    tier: int
    published: str
    paragraph_index: int
    text: str
    score: float
    """Final score: relevance plus the authority prior."""
    relevance: float
    """Relevance alone, in [0, 1]."""


_new_object, _set_attribute = object.__new__, object.__setattr__


def _search_hit(fields: dict) -> SearchHit:
    """``SearchHit(**fields)`` for every field, in a fifth of the time: a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__`` (1.5 µs a hit, 15 % of a search's own cost); the instance is the same."""
    hit = _new_object(SearchHit)
    _set_attribute(hit, "__dict__", fields)
    return hit


class SearchIndex:
    """Search over paragraphs of a corpus.

    Example:
        >>> from drgym.web.corpus import Corpus, Page
        >>> corpus = Corpus.from_pages([
        ...     Page("https://stats.example.gov/a", "stats.example.gov", "A", "2024-01-01", 1,
        ...          ("Kelvara has 120,000 inhabitants.",)),
        ...     Page("https://forum.example/t/1", "forum.example", "T", "2024-01-02", 3,
        ...          ("Kelvara has 150,000 inhabitants.",))])
        >>> index = SearchIndex.build(corpus, show_progress=False)
        >>> [hit.tier for hit in index.search("Kelvara inhabitants", k=2)]
        [1, 3]
    """

    def __init__(self, corpus: Corpus, tantivy_index: tantivy.Index | None, para_row: np.ndarray,
                 para_idx: np.ndarray, *, dense_vectors: np.ndarray | None = None, path: Path | None = None,
                 ranking: RankingConfig | None = None, segment_starts: list[int] | None = None) -> None:
        if tantivy_index is None and path is None:
            raise ValueError("SearchIndex needs a tantivy index, or the path of a saved one to open when first used")
        self.corpus = corpus
        self.path = path
        self.ranking = ranking or RankingConfig()
        self._built_with_segment_starts = segment_starts
        if tantivy_index is not None:
            self._use_engine(tantivy_index)
        self._para_row = np.asarray(para_row)
        self._para_idx = np.asarray(para_idx)
        self._dense_vectors = dense_vectors
        self._encoder = None
        self._tier_by_row = _int8_column(corpus.column("tier"))
        # the search path reads a few values at a time: memoryviews give Python ints without numpy scalars
        self._row_of_pid = memoryview(self._para_row)
        self._number_of_pid = memoryview(self._para_idx)
        self._tier_of_row = memoryview(self._tier_by_row)
        self._domain_by_row: np.ndarray | None = None
        self._date_by_row: np.ndarray | None = None
        self._pages = _PageColumns(corpus.table)
        self._boost_of: tuple[RankingConfig, list[float]] | None = None

    def _use_engine(self, tantivy_index: tantivy.Index) -> None:
        self._index = tantivy_index
        self._searcher = tantivy_index.searcher()
        # segments whose document ids were checked at build to be their paragraph ids less the segment's first: no
        # fast-field read per search
        starts = self._built_with_segment_starts
        self._segment_starts = starts if starts is not None and len(starts) == self._searcher.num_segments else None

    def open_engine(self) -> None:
        """Opens the tantivy reader of an index loaded with ``open_engine=False``; nothing if it is open.

        Raises:
            SearchIndexError: the index files cannot be opened.
        """
        if "_searcher" in self.__dict__:
            return
        try:
            engine = tantivy.Index.open(str(self.path / "tantivy"))
        except (ValueError, OSError) as e:
            raise SearchIndexError(f"{self.path}: the tantivy index cannot be opened ({e}); rebuild it with "
                                   "`drgym web index`") from None
        self._use_engine(engine)

    def __getattr__(self, name: str) -> Any:
        # called only for attributes not set yet: the engine's, on the first search of an index loaded without it
        if name in _ENGINE_ATTRIBUTES and "_built_with_segment_starts" in self.__dict__:
            self.open_engine()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def has_dense(self) -> bool:
        return self._dense_vectors is not None

    def __len__(self) -> int:
        return len(self._para_row)

    # -- build and load -------------------------------------------------------------------------------

    @classmethod
    def build(cls, corpus: Corpus, path: str | Path | None = None, *, dense: bool = False,
              dense_backend: Literal["auto", "onnx", "torch"] = "auto", dense_threads: int | None = None,
              num_threads: int = 1, heap_size_mb: int = 256, show_progress: bool = True,
              ranking: RankingConfig | None = None) -> SearchIndex:
        """Indexes every paragraph of `corpus`.

        Args:
            corpus: the pages.
            path: where to write the index; default ``<corpus folder>/index`` for a saved corpus, and
                memory only for an in-memory one.
            dense: also embed every paragraph with MiniLM (`drgym.web.dense`), written to ``dense.npy`` as it goes.
            dense_backend: the encoder's back-end, ``"auto"`` (onnxruntime when installed), ``"onnx"`` or
                ``"torch"``; their vectors agree to a cosine of 0.9999, so an index built with one is searched with
                the other.
            dense_threads: the encoder's CPU threads; default every core of this process.
            num_threads: tantivy writer threads. One (the default) writes the paragraphs in corpus order, in
                segments of at most 80,000 that tantivy merges into one in paragraph order (memory holds one
                segment's postings, not the index's; in a saved index, one segment per part of at most
                `_PART_PARAGRAPHS`), so paragraphs of equal score are cut at the candidate limit the same way on
                every build; with more, the threads race for documents, the segments differ between builds, and so
                do some searches (measured: 29 of 1,000 scripted episodes in a 3,000-page world saw other results
                after a rebuild with 2 threads). One thread indexed that world's 15,681 paragraphs as fast as two
                (0.15 s); 580k paragraphs in 3.4 s against 2.8 s with two.
            heap_size_mb: the most memory the writer may take before it writes a segment of its own accord (one of
                80,000 paragraphs takes ~10 MiB).
            show_progress: a progress bar over pages.

        When a part has over 80,000 paragraphs (several segments) this fixes glibc's mmap and trim thresholds for the
        rest of the process, unless it was started with its own (`drgym.web.memory.fix_malloc_thresholds`).
        """
        if path is None and corpus.path is not None:
            path = corpus.path / "index"
        path = Path(path) if path is not None else None
        if path is not None:
            if path.exists():
                shutil.rmtree(path)
            (path / "tantivy").mkdir(parents=True)
        n_paragraphs = corpus.n_paragraphs
        progress = tqdm(total=len(corpus), desc="index pages", unit="page", disable=not show_progress)
        places = _ParagraphPlaces(path, n_paragraphs)
        documents = _documents(corpus, places, progress)
        # a saved index is written in parts of at most _PART_PARAGRAPHS, a segment each, joined into one index; in
        # memory, one part
        part_ends = _part_ends(n_paragraphs) if path is not None else [n_paragraphs]
        if any(_segment_count(end - start) > 1 for start, end in zip([0, *part_ends], part_ends)):
            # each commit frees large blocks, which would raise glibc's dynamic mmap threshold and leave the next
            # segments' blocks in heaps kept by tantivy's threads: 200k pages peaked ~10 MiB higher
            fix_malloc_thresholds()
        if len(part_ends) == 1:
            index = _write_part(documents, n_paragraphs, path / "tantivy" if path is not None else None,
                                heap_size_mb, num_threads)
            index.reload()
        else:  # several parts: a saved index
            assert path is not None
            parts = path / "parts"
            start = 0
            for number, end in enumerate(part_ends):
                _write_part(documents, end - start, parts / str(number), heap_size_mb, num_threads)
                start = end
            _join_parts([parts / str(number) for number in range(len(part_ends))], path / "tantivy")
            shutil.rmtree(parts)
            index = tantivy.Index.open(str(path / "tantivy"))
        if next(documents, None) is not None:  # and the pages after the last paragraph are read (the progress bar)
            raise SearchIndexError(f"the corpus counts {n_paragraphs} paragraphs but its pages hold more: rebuild it")
        progress.close()
        segment_starts = _segment_starts(index.searcher(), [0, *part_ends[:-1]], n_paragraphs)
        para_row, para_idx = places.finish()
        encoder = DenseEncoder(backend=dense_backend, num_threads=dense_threads) if dense else None
        vectors = _embed_paragraphs(corpus, n_paragraphs, path, encoder, show_progress) if encoder else None
        if path is not None:
            meta = {"format_version": FORMAT_VERSION, "n_pages": len(corpus), "n_paragraphs": n_paragraphs,
                    "dense": vectors is not None, "doc_is_pid": segment_starts == [0],
                    "segment_starts": segment_starts}
            (path / "index.json").write_text(json.dumps(meta, indent=2) + "\n")
        return cls(corpus, index, para_row, para_idx, dense_vectors=vectors, path=path, ranking=ranking,
                   segment_starts=segment_starts)

    @classmethod
    def load(cls, path: str | Path, corpus: Corpus | None = None, *,
             ranking: RankingConfig | None = None, open_engine: bool = True) -> SearchIndex:
        """Opens a saved index memory-mapped; `corpus` defaults to the corpus folder around ``path``.

        With ``open_engine=False`` the tantivy reader, which runs a thread, is opened on the first search (or by
        `open_engine`): a process that forks workers loads the rest, which they then share (see
        `drgym.envs.research_env.share_tasks_and_web`).
        """
        path = Path(path)
        meta_path = path / "index.json"
        if not meta_path.is_file():
            raise SearchIndexError(f"no search index at {path} ({meta_path.name} is missing); "
                                   "build one with `drgym web index CORPUS`")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise SearchIndexError(f"{path}: index format {meta.get('format_version')} is not supported; "
                                   "rebuild it with `drgym web index`")
        corpus = corpus if corpus is not None else Corpus.load(path.parent)
        if (meta["n_pages"], meta["n_paragraphs"]) != (len(corpus), corpus.n_paragraphs):
            raise SearchIndexError(
                f"{path} is stale: it indexes {meta['n_pages']} pages / {meta['n_paragraphs']} paragraphs but the "
                f"corpus has {len(corpus)} / {corpus.n_paragraphs}; rebuild it with `drgym web index`")
        if not (path / "tantivy" / "meta.json").is_file():
            raise SearchIndexError(f"{path}: the tantivy index is missing (no tantivy/meta.json); rebuild it with "
                                   "`drgym web index`")
        vectors = np.load(path / "dense.npy", mmap_mode="r") if meta.get("dense") else None
        index = cls(corpus, None, np.load(path / "para_row.npy", mmap_mode="r"),
                    np.load(path / "para_idx.npy", mmap_mode="r"), dense_vectors=vectors, path=path,
                    ranking=ranking, segment_starts=_saved_segment_starts(meta))
        if open_engine:
            index.open_engine()
        return index

    # -- episodes (the drgym.web.protocol.Web interface) ----------------------------------------------------

    def start_episode(self, name: str) -> None:
        """An episode begins: an offline index keeps no per-episode state (the live web opens a cassette)."""

    def finish_episode(self) -> None:
        """An episode ends: nothing to close offline."""

    # -- search ---------------------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, *, mode: Literal["bm25", "hybrid"] = "bm25",
               domains: list[str] | None = None, tiers: list[int] | None = None,
               published_after: str | None = None, published_before: str | None = None) -> list[SearchHit]:
        """The `k` best paragraphs for `query`.

        Args:
            query: free text; query-language operators are not interpreted (words only).
            k: number of hits.
            mode: ``"bm25"``, or ``"hybrid"`` (BM25 + MiniLM, needs an index built with ``dense=True``).
            domains: keep only these hosts.
            tiers: keep only these authority tiers.
            published_after: ISO date, inclusive.
            published_before: ISO date, inclusive.
        """
        if mode not in ("bm25", "hybrid"):
            raise ConfigError(f"search mode must be 'bm25' or 'hybrid', got {mode!r}")
        if mode == "hybrid" and not self.has_dense:
            raise ConfigError("hybrid search needs dense vectors: rebuild the index with dense=True "
                              "(`drgym web index --dense`)")
        if k <= 0:
            return []
        n_candidates = max(self.ranking.candidates, k)
        words = _query_words(query)
        text_query = self._text_query(words, domains, tiers, published_after, published_before) if words else None
        if mode == "bm25":
            return self._bm25_search(text_query, k, n_candidates) if text_query is not None else []
        bm25_pids = self._bm25(text_query, n_candidates)[0] if text_query is not None else []
        dense = self._dense(self._query_vector(query), n_candidates, domains, tiers, published_after,
                            published_before)
        tier_by_pid = {pid: self._tier_of_row[self._row_of_pid[pid]] for pid in (*bm25_pids, *(p for p, _ in dense))}
        ranked = fuse_ranks(bm25_pids, [pid for pid, _ in dense], tier_by_pid, self._tier_boost(),
                            rrf_k=self.ranking.rrf_k, k=k)
        return self._hits(*ranked)

    def _bm25_search(self, text_query: tantivy.Query, k: int, n_candidates: int) -> list[SearchHit]:
        """The top `k` of the top `n_candidates` BM25 paragraphs re-ranked, reading only the candidates it needs.

        Plain Python over at most `n_candidates` values: for a few dozen numbers it is faster than numpy's calls.
        """
        boost = self._tier_boost()
        largest_boost = max(boost[1:])
        row_of_pid, tier_of_row = self._row_of_pid, self._tier_of_row
        # 3k: at 100k pages the second search is needed for 2 % of queries (10 % after 2k), and 30 candidates cost
        # the engine ~1 % more than 20 (perf_search: p50 3 % lower than with 2k, 2 % higher at 30k pages)
        limit = min(n_candidates, 3 * k)
        while True:
            pids, scores = self._bm25(text_query, limit)
            if not pids:
                return []
            ranked, least_relevance = rerank_bm25(pids, scores, [tier_of_row[row_of_pid[pid]] for pid in pids], boost,
                                                  k=k)
            # done when every candidate was read, or no unread one can reach the k-th: its relevance is at most
            # the lowest read, its boost at most the largest (rounding is monotonic: the bound holds in floats)
            if limit >= n_candidates or len(pids) < limit or ranked[1][-1] > least_relevance + largest_boost:
                return self._hits(*ranked)
            limit = n_candidates

    def _tier_boost(self) -> list[float]:
        """``authority_weight * tier_prior`` indexed by tier (index 0 unused), for the current `ranking`."""
        if self._boost_of is None or self._boost_of[0] is not self.ranking:
            weight = self.ranking.authority_weight
            self._boost_of = (self.ranking, [0.0, *(weight * float(prior) for prior in self.ranking.tier_prior)])
        return self._boost_of[1]

    def _text_query(self, words: list[str], domains, tiers, after, before) -> tantivy.Query:
        text_query, _errors = self._index.parse_query_lenient(" ".join(words), ["text"])
        return self._filtered(text_query, domains, tiers, after, before)

    def _filtered(self, text_query: tantivy.Query, domains, tiers, after, before) -> tantivy.Query:
        """`text_query` with the filters as required clauses that add nothing to the score.

        tantivy scores a filter clause 1.0, or 0.0 for a date range that covers every date of the segment: added to
        BM25 it compressed relevance (``(s + 1) / (top + 1)``), so that a filtered search ranked by authority more
        than an unfiltered one, and by an amount that depended on the data."""
        if not (domains or tiers or after or before):
            return text_query
        filters = []
        schema = self._index.schema
        if domains:
            filters.append(tantivy.Query.term_set_query(schema, "domain", list(domains)))
        if tiers:
            filters.append(tantivy.Query.term_set_query(schema, "tier", [int(t) for t in tiers]))
        if after or before:
            filters.append(tantivy.Query.range_query(schema, "date", tantivy.FieldType.Integer,
                                                     _date_number(after) if after else None,
                                                     _date_number(before) if before else None))
        clauses = [(tantivy.Occur.Must, text_query)]
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in filters]
        return text_query if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)

    def _bm25(self, query: tantivy.Query, limit: int) -> tuple[list[int], list[float]]:
        """Paragraph ids and BM25 scores of the top `limit` matches, best first, a tie in paragraph order.

        Which paragraphs of a tie at the cut make it is tantivy's choice: the first ones in an index of one segment; in
        one of several (`_PART_PARAGRAPHS`) those its merge of the segments' tops keeps, the same on every build of the
        corpus."""
        hits = self._searcher.search(query, limit, count=False).hits if limit > 0 else []
        return self._pids(hits), [score for score, _ in hits]

    def _pids(self, hits: list[tuple[float, tantivy.DocAddress]]) -> list[int]:
        """The paragraph ids of tantivy's hits."""
        starts = self._segment_starts
        if starts is None:
            return self._searcher.fast_field_values("pid", [address for _, address in hits]) if hits else []
        if len(starts) == 1:
            return [address.doc for _, address in hits]
        return [starts[address.segment_ord] + address.doc for _, address in hits]

    def _query_vector(self, query: str) -> np.ndarray:
        if self._encoder is None:  # the model itself is loaded once per process, whatever the number of indexes
            self._encoder = DenseEncoder()
        return self._encoder.encode_query(query)

    def _dense(self, vector: np.ndarray, limit: int, domains, tiers, after, before) -> list[tuple[int, float]]:
        similarity = np.asarray(self._dense_vectors) @ vector
        if domains or tiers or after or before:
            similarity = np.where(self._filter_mask(domains, tiers, after, before), similarity, -np.inf)
        top = np.argpartition(-similarity, min(limit, len(similarity) - 1))[:limit]
        top = top[np.argsort(-similarity[top], kind="stable")]
        return [(int(pid), float(similarity[pid])) for pid in top if np.isfinite(similarity[pid])]

    def _filter_mask(self, domains, tiers, after, before) -> np.ndarray:
        keep_rows = np.ones(len(self.corpus), dtype=bool)
        if domains:
            if self._domain_by_row is None:
                self._domain_by_row = np.asarray(self.corpus.column("domain").to_pylist(), dtype=object)
            keep_rows &= np.isin(self._domain_by_row, list(domains))
        if tiers:
            keep_rows &= np.isin(self._tier_by_row, list(tiers))
        if after or before:
            if self._date_by_row is None:
                self._date_by_row = np.array([_date_number(d) for d in self.corpus.column("published").to_pylist()])
            if after:
                keep_rows &= self._date_by_row >= _date_number(after)
            if before:
                keep_rows &= self._date_by_row <= _date_number(before)
        return keep_rows[np.asarray(self._para_row)]

    def _hits(self, pids: list[int], final: list[float], relevance: list[float]) -> list[SearchHit]:
        read, row_of_pid, number_of_pid, tier_of_row = (self._pages.read, self._row_of_pid, self._number_of_pid,
                                                         self._tier_of_row)
        hits = []
        for pid, score, rel in zip(pids, final, relevance):
            row, number = row_of_pid[pid], number_of_pid[pid]
            url, title, domain, published, text = read(row, number)
            hits.append(_search_hit({"url": url, "title": title, "domain": domain, "tier": tier_of_row[row],
                                     "published": published, "paragraph_index": number, "text": text,
                                     "score": score, "relevance": rel}))
        return hits


def rerank_bm25(pids: list[int], scores: list[float], tiers: list[int], boost: list[float], *,
                k: int) -> tuple[tuple[list[int], list[float], list[float]], float]:
    """The top `k` BM25 candidates after the authority prior: (paragraph ids, final scores, relevances), and the
    least relevance among the candidates. Plain Python: for a few dozen numbers it is faster than numpy's calls."""
    top = max(scores)
    relevance = [score / top for score in scores] if top > 0 else [1.0] * len(scores)
    # (-final, paragraph id) sorts best first, ties by paragraph id: deterministic; ids are unique
    ranked = sorted([(-(r + boost[tier]), pid, r) for r, pid, tier in zip(relevance, pids, tiers)])[:k]
    return ([pid for _, pid, _ in ranked], [-final for final, _, _ in ranked], [r for _, _, r in ranked]), min(relevance)


def fuse_ranks(bm25_pids: list[int], dense_pids: list[int], tier_by_pid: dict[int, int], boost: list[float], *,
               rrf_k: int, k: int) -> tuple[list[int], list[float], list[float]]:
    """Reciprocal-rank fusion of two ranked lists, then the authority prior: the top `k` (paragraph ids, final
    scores, relevances)."""
    fused: dict[int, float] = {}
    for ranked in (bm25_pids, dense_pids):
        for rank, pid in enumerate(ranked):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (rrf_k + rank + 1)
    if not fused:
        return [], [], []
    pids = np.fromiter(fused.keys(), dtype=np.int64, count=len(fused))
    scores = np.fromiter(fused.values(), dtype=np.float64, count=len(fused))
    # fused ranks are compressed (1/61 vs 1/62): spread them over [0, 1]
    spread = scores.max() - scores.min()
    relevance = (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
    tiers = np.fromiter((tier_by_pid[pid] for pid in fused), dtype=np.int64, count=len(fused))
    final = relevance + np.asarray(boost)[tiers]
    order = np.lexsort((pids, -final))[:k]  # ties broken by paragraph id: deterministic
    return pids[order].tolist(), final[order].tolist(), relevance[order].tolist()


def indexed_text(title: str | None, number: int, text: str | None) -> str:
    """A paragraph's text as the index holds it: the page title before the first paragraph, identifier terms after.

    The build adds identifier terms only where `_pids_to_expand` flags a paragraph; that flag is a superset of the
    paragraphs with identifiers, so adding them everywhere gives the same text."""
    return _with_identifier_terms(f"{title}\n{text}" if number == 0 else f"{text}")


class _PageColumns:
    """Reads url, title, domain, published and one paragraph of a page straight from the Arrow buffers.

    One Arrow scalar per value costs microseconds (and ``take`` on a memory-mapped table more); slicing the
    string buffers of the table's record batches costs a fraction of that and copies nothing but the result.
    """

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        batches = [b for b in table.select([*_PAGE_COLUMNS, "paragraphs"]).to_batches() if b.num_rows]
        self._row_starts = list(itertools.accumulate((b.num_rows for b in batches[:-1]), initial=0))
        self._batches = []
        for batch in batches:
            strings = [batch.column(name) for name in _PAGE_COLUMNS] + [batch.column("paragraphs").values]
            strings = [s if s.type == pa.string() else s.cast(pa.string()) for s in strings]
            has_nulls = any(s.null_count for s in strings)
            self._batches.append((*(_offsets(s) for s in strings), *(memoryview(s.buffers()[2] or b"") for s in strings),
                                  _offsets(batch.column("paragraphs")), has_nulls))

    def read(self, row: int, number: int) -> tuple[str | None, ...]:
        """Url, title, domain and published date of page `row`, and its paragraph `number`."""
        b = bisect.bisect_right(self._row_starts, row) - 1
        i = row - self._row_starts[b]
        uo, to, do, po, xo, ud, td, dd, pd, xd, paragraph_starts, has_nulls = self._batches[b]
        if has_nulls:  # rare (every Page field is a string): Arrow's own accessors tell null from empty
            page = self._table.slice(row, 1).select(list(_PAGE_COLUMNS) + ["paragraphs"]).to_pylist()[0]
            return (*(page[name] for name in _PAGE_COLUMNS), page["paragraphs"][number])
        j = paragraph_starts[i] + number
        return (str(ud[uo[i]:uo[i + 1]], "utf-8"), str(td[to[i]:to[i + 1]], "utf-8"),
                str(dd[do[i]:do[i + 1]], "utf-8"), str(pd[po[i]:po[i + 1]], "utf-8"), str(xd[xo[j]:xo[j + 1]], "utf-8"))


def _offsets(array: pa.Array) -> memoryview:
    """The value offsets of a string or list array, its own slice of them (a view: items are Python ints)."""
    return memoryview(array.buffers()[1]).cast("i")[array.offset:array.offset + len(array) + 1]


def _embed_paragraphs(corpus: Corpus, n_paragraphs: int, path: Path | None, encoder: DenseEncoder,
                      show_progress: bool) -> np.ndarray:
    """MiniLM vectors of every paragraph in paragraph-id order, encoded a chunk at a time (texts sorted by length
    within it) and written straight to ``dense.npy`` when the index has a folder: memory stays flat."""
    if path is not None:
        vectors = np.lib.format.open_memmap(path / "dense.npy", mode="w+", dtype=np.float32,
                                            shape=(n_paragraphs, DIMENSIONS))
    else:
        vectors = np.empty((n_paragraphs, DIMENSIONS), dtype=np.float32)
    done = 0
    with tqdm(total=n_paragraphs, desc="embed paragraphs", unit="para", disable=not show_progress) as progress:
        for batch in corpus.table.select(["paragraphs"]).to_batches(max_chunksize=_EMBED_CHUNK_PAGES):
            texts = [text or "" for text in pc.list_flatten(batch.column(0)).to_pylist()]
            if texts:
                vectors[done:done + len(texts)] = encoder.encode(texts)
            done += len(texts)
            progress.update(len(texts))
    if path is not None:
        vectors.flush()
        del vectors
        return np.load(path / "dense.npy", mmap_mode="r")
    return vectors


_SEGMENT_PARAGRAPHS = 80_000
"""Most paragraphs the writer holds before it commits them as a segment. Its memory (the indexing thread's heap) grows
with the segment: ~9 MiB at 80k paragraphs, ~33 MiB at 144k, which a 150,000 limit gave a 200k-page world (8
segments, against 64 of 18k now: the index phase's peak 11 MiB lower, its time ~20 % more, 5-7 % of the build's).
At least 80,000: with up to 64 segments a segment then has more than the 10,000 documents under which the merge policy
ranks all segments as one size."""
_PART_PARAGRAPHS = 1 << 18
"""Most paragraphs in one segment of a saved index. A larger index is written in parts of at most this many, each
merged into one segment in a folder of its own, and the parts' segments are then listed in one index in paragraph
order (`_join_parts`). tantivy's merge into one segment holds ~19 bytes a paragraph (each document's new address and
each segment's old-to-new ids) and maps every segment it reads: one segment of 1.16 million paragraphs (200k pages)
raised the index phase's peak by 32 MiB anonymous and 29 MiB of mapped files, against 18 and 2 for 10k pages."""
_MERGE_FACTOR = 8
"""How many segments of one size tantivy's default merge policy (`LogMergePolicy`) merges into one."""
_READ_ROWS = 1024
"""Pages read into Python at a time."""


def _part_ends(n_paragraphs: int) -> list[int]:
    """Where each part of a saved index ends (`_PART_PARAGRAPHS`): parts of equal size, the fewest that keep each within
    the limit."""
    n_parts = max(1, -(-n_paragraphs // _PART_PARAGRAPHS))
    return [n_paragraphs * number // n_parts for number in range(1, n_parts + 1)]


def _segment_count(n_paragraphs: int) -> int:
    """How many segments of equal size the writer commits: the least power of `_MERGE_FACTOR` that keeps each within
    `_SEGMENT_PARAGRAPHS`, so that merges of `_MERGE_FACTOR` segments end in one (8 merges of 8, then one of the 8
    results). One segment up to 76.8 million paragraphs: the policy leaves segments of over 10 million alone."""
    n_segments = 1
    while n_paragraphs > _SEGMENT_PARAGRAPHS * n_segments:
        n_segments *= _MERGE_FACTOR
    return n_segments


def _read_batches(corpus: Corpus, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """These columns of every page, `_READ_ROWS` pages at a time. A saved corpus is read from its file rather than
    its memory map: each page of a map that is read stays in the process's resident memory until it is unmapped (the
    whole corpus, 131 MiB at 200k pages), a page read from the file only in the page cache."""
    if corpus.path is None:
        yield from corpus.table.select(columns).to_batches(max_chunksize=_READ_ROWS)
        return
    names = corpus.table.schema.names
    options = pa.ipc.IpcReadOptions(included_fields=[names.index(column) for column in columns])
    with pa.OSFile(str(corpus.path / "pages.arrow")) as source:
        reader = pa.ipc.open_file(source, options=options)
        for number in range(reader.num_record_batches):
            batch = reader.get_batch(number).select(columns)
            for start in range(0, batch.num_rows, _READ_ROWS):
                yield batch.slice(start, _READ_ROWS)
            del batch
            return_freed_memory()  # Arrow's pool would keep the batch's memory beside the next one's


class _ParagraphPlaces:
    """The page row and the paragraph number of each paragraph id (``para_row.npy``, ``para_idx.npy``), from each batch
    of pages' paragraph counts as the pages are read: written to the index folder batch by batch (4 bytes a paragraph
    each, 23 MiB together at 2.9M paragraphs, that memory would hold to the end of the index phase), or kept in memory
    for an index without a folder."""

    def __init__(self, folder: Path | None, n_paragraphs: int) -> None:
        self._folder, self._n_paragraphs = folder, n_paragraphs
        self._lengths: list[np.ndarray] = []
        self._files: list[BinaryIO] = []
        self._rows = self._written = 0
        if folder is not None:
            header = {**np.lib.format.header_data_from_array_1_0(np.zeros(0, np.int32)), "shape": (n_paragraphs,)}
            for name in ("para_row.npy", "para_idx.npy"):
                file = (folder / name).open("wb")
                self._files.append(file)
                np.lib.format.write_array_header_1_0(file, header)

    def add(self, page_lengths: np.ndarray) -> None:
        """The next pages' paragraph counts."""
        if not self._files:
            self._lengths.append(page_lengths)
            return
        rows, numbers = _paragraph_places(page_lengths, self._rows)
        self._files[0].write(rows.tobytes())
        self._files[1].write(numbers.tobytes())
        self._rows += len(page_lengths)
        self._written += len(rows)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Both columns: memory-mapped from their files, or made now in memory."""
        if not self._files:
            return _paragraph_places(np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64))
        for file in self._files:
            file.close()
        if self._written != self._n_paragraphs:
            raise SearchIndexError(f"the corpus has {self._n_paragraphs} paragraphs but its pages hold "
                                   f"{self._written}: rebuild the corpus")
        folder = self._folder
        return (np.load(folder / "para_row.npy", mmap_mode="r"), np.load(folder / "para_idx.npy", mmap_mode="r"))


def _paragraph_places(page_lengths: np.ndarray, first_row: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The page row and the paragraph number of each paragraph of pages `first_row`, `first_row + 1`, …, from the
    paragraph count of each page."""
    rows = np.repeat(np.arange(first_row, first_row + len(page_lengths), dtype=np.int32), page_lengths)
    numbers = np.arange(len(rows), dtype=np.int32)
    numbers -= np.repeat((np.cumsum(page_lengths) - page_lengths).astype(np.int32), page_lengths)
    return rows, numbers


def _segment_starts(searcher: tantivy.Searcher, part_starts: list[int], n_paragraphs: int) -> list[int] | None:
    """`part_starts` when the index has a segment per part, in order, whose document ids are its paragraph ids less its
    first (one writer thread, in order); else None, and a search reads each hit's paragraph id from the fast field."""
    if searcher.num_segments != len(part_starts) or searcher.num_docs != n_paragraphs:
        return None
    chunk = 1 << 16
    for segment, (first, end) in enumerate(zip(part_starts, [*part_starts[1:], n_paragraphs])):
        for start in range(first, end, chunk):
            stop = min(start + chunk, end)
            addresses = [tantivy.DocAddress(segment, doc - first) for doc in range(start, stop)]
            if searcher.fast_field_values("pid", addresses) != list(range(start, stop)):
                return None
    return part_starts


def _saved_segment_starts(meta: dict) -> list[int] | None:
    """The segment starts an ``index.json`` records (``doc_is_pid`` alone before there were parts); None, and the fast
    field names the hits, when they are not ids from 0 rising within the paragraph count."""
    if "segment_starts" not in meta:
        return [0] if meta.get("doc_is_pid") else None
    starts, n_paragraphs = meta["segment_starts"], meta.get("n_paragraphs")
    if (isinstance(starts, list) and starts and starts[0] == 0 and isinstance(n_paragraphs, int)
            and all(type(start) is int for start in starts)
            and all(a < b for a, b in zip(starts, [*starts[1:], max(n_paragraphs, 1)]))):
        return starts
    return None


def _documents(corpus: Corpus, places: _ParagraphPlaces, progress: tqdm) -> Iterator[tantivy.Document]:
    """A document per paragraph, in paragraph id order; each batch's paragraph counts go to `places`."""
    pid = 0
    for batch in _read_batches(corpus, ["title", "domain", "tier", "published", "paragraphs"]):
        titles, domains, tiers, dates, paragraph_lists = (batch.column(i).to_pylist() for i in range(5))
        lengths = pc.fill_null(pc.list_value_length(batch.column(4)), 0).to_numpy(zero_copy_only=False)
        places.add(lengths)
        expand = _pids_to_expand(batch.column(0), batch.column(4), lengths, pid)
        for title, domain, tier, published, paragraphs in zip(titles, domains, tiers, dates, paragraph_lists):
            date = _date_number(published)
            for number, text in enumerate(paragraphs):
                # the title is searchable through the page's first paragraph (navigational queries), and only there:
                # one title field on every paragraph made each query score twice the postings
                indexed = f"{title}\n{text}" if number == 0 else text
                if pid in expand:
                    indexed = _with_identifier_terms(indexed)
                yield tantivy.Document(pid=pid, text=indexed, domain=domain, tier=tier, date=date)
                pid += 1
        progress.update(batch.num_rows)


def _write_part(documents: Iterator[tantivy.Document], n_documents: int, folder: Path | None, heap_size_mb: int,
                num_threads: int) -> tantivy.Index:
    """The next `n_documents` of `documents` as an index in `folder` (memory when None), sorted by paragraph id: in
    `_segment_count` segments, committed as their last document is added, that tantivy merges into one."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    # sorted by paragraph id: a merge of segments keeps paragraph order
    index = tantivy.Index(_schema(), path=str(folder) if folder is not None else None, sort_by_field="pid")
    writer = index.writer(heap_size=heap_size_mb * 1024 * 1024, num_threads=num_threads)
    n_segments = _segment_count(n_documents)
    ends = {n_documents * number // n_segments for number in range(1, n_segments)}
    for added, document in enumerate(itertools.islice(documents, n_documents), 1):
        writer.add_document(document)
        if added in ends:
            writer.commit()
            return_freed_memory()
    writer.commit()
    return_freed_memory()
    writer.wait_merging_threads()
    return_freed_memory()
    return index


def _join_parts(parts: list[Path], folder: Path) -> None:
    """The segments of the part indexes `parts` (folders written by `_write_part`) moved into `folder` and listed in
    one index, in the parts' order: tantivy numbers a searcher's segments in the order ``meta.json`` lists them."""
    metas = [json.loads((part / "meta.json").read_text()) for part in parts]
    files = []
    for part, meta in zip(parts, metas):
        ids = {segment["segment_id"].replace("-", "") for segment in meta["segments"]}
        for file in sorted(part.iterdir()):
            if file.name.split(".")[0] in ids:
                file.rename(folder / file.name)
                files.append(file.name)
    joined = {**metas[0], "segments": [segment for meta in metas for segment in meta["segments"]],
              "opstamp": max(meta["opstamp"] for meta in metas)}
    (folder / "meta.json").write_text(json.dumps(joined))
    # the files tantivy's garbage collector may delete when they are no longer listed
    (folder / ".managed.json").write_text(json.dumps([*files, "meta.json"]))


def _query_words(query: str) -> list[str]:
    """The query's words for the parser: lowercase (no operators), identifiers expanded as in the index."""
    if "_" not in query and "." not in query and not _CAMEL_BOUNDARY.search(query):
        return [token.lower() for token in _TOKEN.findall(query)]
    words = []
    for token in _TOKEN.findall(query):
        if "_" in token or "." in token or _CAMEL_BOUNDARY.search(token):
            # split: a word the tokenizer cuts in two would become a phrase, and the index has no positions
            words.extend(part.lower() for part in _JOINERS.split(token) if part)
            words.extend(_identifier_terms(token))
        else:
            words.append(token.lower())
    return words


def _identifier_terms(token: str) -> list[str]:
    """The terms of an identifier the word tokenizer does not make: its parts joined (per dotted component and
    whole) and CamelCase parts. ``functools.lru_cache`` → ``lrucache``, ``functoolslrucache``; ``HTTPServer`` →
    ``http``, ``server``; ``lru`` → nothing."""
    terms = []
    components = token.split(".")
    parts_of_all = []
    for component in components:
        parts = [part for part in component.split("_") if part]
        for part in parts:
            camel_parts = _CAMEL_BOUNDARY.split(part)
            if len(camel_parts) > 1:
                terms.extend(camel_parts)
        if len(parts) > 1:
            terms.append("".join(parts))
        parts_of_all.extend(parts)
    if len(components) > 1 and len(parts_of_all) > 1:
        terms.append("".join(parts_of_all))
    return list(dict.fromkeys(term.lower() for term in terms))


def _with_identifier_terms(text: str) -> str:
    """`text` followed by the identifier terms of each of its identifiers (once per occurrence, like its words)."""
    terms = [term for token in _TOKEN.findall(text) if "_" in token or "." in token or _CAMEL_BOUNDARY.search(token)
             for term in _identifier_terms(token)]
    return f"{text}\n{' '.join(terms)}" if terms else text


def _pids_to_expand(titles: pa.Array, paragraphs: pa.Array, counts: np.ndarray, first_pid: int) -> set[int]:
    """The paragraph ids, numbered from `first_pid`, whose indexed text (the title too for a page's first) may
    hold an identifier; `counts` are the pages' paragraph counts. Identifiers are rare in prose: Arrow's regex engine
    picks them in one pass."""
    first_pids = first_pid + np.cumsum(counts) - counts
    flagged = first_pid + np.flatnonzero(_may_hold_identifier(pc.list_flatten(paragraphs)))
    titled = first_pids[_may_hold_identifier(titles) & (counts > 0)]
    return set(flagged.tolist()) | set(titled.tolist())


def _may_hold_identifier(texts: pa.Array) -> np.ndarray:
    """Which of `texts` may hold an identifier (a superset, one vectorised pass)."""
    return pc.fill_null(pc.match_substring_regex(texts, _MAY_HOLD_IDENTIFIER), False).to_numpy(zero_copy_only=False)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("pid", stored=False, indexed=False, fast=True)
    builder.add_text_field("text", stored=False, tokenizer_name="en_stem", index_option="freq")
    builder.add_text_field("domain", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("tier", stored=False, indexed=True, fast=False)
    builder.add_integer_field("date", stored=False, indexed=True, fast=True)
    return builder.build()


def _date_number(iso_date: str | None) -> int:
    """``"2023-04-05"`` → 20230405; missing or partial dates sort first (0) or at their year's start."""
    if not iso_date:
        return 0
    digits = re.sub(r"\D", "", iso_date)[:8]
    if len(digits) < 4:
        return 0
    return int(digits.ljust(8, "0"))


def _int8_column(column: pa.ChunkedArray) -> np.ndarray:
    """A non-null int8 column as numpy, read from its Arrow buffer: pyarrow's `to_numpy` imports pandas
    (~0.3 s and ~40 MiB in every process that opens an index, though nothing else here uses it)."""
    array = column.combine_chunks()
    if len(array) == 0:
        return np.zeros(0, dtype=np.int8)
    return np.frombuffer(array.buffers()[1], dtype=np.int8, count=len(array), offset=array.offset)
