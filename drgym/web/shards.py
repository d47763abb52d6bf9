"""A search index split into shards for corpora beyond one machine: built in parallel, served in this process or by
Ray actors across a cluster, and queried scatter-gather with the ranking of one `SearchIndex` over the whole corpus.

Layout (``build_shards``)::

    shards.json          format, shard count, pages, paragraphs, tokens, whether vectors were built
    shard-00000/ …       a corpus folder each (pages.arrow, its index/, images/), loadable on its own, plus
                         shard.json (paragraphs and tokens) and global_pid.npy (each paragraph's id in the whole
                         corpus, increasing)

A page goes to shard ``url_hash(url) % n_shards``: a url is read from its shard without a lookup table, and every
shard holds a like sample of the corpus.

**Same ranking as one index.** BM25 depends on corpus-wide statistics: the number of paragraphs, their mean length
in tokens and each term's document frequency. A query therefore runs in three phases:

1. every shard reports the document frequency of the query's terms; the client sums them;
2. every shard returns its best ``candidates`` paragraphs scored with the *global* statistics (tantivy's BM25
   formula in float32, operation for operation: ``idf·(k1+1) · tf / (tf + k1·(1 − b + b·dl/avgdl))`` with ``dl``
   quantised as tantivy stores it), and the client keeps the best ``candidates`` of all;
3. the client re-ranks them as `SearchIndex` does (authority prior, or reciprocal-rank fusion with the dense list in
   hybrid mode) and reads the top ``k`` hits from the shards that hold them.

tantivy-py has no way to score with injected statistics, so a shard finds its candidates with a tantivy query whose
terms are boosted by ``weight_global / weight_shard``: its score ``l`` differs from the global score ``g`` only
through the mean length, and ``g ≤ R·l`` with ``R = max(1, avgdl_global / avgdl_shard)·(1 + ε)`` (ε covers float32
rounding). The shard scores its paragraphs exactly in order of ``l``, 16 at a time, and stops when ``R·l`` of the next
is below the ``candidates``-th best ``g``: no paragraph not yet scored can enter (it reads on past its first
``2·candidates`` when needed). Ties are broken by global paragraph id, as one index breaks them by document order.
The one difference left is the order in which tantivy adds the terms' float32 scores (it varies with its
traversal): two paragraphs whose scores agree to the last bit or two may be ordered either way, by one index as by
the shards. Filters add nothing to scores (`SearchIndex` makes them score 0).

A query costs three round trips and about ``candidates`` paragraphs tokenized per shard; the shards work at once on
Ray. Dense candidates need no statistics: the client encodes the query once and every shard ranks its own vectors.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import heapq
import json
import logging
import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tantivy
from tqdm.auto import tqdm

from drgym.errors import ConfigError, DependencyNotInstalled, SearchIndexError
from drgym.web.corpus import Corpus, Page, PageImage, image_file_name, url_hash
from drgym.web.dense import DenseEncoder, export_onnx
from drgym.web.index import (
    RankingConfig,
    SearchHit,
    SearchIndex,
    _query_words,
    fuse_ranks,
    indexed_text,
    rerank_bm25,
)

__all__ = ["Shard", "ShardedCorpus", "ShardedIndex", "build_shards"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_MANIFEST = "shards.json"
_K1 = np.float32(1.2)  # tantivy's BM25 constants (src/query/bm25.rs)
_B = np.float32(0.75)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)
_K1_PLUS_ONE = _ONE + _K1
_SCORE_BATCH = 16
"""Candidates scored together (one numpy pass) between two checks of the stopping bound."""


# -- tantivy's BM25 in float32 ----------------------------------------------------------------------------------


def _fieldnorm_table() -> np.ndarray:
    """The 256 document lengths tantivy can store (src/fieldnorm/code.rs): 0–39 exactly, then runs of 8 lengths
    whose step doubles from run to run (40, 42, …, 54; 56, 60, …, 84; 88, 96, …), as Lucene's SmallFloat."""
    lengths = list(range(40))
    value, step = 40, 2
    while len(lengths) < 256:
        for _ in range(8):
            lengths.append(value)
            value += step
        step *= 2
    return np.array(lengths, dtype=np.int64)


