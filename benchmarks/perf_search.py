"""Search performance of drgym's offline web, against rank_bm25 on the same paragraphs, in one process.

    python -m drgym.benchmarks.perf_search --pages 100000

Measures: world generation + BM25 index build rate; BM25 search latency p50/p95 (drgym/tantivy vs rank_bm25);
hybrid (BM25 + MiniLM) latency on a smaller world (embedding is ~100 paragraphs/s on 2 cores, so it is built
for `--dense-pages` pages only); and memory (proportional set size, PSS) of N processes that open the same
memory-mapped corpus and index, against one. Prints one table of figures and ratios.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.web.index import SearchIndex

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


def _latencies_ms(search, queries: list[str]) -> tuple[float, float]:
    timings = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(0.95 * (len(timings) - 1))]


def _queries(world: ProceduralWorld, n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    entities = world.meta["graph"]["entities"]
    words = ("population", "revenue", "chief executive", "headquartered", "founding year", "melting point",
             "workforce", "unit price", "mayor", "organised")
    return [f"{rng.choice(entities)['name']} {rng.choice(words)}" for _ in range(n)]


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=100_000, help="pages of the benchmark world")
    parser.add_argument("--queries", type=int, default=1000, help="queries timed for drgym")
    parser.add_argument("--baseline-queries", type=int, default=20, help="queries timed for rank_bm25 (slow)")
    parser.add_argument("--dense-pages", type=int, default=600, help="pages of the world used for hybrid search")
    parser.add_argument("--processes", type=int, default=8, help="processes sharing one index")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build (default: a temp folder)")
    args = parser.parse_args(argv)
    console = Console()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="drgym-perf-"))
    rows: list[tuple[str, str, str]] = []

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

    queries = _queries(world, args.queries)
    for query in queries[:50]:  # warm the page cache and tantivy's readers
        index.search(query, 10)
    p50, p95 = _latencies_ms(lambda q: index.search(q, 10), queries)
    rows.append(("drgym BM25 search (k=10, authority re-rank)", f"p50 {p50:.3f} ms, p95 {p95:.3f} ms",
                 "target p50 ≤ 1 ms"))

    from rank_bm25 import BM25Okapi

    tokenized = [p.lower().split() for page in world.corpus for p in page.paragraphs]
    baseline_started = time.perf_counter()
    baseline = BM25Okapi(tokenized)
    baseline_built = time.perf_counter() - baseline_started
    base_queries = queries[: args.baseline_queries]
    base_p50, base_p95 = _latencies_ms(lambda q: baseline.get_top_n(q.lower().split(), tokenized, n=10), base_queries)
    drgym_p50, _ = _latencies_ms(lambda q: index.search(q, 10), base_queries)
    rows.append(("rank_bm25 search (same paragraphs)", f"p50 {base_p50:.1f} ms, p95 {base_p95:.1f} ms",
                 f"build {baseline_built:.1f} s"))
    rows.append(("speed-up over rank_bm25 (same queries)", f"{base_p50 / drgym_p50:,.0f}×", "target ≥ 100×"))

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
    h50, h95 = _latencies_ms(lambda q: hybrid.search(q, 10, mode="hybrid"), dense_queries)
    rows.append((f"hybrid search ({len(hybrid):,} paragraphs embedded)", f"p50 {h50:.1f} ms, p95 {h95:.1f} ms",
                 f"target p50 ≤ 20 ms; embedding {len(hybrid) / dense_built:,.0f} paragraphs/s"))

    table = Table("measure", "figure", "note", title="drgym search benchmark", title_justify="left")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return rows


if __name__ == "__main__":
    main()
