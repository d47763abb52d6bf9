"""Search performance of drgym's offline web against the engine under it and two Python BM25 libraries.

    python -m drgym.benchmarks.perf_search --pages 100000

One process, one world, the same paragraphs for every engine (each page's title with its first paragraph, as
drgym indexes them):

* **raw tantivy**: drgym's own index opened with tantivy alone, the same query string through the same query
  parser, top 10; once as (score, document address) pairs and once with the paragraph ids (the ``pid`` fast
  field), which is what drgym needs to know which paragraphs came back;
* **drgym**: ``SearchIndex.search(query, 10)``: authority re-rank and hits with url, title, domain, date and text;
* **bm25s** (numpy sparse scores) and **rank_bm25** (pure Python), on fewer queries: they are 10²–10³× slower.

Times are CPU seconds of this process per query (``time.process_time``), medians and 95th percentiles; drgym and
raw tantivy run interleaved, query by query, so a load change on a shared machine hits both alike, and ratios are
against raw tantivy in this run. The load average is printed beside them. Also: world and index build rates,
memory (PSS) of N processes sharing the memory-mapped corpus and index, and hybrid (BM25 + MiniLM) search on a
smaller world (embedding runs at ~100 paragraphs/s on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tantivy

from drgym.benchmarks.figures import load_average, print_figures
from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.web.corpus import Corpus
from drgym.web.index import RankingConfig, SearchIndex

_WORKER = """
import sys, time
from drgym.web.corpus import Corpus
from drgym.web.index import SearchIndex
path, queries = sys.argv[1], sys.argv[2:]
index = SearchIndex.load(path + '/index', Corpus.load(path))
for query in queries:
    index.search(query, 10)
print('ready', flush=True)
sys.stdin.readline()
"""
_WORD = re.compile(r"\w+")
K = 10


def _pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError("no Pss line in smaps_rollup")


def _processes_pss_mib(world: Path, n_processes: int, queries: list[str]) -> float:
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(world), *queries], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for _ in range(n_processes)]
    try:
        for worker in workers:
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError("a search worker failed to start")
        return sum(_pss_kib(w.pid) for w in workers) / 1024
    finally:
        for worker in workers:
            worker.stdin.write("\n")
            worker.stdin.close()
            worker.wait()


def _times_ms(engines: dict[str, Callable[[str], object]], queries: list[str], *,
              clock: Callable[[], float] = time.process_time) -> dict[str, list[float]]:
    """Milliseconds (of CPU, by default) of each engine on each query, the engines interleaved query by query
    (their order rotated)."""
    names = list(engines)
    times: dict[str, list[float]] = {name: [] for name in names}
    for n, query in enumerate(queries):
        for name in names[n % len(names):] + names[:n % len(names)]:
            started = clock()
            engines[name](query)
            times[name].append((clock() - started) * 1000)
    return times


def _p50_p95(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def _queries(world: ProceduralWorld, n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    entities = world.meta["graph"]["entities"]
    words = ("population", "revenue", "chief executive", "headquartered", "founding year", "melting point",
             "workforce", "unit price", "mayor", "organised")
    return [f"{rng.choice(entities)['name']} {rng.choice(words)}" for _ in range(n)]


def _words(query: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(query)]


def _indexed_texts(world: ProceduralWorld) -> list[str]:
    """Paragraph texts as drgym indexes them: a page's title with its first paragraph."""
    return [f"{page.title}\n{text}" if number == 0 else text
            for page in world.corpus for number, text in enumerate(page.paragraphs)]