FIELDNORMS = _fieldnorm_table()


def stored_length(n_tokens: int) -> int:
    """The length tantivy stores for a field of `n_tokens` tokens: the largest table length not above it."""
    return int(FIELDNORMS[np.searchsorted(FIELDNORMS, n_tokens, side="right") - 1])


def _libm_logf() -> Callable[[float], np.float32]:
    """tantivy's ``f32::ln`` is the C library's ``logf``; math.log rounded to float32 may differ in the last bit."""
    with contextlib.suppress(OSError, AttributeError, TypeError):
        logf = ctypes.CDLL(ctypes.util.find_library("m")).logf
        logf.restype, logf.argtypes = ctypes.c_float, [ctypes.c_float]
        return lambda x: np.float32(logf(float(x)))
    return lambda x: np.float32(math.log(float(x)))


_logf = _libm_logf()


def term_weight(doc_freq: int, n_docs: int) -> np.float32:
    """``idf · (k1 + 1)``, as tantivy computes it (src/query/bm25.rs ``idf`` and ``Bm25Weight::new``)."""
    x = (np.float32(n_docs - doc_freq) + _HALF) / (np.float32(doc_freq) + _HALF)
    return np.float32(_logf(_ONE + x) * _K1_PLUS_ONE)


def mean_length(n_tokens: int, n_docs: int) -> np.float32:
    return np.float32(n_tokens) / np.float32(n_docs)


@functools.cache
def _analyzer() -> tantivy.TextAnalyzer:
    """tantivy's ``en_stem``: the simple tokenizer, tokens of 40 bytes or more dropped, lowercase, English stems."""
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.remove_long(40))
            .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.stemmer("english")).build())


def query_terms(query: str) -> list[str]:
    """The terms tantivy's query parser makes of `query` for the index: each word's one token (a word of several
    tokens would be a phrase, which an index without positions drops), each term once."""
    terms: dict[str, None] = {}
    for word in _query_words(query):
        tokens = _analyzer().analyze(word)
        if len(tokens) == 1:
            terms[tokens[0]] = None
    return list(terms)


def global_scores(token_lists: Sequence[list[str]], terms: Sequence[str], weights: Sequence[np.float32],
                  mean: np.float32) -> np.ndarray:
    """BM25 of each paragraph (its tokens) for `terms` with the given global weights and mean length, in float32
    operation for operation as tantivy computes it (numpy's float32 arrays round each operation as tantivy does);
    terms are added in query order. Filters add nothing: `SearchIndex` makes them score 0."""
    counts = [Counter(tokens) for tokens in token_lists]
    lengths = np.array([len(tokens) for tokens in token_lists], dtype=np.int64)
    stored = FIELDNORMS[np.searchsorted(FIELDNORMS, lengths, side="right") - 1].astype(np.float32)
    norm = _K1 * (_ONE - _B + _B * stored / mean)
    scores = np.zeros(len(token_lists), dtype=np.float32)
    for term, weight in zip(terms, weights):
        tf = np.array([c.get(term, 0) for c in counts], dtype=np.float32)
        # a paragraph without the term gets nothing added (tantivy adds only the matching clauses; x + 0 == x)
        scores = scores + np.where(tf > 0, np.float32(weight) * (tf / (tf + norm)), np.float32(0.0))
    return scores


@dataclass(frozen=True)
class _Filters:
    domains: tuple[str, ...] = ()
    tiers: tuple[int, ...] = ()
    published_after: str | None = None
    published_before: str | None = None


# -- one shard --------------------------------------------------------------------------------------------------


