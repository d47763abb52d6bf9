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

On disk (``<corpus>/index`` by default): ``tantivy/`` (memory-mapped by tantivy, shared between processes),
``para_row.npy`` and ``para_idx.npy`` (paragraph id → page row and paragraph number), ``dense.npy`` when
built with vectors, and ``index.json``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import tantivy
from tqdm.auto import tqdm

from drgym.errors import ConfigError, SearchIndexError
from drgym.web.corpus import Corpus

__all__ = ["RankingConfig", "SearchHit", "SearchIndex"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3
_WORD = re.compile(r"\w+", re.UNICODE)


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

    def __init__(self, corpus: Corpus, tantivy_index: tantivy.Index, para_row: np.ndarray, para_idx: np.ndarray,
                 *, dense_vectors: np.ndarray | None = None, path: Path | None = None,
                 ranking: RankingConfig | None = None) -> None:
        self.corpus = corpus
        self.path = path
        self.ranking = ranking or RankingConfig()
        self._index = tantivy_index
        self._searcher = tantivy_index.searcher()
        self._para_row = para_row
        self._para_idx = para_idx
        self._dense_vectors = dense_vectors
        self._encoder = None
        self._tier_by_row = corpus.column("tier").to_numpy()
        self._domain_by_row: np.ndarray | None = None
        self._date_by_row: np.ndarray | None = None

    @property
    def has_dense(self) -> bool:
        return self._dense_vectors is not None

    def __len__(self) -> int:
        return len(self._para_row)

    # -- build and load -------------------------------------------------------------------------------

    @classmethod
    def build(cls, corpus: Corpus, path: str | Path | None = None, *, dense: bool = False,
              num_threads: int = 1, heap_size_mb: int = 256, show_progress: bool = True,
              ranking: RankingConfig | None = None) -> SearchIndex:
        """Indexes every paragraph of `corpus`.

        Args:
            corpus: the pages.
            path: where to write the index; default ``<corpus folder>/index`` for a saved corpus, and
                memory only for an in-memory one.
            dense: also embed every paragraph with MiniLM (about 100 paragraphs/s on 2 CPU cores).
            num_threads: tantivy writer threads. One (the default) writes the paragraphs in corpus order (one
                segment while the writer's heap holds them), so paragraphs of equal score are cut at the candidate
                limit the same way on every build; with more, the threads race for documents, the segments differ
                between builds, and so do some searches (measured: 29 of 1,000 scripted episodes in a 3,000-page
                world saw other results after a rebuild with 2 threads). One thread indexed that world's 15,681
                paragraphs as fast as two (0.15 s); 580k paragraphs in 3.4 s against 2.8 s with two.
            show_progress: a progress bar over pages.
        """
        if path is None and corpus.path is not None:
            path = corpus.path / "index"
        path = Path(path) if path is not None else None
        if path is not None:
            if path.exists():
                shutil.rmtree(path)
            (path / "tantivy").mkdir(parents=True)
        schema = _schema()
        index = tantivy.Index(schema, path=str(path / "tantivy") if path is not None else None)
        writer = index.writer(heap_size=heap_size_mb * 1024 * 1024, num_threads=num_threads)
        n_paragraphs = corpus.n_paragraphs
        para_row = np.empty(n_paragraphs, dtype=np.int32)
        para_idx = np.empty(n_paragraphs, dtype=np.int32)
        pid = 0
        progress = tqdm(total=len(corpus), desc="index pages", unit="page", disable=not show_progress)
        row = 0
        for batch in corpus.table.select(["title", "domain", "tier", "published", "paragraphs"]).to_batches():
            titles, domains, tiers, dates, paragraph_lists = (batch.column(i).to_pylist() for i in range(5))
            for title, domain, tier, published, paragraphs in zip(titles, domains, tiers, dates, paragraph_lists):
                date = _date_number(published)
                for number, text in enumerate(paragraphs):
                    # the title is searchable through the page's first paragraph (navigational queries), and
                    # only there: one title field on every paragraph made each query score twice the postings
                    indexed = f"{title}\n{text}" if number == 0 else text
                    writer.add_document(tantivy.Document(pid=pid, text=indexed, domain=domain, tier=tier, date=date))
                    para_row[pid] = row
                    para_idx[pid] = number
                    pid += 1
                row += 1
            progress.update(batch.num_rows)
        progress.close()
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        vectors = None
        if dense:
            from drgym.web.dense import DenseEncoder

            texts = [corpus.paragraph(int(r), int(i)) for r, i in zip(para_row, para_idx)]
            vectors = DenseEncoder().encode(texts, show_progress=show_progress)
        if path is not None:
            np.save(path / "para_row.npy", para_row)
            np.save(path / "para_idx.npy", para_idx)
            if vectors is not None:
                np.save(path / "dense.npy", vectors)
            meta = {"format_version": FORMAT_VERSION, "n_pages": len(corpus), "n_paragraphs": n_paragraphs,
                    "dense": vectors is not None}
            (path / "index.json").write_text(json.dumps(meta, indent=2) + "\n")
        return cls(corpus, index, para_row, para_idx, dense_vectors=vectors, path=path, ranking=ranking)

    @classmethod
    def load(cls, path: str | Path, corpus: Corpus | None = None, *,
             ranking: RankingConfig | None = None) -> SearchIndex:
        """Opens a saved index memory-mapped; `corpus` defaults to the corpus folder around ``path``."""
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
        index = tantivy.Index.open(str(path / "tantivy"))
        vectors = np.load(path / "dense.npy", mmap_mode="r") if meta.get("dense") else None
        return cls(corpus, index, np.load(path / "para_row.npy", mmap_mode="r"),
                   np.load(path / "para_idx.npy", mmap_mode="r"), dense_vectors=vectors, path=path,
                   ranking=ranking)

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
        words = [w.lower() for w in _WORD.findall(query)]
        bm25 = self._bm25(words, n_candidates, domains, tiers, published_after, published_before) if words else []
        if mode == "hybrid":
            dense = self._dense(query, n_candidates, domains, tiers, published_after, published_before)
            fused: dict[int, float] = {}
            for ranked in (bm25, dense):
                for rank, (pid, _) in enumerate(ranked):
                    fused[pid] = fused.get(pid, 0.0) + 1.0 / (self.ranking.rrf_k + rank + 1)
            candidates = list(fused.items())
        else:
            candidates = bm25
        if not candidates:
            return []
        pids = np.fromiter((pid for pid, _ in candidates), dtype=np.int64, count=len(candidates))
        scores = np.fromiter((score for _, score in candidates), dtype=np.float64, count=len(candidates))
        if mode == "hybrid":  # fused ranks are compressed (1/61 vs 1/62): spread them over [0, 1]
            spread = scores.max() - scores.min()
            relevance = (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
        else:
            relevance = scores / scores.max() if scores.max() > 0 else np.ones_like(scores)
        rows = np.asarray(self._para_row)[pids]
        priors = np.asarray(self.ranking.tier_prior, dtype=np.float64)[self._tier_by_row[rows].astype(np.int64) - 1]
        final = relevance + self.ranking.authority_weight * priors
        order = np.lexsort((pids, -final))[:k]  # ties broken by paragraph id: deterministic
        return [self._hit(int(pids[i]), float(final[i]), float(relevance[i])) for i in order]

    def _bm25(self, words: list[str], limit: int, domains, tiers, after, before) -> list[tuple[int, float]]:
        text_query, _errors = self._index.parse_query_lenient(" ".join(words), ["text"])
        clauses = [(tantivy.Occur.Must, text_query)]
        schema = self._index.schema
        if domains:
            clauses.append((tantivy.Occur.Must, tantivy.Query.term_set_query(schema, "domain", list(domains))))
        if tiers:
            clauses.append((tantivy.Occur.Must, tantivy.Query.term_set_query(schema, "tier", [int(t) for t in tiers])))
        if after or before:
            clauses.append((tantivy.Occur.Must, tantivy.Query.range_query(
                schema, "date", tantivy.FieldType.Integer,
                _date_number(after) if after else None, _date_number(before) if before else None)))
        query = text_query if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)
        hits = self._searcher.search(query, limit, count=False).hits
        if not hits:
            return []
        pids = self._searcher.fast_field_values("pid", [address for _, address in hits])
        return [(int(pid), float(score)) for pid, (score, _) in zip(pids, hits)]

    def _dense(self, query: str, limit: int, domains, tiers, after, before) -> list[tuple[int, float]]:
        if self._encoder is None:
            from drgym.web.dense import DenseEncoder

            self._encoder = DenseEncoder()
        vector = self._encoder.encode_query(query)
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

    def _hit(self, pid: int, score: float, relevance: float) -> SearchHit:
        row, number = int(self._para_row[pid]), int(self._para_idx[pid])
        column = self.corpus.column
        return SearchHit(url=column("url")[row].as_py(), title=column("title")[row].as_py(),
                         domain=column("domain")[row].as_py(), tier=int(self._tier_by_row[row]),
                         published=column("published")[row].as_py(), paragraph_index=number,
                         text=self.corpus.paragraph(row, number), score=round(score, 6),
                         relevance=round(relevance, 6))


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