def _baseline_rows(texts: list[str], queries: list[str], raw: Callable[[str], object],
                   drgym_p50: float) -> list[tuple[str, str, str]]:
    """bm25s and rank_bm25 on the same paragraphs, interleaved with raw tantivy (their indexes freed on return)."""
    import bm25s
    from rank_bm25 import BM25Okapi

    started = time.perf_counter()
    bm25s_index = bm25s.BM25()
    bm25s_index.index(bm25s.tokenize(texts, stopwords=None, show_progress=False), show_progress=False)
    bm25s_built = time.perf_counter() - started
    vocabulary = bm25s_index.vocab_dict

    def bm25s_search(query: str):  # bm25s takes the words it knows (its tokenizer drops one-letter words)
        return bm25s_index.retrieve([[w for w in _words(query) if w in vocabulary]], k=K, show_progress=False)

    started = time.perf_counter()
    tokenized = [_words(text) for text in texts]
    rank_index = BM25Okapi(tokenized)
    rank_built = time.perf_counter() - started
    times = _times_ms({"raw": raw, "bm25s": bm25s_search,
                       "rank_bm25": lambda q: rank_index.get_top_n(_words(q), tokenized, n=K)}, queries)
    raw_p50, _ = _p50_p95(times["raw"])
    rows = []
    for name, built_s in (("bm25s", bm25s_built), ("rank_bm25", rank_built)):
        p50, p95 = _p50_p95(times[name])
        rows.append((f"{name} (same paragraphs, {len(queries)} queries)", f"p50 {p50:.2f} ms, p95 {p95:.2f} ms",
                     f"{p50 / raw_p50:,.0f}× raw; drgym is {p50 / drgym_p50:,.0f}× faster; build {built_s:.1f} s"))
    return rows


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=100_000, help="pages of the benchmark world")
    parser.add_argument("--queries", type=int, default=1000, help="queries timed for drgym and raw tantivy")
    parser.add_argument("--baseline-queries", type=int, default=20, help="queries timed for bm25s and rank_bm25")
    parser.add_argument("--dense-pages", type=int, default=600, help="pages of the world used for hybrid search")
    parser.add_argument("--processes", type=int, default=8, help="processes sharing one index")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build (default: a temp folder)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="drgym-perf-"))
    rows: list[tuple[str, str, str]] = [("load average (1 / 5 / 15 min) at start", load_average(), f"{os.cpu_count()} cores")]

    started = time.perf_counter()
    world = ProceduralWorld.build(workdir / "world", WorldSpec(seed=101, pages=args.pages, n_deep_search=10,
                                                               n_deep_research=5), index=False)
    generated = time.perf_counter()
    index = SearchIndex.build(world.corpus, world.path / "index")
    indexed = time.perf_counter()
    n_pages, n_paragraphs = len(world.corpus), len(index)
    rows.append(("world", f"{n_pages:,} pages, {n_paragraphs:,} paragraphs", ""))
    rows.append(("generate + render + save", f"{n_pages / (generated - started):,.0f} pages/s",
                 f"{generated - started:.1f} s"))
    rows.append(("BM25 index build (tantivy, 1 writer thread)", f"{n_paragraphs / (indexed - generated):,.0f} paragraphs/s",
                 f"{indexed - generated:.1f} s"))
    rows.append(("world + BM25 index", f"{n_pages / (indexed - started):,.0f} pages/s", "target ≥ 2,000 pages/s"))

    # raw tantivy: the same index files, opened without drgym, the same query text through the same parser; drgym's
    # index opened from those files too, as an environment opens it (not the object the build returned, whose
    # process holds what the build left)
    raw_index = tantivy.Index.open(str(world.path / "index" / "tantivy"))
    opened = SearchIndex.load(world.path / "index", Corpus.load(world.path))
    raw_searcher = raw_index.searcher()

    def raw(query: str):
        parsed, _ = raw_index.parse_query_lenient(" ".join(_words(query)), ["text"])
        return raw_searcher.search(parsed, K, count=False).hits

    def raw_ids(query: str) -> list[int]:
        return raw_searcher.fast_field_values("pid", [address for _, address in raw(query)])

    queries = _queries(world, args.queries)
    engines = {"raw": raw, "raw_ids": raw_ids, "drgym": lambda q: opened.search(q, K)}
    _times_ms(engines, queries[:50])  # warm the page cache and the readers
    times = _times_ms(engines, queries)
    raw_p50, raw_p95 = _p50_p95(times["raw"])
    ids_p50, ids_p95 = _p50_p95(times["raw_ids"])
    drgym_p50, drgym_p95 = _p50_p95(times["drgym"])
    rows.append(("raw tantivy: parse + top 10 (score, address)", f"p50 {raw_p50:.3f} ms, p95 {raw_p95:.3f} ms",
                 "1.00× (the reference)"))
    rows.append(("raw tantivy + paragraph ids (pid fast field)", f"p50 {ids_p50:.3f} ms, p95 {ids_p95:.3f} ms",
                 f"{ids_p50 / raw_p50:.2f}× raw"))
    rows.append(("drgym BM25 search (k=10, authority re-rank, hits with text)",
                 f"p50 {drgym_p50:.3f} ms, p95 {drgym_p95:.3f} ms",
                 f"{drgym_p50 / raw_p50:.2f}× raw, {drgym_p50 / ids_p50:.2f}× raw + ids (target ≤ 1.3×, p50 ≤ 1 ms)"))

    # the same top 10 as the engine when authority is off (drgym's hits mapped back to paragraph ids)
    para_row, para_idx = np.load(world.path / "index" / "para_row.npy"), np.load(world.path / "index" / "para_idx.npy")
    url_row = {url: row for row, url in enumerate(world.corpus.column("url").to_pylist())}
    flat = SearchIndex.load(world.path / "index", world.corpus, ranking=RankingConfig(authority_weight=0.0))
    same = sum([(int(para_row[pid]), int(para_idx[pid])) for pid in raw_ids(q)]
               == [(url_row[h.url], h.paragraph_index) for h in flat.search(q, K)] for q in queries)
    rows.append(("same top 10 as raw tantivy (authority weight 0)", f"{same}/{len(queries)} queries", ""))

    rows += _baseline_rows(_indexed_texts(world), queries[: args.baseline_queries], raw, drgym_p50)
    rows.append(("load average (1 / 5 / 15 min) after search", load_average(), ""))

    one = _processes_pss_mib(world.path, 1, queries[:100])
    many = _processes_pss_mib(world.path, args.processes, queries[:100])
    rows.append((f"memory (PSS) of 1 process / {args.processes} processes", f"{one:,.0f} MiB / {many:,.0f} MiB",
                 f"{many / one:.2f}× (target ≤ 1.5×)"))
    rows.append(("memory added by each further process", f"{(many - one) / max(1, args.processes - 1):,.0f} MiB",
                 "the interpreter and libraries; pages and index are shared"))

    small = ProceduralWorld.build(workdir / "dense", WorldSpec(seed=102, pages=args.dense_pages, n_deep_search=5,
                                                               n_deep_research=2), index=False)
    dense_started = time.perf_counter()
    hybrid = SearchIndex.build(small.corpus, small.path / "index", dense=True)
    dense_built = time.perf_counter() - dense_started
    dense_queries = _queries(small, 200, seed=1)
    for query in dense_queries[:10]:
        hybrid.search(query, 10, mode="hybrid")
    h50, h95 = _p50_p95(_times_ms({"hybrid": lambda q: hybrid.search(q, 10, mode="hybrid")}, dense_queries,
                                  clock=time.perf_counter)["hybrid"])
    rows.append((f"hybrid search ({len(hybrid):,} paragraphs embedded)", f"p50 {h50:.1f} ms, p95 {h95:.1f} ms",
                 f"wall clock (torch uses every core); target p50 ≤ 20 ms; embedding "
                 f"{len(hybrid) / dense_built:,.0f} paragraphs/s"))
    rows.append(("load average (1 / 5 / 15 min) at end", load_average(), ""))

    return print_figures(rows, title="drgym search benchmark")


if __name__ == "__main__":
    main()