class Shard:
    """One shard opened memory-mapped: answers document frequencies, candidates scored with global statistics,
    dense candidates, hits and pages. Plain values in and out, so that a Ray actor can be one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta_path = self.path / "shard.json"
        if not meta_path.is_file():
            raise SearchIndexError(f"{self.path} is not an index shard ({meta_path.name} is missing); build the "
                                   "shards with `drgym.web.shards.build_shards`")
        self.meta = json.loads(meta_path.read_text())
        self.index = SearchIndex.load(self.path / "index", Corpus.load(self.path))
        self.global_pids = np.load(self.path / "global_pid.npy", mmap_mode="r")
        self._n_docs = self.index._searcher.num_docs
        self._mean = mean_length(self.meta["n_tokens"], self._n_docs) if self._n_docs else np.float32(1.0)

    def __reduce__(self):  # a shard travels as its path (gymnasium's AsyncVectorEnv pickles the env)
        return Shard, (str(self.path),)

    def doc_freqs(self, terms: list[str]) -> list[int]:
        searcher = self.index._searcher
        return [searcher.doc_freq("text", term) for term in terms]

    def bm25_candidates(self, terms: list[str], weights: list[float], n_tokens: int, n_docs: int,
                        filters: _Filters, limit: int) -> list[tuple[float, int, int, int]]:
        """This shard's best `limit` paragraphs by BM25 under the global statistics (weights per term, total tokens
        and paragraphs): ``(score, global paragraph id, tier, local paragraph id)``, best first."""
        weights32 = [np.float32(w) for w in weights]
        mean = mean_length(n_tokens, n_docs)
        here = [(term, weight, df) for term, weight, df in zip(terms, weights32, self.doc_freqs(terms)) if df]
        if not here or limit <= 0:
            return []
        schema = self.index._index.schema
        clauses = [(tantivy.Occur.Should, tantivy.Query.boost_query(
            tantivy.Query.term_query(schema, "text", term), float(weight) / float(term_weight(df, self._n_docs))))
            for term, weight, df in here]
        query = self.index._filtered(tantivy.Query.boolean_query(clauses), list(filters.domains),
                                     list(filters.tiers), filters.published_after, filters.published_before)
        epsilon = 1e-6 * (len(here) + 4)  # float32 rounding of both sums (≈ 1e-7 per operation), with a margin
        ratio = max(1.0, float(mean) / float(self._mean)) * (1.0 + epsilon)
        best: list[tuple[float, int, int, int]] = []  # a heap of the best `limit`: (score, -global id, tier, local)
        scored: set[int] = set()  # local ids
        read = 2 * limit
        while True:
            # each read from the top: in an index of several segments, the paragraphs of a tie at one read's cut
            # need not be the first of that score in the next read, so that a paragraph skipped by its position
            # could be missed
            local_pids, local_scores = self.index._bm25(query, read)
            unscored = [at for at, pid in enumerate(local_pids) if pid not in scored]
            for start in range(0, len(unscored), _SCORE_BATCH):
                batch = unscored[start:start + _SCORE_BATCH]
                # exact: every paragraph not yet scored has a shard score of at most this one's (a read holds every
                # paragraph scored above its last), so a global score of at most `ratio` times it, below the
                # `limit`-th best
                if len(best) == limit and ratio * local_scores[batch[0]] < best[0][0]:
                    return _best_first(best)
                pids = [local_pids[at] for at in batch]
                scored.update(pids)
                for candidate in self._candidates(pids, terms, weights32, mean):
                    if len(best) < limit:
                        heapq.heappush(best, candidate)
                    elif candidate > best[0]:
                        heapq.heapreplace(best, candidate)
            if len(local_pids) < read:
                return _best_first(best)
            read *= 4

    def dense_candidates(self, vector: np.ndarray, filters: _Filters,
                         limit: int) -> list[tuple[float, int, int, int]]:
        """The best `limit` paragraphs by cosine: ``(similarity, global id, tier, local id)``, best first."""
        found = self.index._dense(vector, limit, list(filters.domains), list(filters.tiers), filters.published_after,
                                  filters.published_before)
        return [(similarity, int(self.global_pids[pid]), self._tier(pid), pid) for pid, similarity in found]

    def hits(self, local_pids: list[int], scores: list[float], relevances: list[float]) -> list[SearchHit]:
        return self.index._hits(local_pids, scores, relevances)

    def page(self, url: str) -> Page | None:
        return self.index.corpus.get(url)

    def find_image(self, url: str) -> tuple[PageImage, str] | None:
        return self.index.corpus.find_image(url)

    def image_bytes(self, url: str) -> bytes | None:
        return self.index.corpus.image_bytes(url)

    def node_id(self) -> str | None:
        """The Ray node serving this shard, or None outside Ray."""
        import sys

        ray = sys.modules.get("ray")
        return ray.get_runtime_context().get_node_id() if ray is not None and ray.is_initialized() else None

    def _tier(self, pid: int) -> int:
        return self.index._tier_of_row[self.index._row_of_pid[pid]]

    def _candidates(self, pids: list[int], terms, weights, mean) -> list[tuple[float, int, int, int]]:
        """``(global score, -global id, tier, local id)`` of paragraphs: heap order is best score, then lowest id."""
        rows = [self.index._row_of_pid[pid] for pid in pids]
        analyze, read = _analyzer().analyze, self.index._pages.read
        token_lists = []
        for pid, row in zip(pids, rows):
            number = self.index._number_of_pid[pid]
            _, title, _, _, text = read(row, number)
            token_lists.append(analyze(indexed_text(title, number, text)))
        scores = global_scores(token_lists, terms, weights, mean)
        return [(float(score), -int(self.global_pids[pid]), self.index._tier_of_row[row], pid)
                for score, pid, row in zip(scores, pids, rows)]


def _best_first(heap: list[tuple[float, int, int, int]]) -> list[tuple[float, int, int, int]]:
    """Heap entries as ``(score, global id, tier, local id)``, best score first, ties by lowest global id."""
    return [(score, -negative_gpid, tier, pid) for score, negative_gpid, tier, pid in sorted(heap, reverse=True)]


# -- build ------------------------------------------------------------------------------------------------------


def build_shards(corpus: Corpus | str | Path, out: str | Path, *, n_shards: int, workers: int | None = None,
                 dense: bool = False, dense_backend: Literal["auto", "onnx", "torch"] = "auto",
                 show_progress: bool = True) -> Path:
    """Splits `corpus` into `n_shards` shards and indexes them in parallel processes.

    Args:
        corpus: a corpus, or its folder (an in-memory corpus is saved to a scratch folder first, since the worker
            processes open it memory-mapped).
        out: the folder of the shards; replaced when it holds shards already, refused when it holds anything else.
        n_shards: how many shards; a shard is a whole `SearchIndex`, so size them to a node's disk and memory.
        workers: processes building shards at once; default one per core, at most `n_shards`.
        dense: also embed each shard's paragraphs with MiniLM (each worker gets its share of the cores).
        dense_backend: the encoder's back-end (`drgym.web.dense`).
        show_progress: a progress bar over shards.

    Returns:
        `out`, which `ShardedIndex.open` and `ShardedIndex.serve` take.
    """
    if not isinstance(n_shards, int) or n_shards < 1:
        raise ConfigError(f"n_shards must be a whole number of 1 or more, got {n_shards!r}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = min(n_shards, workers if workers is not None else cores)
    if workers < 1:
        raise ConfigError(f"workers must be 1 or more, got {workers!r}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / _MANIFEST).is_file():
        raise ConfigError(f"{out} exists and holds no shards: choose an empty or new folder for them")
    with contextlib.ExitStack() as stack:
        if isinstance(corpus, Corpus):
            source, name = corpus.path, corpus.name
            if source is None:  # a copy saved: `Corpus.save` would point the caller's corpus at the scratch folder
                source = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="drgym-shard-source-")))
                Corpus(corpus.table, name=name).save(source)
        else:
            source = Path(corpus)
            name = Corpus.load(source).name
        if dense and DenseEncoder(backend=dense_backend).backend == "onnx":
            export_onnx()  # once, here, rather than in every worker at the same moment
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        arguments = [(str(source), str(out), shard, n_shards, name, dense, dense_backend,
                      max(1, cores // workers)) for shard in range(n_shards)]
        metas: list[dict] = [{}] * n_shards
        progress = tqdm(total=n_shards, desc="build shards", unit="shard", disable=not show_progress)
        if workers == 1:
            for args in arguments:
                metas[args[2]] = _build_shard(*args)
                progress.update()
        else:
            # spawn: tantivy and onnxruntime hold threads that a forked child would inherit half-copied
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(_build_shard, *args): args[2] for args in arguments}
                for future in as_completed(futures):
                    metas[futures[future]] = future.result()
                    progress.update()
        progress.close()
    manifest = {"format_version": FORMAT_VERSION, "name": name, "n_shards": n_shards, "dense": dense,
                "n_pages": sum(m["n_pages"] for m in metas), "n_paragraphs": sum(m["n_paragraphs"] for m in metas),
                "n_tokens": sum(m["n_tokens"] for m in metas), "shards": [m["folder"] for m in metas]}
    (out / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")  # last: a crashed build is not loadable
    return out


def _build_shard(source: str, out: str, shard: int, n_shards: int, name: str, dense: bool, dense_backend: str,
                 dense_threads: int) -> dict:
    corpus = Corpus.load(source)
    hashes = _url_hash_by_row(corpus)
    counts = pc.fill_null(pc.list_value_length(corpus.column("paragraphs")), 0).to_numpy(zero_copy_only=False)
    first_pid = np.cumsum(counts) - counts
    rows = np.flatnonzero(hashes % n_shards == shard)
    folder = f"shard-{shard:05d}"
    path = Path(out) / folder
    part = Corpus(corpus.table.take(pa.array(rows, type=pa.int64())), name=f"{name}/{folder}")
    part.save(path)
    _copy_images(corpus, part, path)
    # paragraphs of a page are numbered on from the page's first id in the whole corpus
    offsets = np.repeat(first_pid[rows] - (np.cumsum(counts[rows]) - counts[rows]), counts[rows])
    global_pids = offsets + np.arange(len(offsets), dtype=np.int64)
    np.save(path / "global_pid.npy", global_pids.astype(np.int64))
    part = Corpus.load(path)
    SearchIndex.build(part, path / "index", dense=dense, dense_backend=dense_backend, dense_threads=dense_threads,
                      show_progress=False)
    n_tokens = 0
    analyze = _analyzer().analyze
    for batch in part.table.select(["title", "paragraphs"]).to_batches():
        for title, paragraphs in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            for number, text in enumerate(paragraphs or ()):
                n_tokens += len(analyze(indexed_text(title, number, text)))
    meta = {"shard": shard, "n_shards": n_shards, "folder": folder, "n_pages": len(part),
            "n_paragraphs": int(counts[rows].sum()), "n_tokens": n_tokens}
    (path / "shard.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _url_hash_by_row(corpus: Corpus) -> np.ndarray:
    """Each page's url hash in row order, from the saved lookup (sorted hashes and their rows) when there is one."""
    if corpus.path is not None and (corpus.path / "urls.npy").is_file():
        hashes = np.load(corpus.path / "urls.npy", mmap_mode="r")
        rows = np.load(corpus.path / "rows.npy", mmap_mode="r")
        by_row = np.empty(len(corpus), dtype=np.int64)
        by_row[np.asarray(rows)] = hashes
        return by_row
    return np.fromiter((url_hash(url) for url in corpus.column("url").to_pylist()), dtype=np.int64,
                       count=len(corpus))


def _copy_images(source: Corpus, part: Corpus, path: Path) -> None:
    if source.path is None or not (source.path / "images").is_dir():
        return
    for images in part.column("images").to_pylist():
        for image in images or ():
            file = source.path / "images" / image_file_name(image["url"])
            if file.is_file():
                (path / "images").mkdir(exist_ok=True)
                shutil.copyfile(file, path / "images" / file.name)


# -- the client -------------------------------------------------------------------------------------------------


class _Transport:
    """Calls a method on shards: in this process, or on Ray actors (all shards at once)."""

    def __init__(self, shards: Sequence[Any], *, is_ray: bool) -> None:
        self.shards = list(shards)
        self.is_ray = is_ray

    def all(self, method: str, arguments: Sequence[tuple], *, shards: Sequence[int] | None = None) -> list:
        """``method(*arguments[i])`` on each shard (or on `shards`, in that order), concurrently on Ray."""
        chosen = [self.shards[i] for i in shards] if shards is not None else self.shards
        if not self.is_ray:
            return [getattr(shard, method)(*args) for shard, args in zip(chosen, arguments)]
        import ray

        return ray.get([getattr(shard, method).remote(*args) for shard, args in zip(chosen, arguments)])

    def one(self, shard: int, method: str, *args):
        return self.all(method, [args], shards=[shard])[0]


class ShardedCorpus:
    """The pages of a sharded corpus: each url read from its shard (`url_hash(url) % n_shards`)."""

    def __init__(self, transport: _Transport, *, name: str, n_pages: int, n_paragraphs: int) -> None:
        self._transport = transport
        self.name = name
        self.path = None  # no one folder: judges and tools read pages through `get`
        self._n_pages = n_pages
        self._n_paragraphs = n_paragraphs

    def __len__(self) -> int:
        return self._n_pages

    @property
    def n_paragraphs(self) -> int:
        return self._n_paragraphs

    def __contains__(self, url: str) -> bool:
        return self.get(url) is not None

    def get(self, url: str) -> Page | None:
        return self._transport.one(url_hash(url) % len(self._transport.shards), "page", url)

    def fetch(self, url: str) -> Page | None:
        """The page an agent asks for: `get` (the `drgym.web.protocol.WebCorpus` interface)."""
        return self.get(url)

    def page(self, url: str) -> Page:
        page = self.get(url)
        if page is None:
            raise SearchIndexError(f"no page at {url!r} in corpus {self.name!r}")
        return page

    def find_image(self, url: str) -> tuple[PageImage, str] | None:
        n = len(self._transport.shards)
        return next((found for found in self._transport.all("find_image", [(url,)] * n) if found), None)

    def image_bytes(self, url: str) -> bytes | None:
        n = len(self._transport.shards)
        return next((data for data in self._transport.all("image_bytes", [(url,)] * n) if data), None)


class ShardedIndex(SearchIndex):
    """Search over shards with the ranking of one `SearchIndex` over the whole corpus (see the module docstring).

    It stands wherever a `SearchIndex` does (``gymnasium.make(..., web=index)``, the web tools, the judges): it has
    `search`, `corpus` (a `ShardedCorpus`), `has_dense` and a length, and no tantivy index of its own.

    Example:
        >>> index = ShardedIndex.open(build_shards(corpus, "shards", n_shards=4))  # doctest: +SKIP
        >>> index = ShardedIndex.serve("shards", address="head:6379")  # Ray actors on the cluster  # doctest: +SKIP
    """

    def __init__(self, transport: _Transport, manifest: dict, *, path: Path | None = None,
                 ranking: RankingConfig | None = None) -> None:
        # not SearchIndex.__init__: the paragraphs live in the shards
        self._transport = transport
        self._manifest = manifest
        self.path = path
        self.ranking = ranking or RankingConfig()
        self.corpus = ShardedCorpus(transport, name=manifest["name"], n_pages=manifest["n_pages"],
                                    n_paragraphs=manifest["n_paragraphs"])
        self._encoder = None
        self._boost_of = None

    def open_engine(self) -> None:
        """Nothing: each shard opens its own index."""

    @property
    def has_dense(self) -> bool:
        return bool(self._manifest["dense"])

    @property
    def n_shards(self) -> int:
        return len(self._transport.shards)

    def __len__(self) -> int:
        return int(self._manifest["n_paragraphs"])

    def __reduce__(self):
        return _rebuild_client, (self._transport.shards, self._transport.is_ray, self._manifest, self.path,
                                 self.ranking)

    @classmethod
    def open(cls, path: str | Path, *, ranking: RankingConfig | None = None) -> ShardedIndex:
        """Opens every shard in this process (memory-mapped): one machine, the same answers as `serve`."""
        path = Path(path)
        manifest = _read_manifest(path)
        shards = [Shard(path / folder) for folder in manifest["shards"]]
        return cls(_Transport(shards, is_ray=False), manifest, path=path, ranking=ranking)

    @classmethod
    def serve(cls, path: str | Path, *, address: str | None = None, cpus_per_shard: float = 1.0,
              ranking: RankingConfig | None = None) -> ShardedIndex:
        """Starts one Ray actor per shard, spread over the cluster's nodes in turn (shard i on node i mod nodes).

        Every node must read the shard folders at `path` (shared storage, or a copy at the same path).

        Args:
            path: the folder `build_shards` wrote.
            address: the Ray cluster (``host:port``); default the one this process is connected to, else
                ``RAY_ADDRESS``, else a new local one.
            cpus_per_shard: CPUs each actor reserves.
            ranking: as in `SearchIndex`.
        """
        try:
            import ray
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        except ImportError as e:
            raise DependencyNotInstalled("serving shards needs Ray: run `pip install drgym[ray]`") from e
        path = Path(path).resolve()
        manifest = _read_manifest(path)
        if not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=False)
            except ConnectionError as e:
                raise ConfigError(f"no Ray cluster answers at {address!r} ({e})") from e
        nodes = sorted(node["NodeID"] for node in ray.nodes() if node["Alive"])
        actor = ray.remote(Shard)
        shards = [actor.options(num_cpus=cpus_per_shard, scheduling_strategy=NodeAffinitySchedulingStrategy(
            nodes[i % len(nodes)], soft=False)).remote(str(path / folder))
            for i, folder in enumerate(manifest["shards"])]
        ray.get([shard.doc_freqs.remote([]) for shard in shards])  # every shard open before the first query
        return cls(_Transport(shards, is_ray=True), manifest, path=path, ranking=ranking)

    def shard_nodes(self) -> list[str | None]:
        """The Ray node of each shard (None for shards in this process)."""
        return self._transport.all("node_id", [()] * self.n_shards)

    def search(self, query: str, k: int = 10, *, mode: Literal["bm25", "hybrid"] = "bm25",
               domains: list[str] | None = None, tiers: list[int] | None = None,
               published_after: str | None = None, published_before: str | None = None) -> list[SearchHit]:
        """The `k` best paragraphs for `query`, ranked as one `SearchIndex` over the whole corpus ranks them.

        Args: as `SearchIndex.search`.
        """
        if mode not in ("bm25", "hybrid"):
            raise ConfigError(f"search mode must be 'bm25' or 'hybrid', got {mode!r}")
        if mode == "hybrid" and not self.has_dense:
            raise ConfigError("hybrid search needs dense vectors: rebuild the shards with dense=True")
        if k <= 0:
            return []
        n_candidates = max(self.ranking.candidates, k)
        filters = _Filters(tuple(domains or ()), tuple(int(t) for t in tiers or ()), published_after,
                           published_before)
        bm25 = self._bm25_candidates(query, filters, n_candidates)
        boost = self._tier_boost()
        owner = {gpid: (shard, local) for shard, (_, gpid, _, local) in bm25}
        if mode == "bm25":
            if not bm25:
                return []
            (pids, final, relevance), _ = rerank_bm25([c[1] for _, c in bm25], [c[0] for _, c in bm25],
                                                      [c[2] for _, c in bm25], boost, k=k)
        else:
            dense = self._dense_candidates(self._query_vector(query), filters, n_candidates)
            owner.update({gpid: (shard, local) for shard, (_, gpid, _, local) in dense})
            tier_by_pid = {c[1]: c[2] for _, c in (*bm25, *dense)}
            pids, final, relevance = fuse_ranks([c[1] for _, c in bm25], [c[1] for _, c in dense], tier_by_pid,
                                                boost, rrf_k=self.ranking.rrf_k, k=k)
        return self._read_hits(pids, final, relevance, owner)

    def _bm25_candidates(self, query: str, filters: _Filters, limit: int) -> list[tuple[int, tuple]]:
        terms = query_terms(query)
        if not terms:
            return []
        n = self.n_shards
        doc_freqs = np.sum(self._transport.all("doc_freqs", [(terms,)] * n), axis=0).tolist()
        n_docs = self._manifest["n_paragraphs"]
        terms, weights = zip(*[(t, float(term_weight(df, n_docs))) for t, df in zip(terms, doc_freqs) if df]) \
            if any(doc_freqs) else ((), ())
        if not terms:
            return []
        arguments = (list(terms), list(weights), self._manifest["n_tokens"], n_docs, filters, limit)
        found = self._transport.all("bm25_candidates", [arguments] * n)
        return _merge(found, limit)

    def _dense_candidates(self, vector: np.ndarray, filters: _Filters, limit: int) -> list[tuple[int, tuple]]:
        found = self._transport.all("dense_candidates", [(vector, filters, limit)] * self.n_shards)
        return _merge(found, limit)

    def _read_hits(self, pids: list[int], final: list[float], relevance: list[float],
                   owner: dict[int, tuple[int, int]]) -> list[SearchHit]:
        by_shard: dict[int, list[int]] = {}
        for at, pid in enumerate(pids):
            by_shard.setdefault(owner[pid][0], []).append(at)
        shards = sorted(by_shard)
        arguments = [([owner[pids[at]][1] for at in by_shard[s]], [final[at] for at in by_shard[s]],
                      [relevance[at] for at in by_shard[s]]) for s in shards]
        read = self._transport.all("hits", arguments, shards=shards)
        hits: list[SearchHit | None] = [None] * len(pids)
        for s, shard_hits in zip(shards, read):
            for at, hit in zip(by_shard[s], shard_hits):
                hits[at] = hit
        return [hit for hit in hits if hit is not None]


def _merge(per_shard: list[list[tuple]], limit: int) -> list[tuple[int, tuple]]:
    """The best `limit` candidates of all shards, as (shard, candidate), by score then global paragraph id."""
    tagged = ((shard, candidate) for shard, candidates in enumerate(per_shard) for candidate in candidates)
    return heapq.nsmallest(limit, tagged, key=lambda item: (-item[1][0], item[1][1]))


def _read_manifest(path: Path) -> dict:
    manifest_path = path / _MANIFEST
    if not manifest_path.is_file():
        raise SearchIndexError(f"no sharded index at {path} ({_MANIFEST} is missing); build one with "
                               "`drgym.web.shards.build_shards`")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise SearchIndexError(f"{path}: sharded index format {manifest.get('format_version')} is not supported; "
                               "rebuild it with `build_shards`")
    return manifest


def _rebuild_client(shards, is_ray, manifest, path, ranking) -> ShardedIndex:
    return ShardedIndex(_Transport(shards, is_ray=is_ray), manifest, path=path, ranking=ranking)
