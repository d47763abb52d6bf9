"""Sizing and speed of the sharded index against one index, on a synthetic corpus.

    python -m drgym.benchmarks.perf_shards --paragraphs 200000 --shards 4

The corpus: pages of 5 paragraphs of 20–80 words drawn from a Zipf vocabulary of 50,000 words (like prose, where a
few words are everywhere and most are rare). Figures:

* **disk**: the corpus (``pages.arrow``, text only) and the BM25 index, in bytes per paragraph and extrapolated to a
  million paragraphs (labelled as such); the MiniLM vectors are 384 float32 = 1,536 bytes per paragraph, exactly;
* **memory**: resident set (RSS) and proportional set (PSS) of a fresh process that opened the shards and answered
  the queries; pages and index are memory-mapped, so this is what the page cache keeps hot for these queries;
* **build**: one index, and the shards in parallel processes;
* **queries**: p50/p95 of one index and of the shards in this process, query by query in turn, and how many
  queries gave the identical top 10 (they all should).

The load average is printed beside the figures.
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

import numpy as np

from drgym.benchmarks.figures import load_average, print_figures
from drgym.web.corpus import Corpus, Page
from drgym.web.index import SearchIndex
from drgym.web.shards import ShardedIndex, build_shards

_MEMORY = """
import sys
from drgym.web.shards import ShardedIndex
index = ShardedIndex.open(sys.argv[1])
for query in sys.argv[2:]:
    index.search(query, 10)
fields = dict(line.split(":", 1) for line in open("/proc/self/smaps_rollup").read().splitlines()[1:])
print(int(fields["Rss"].split()[0]), int(fields["Pss"].split()[0]))
"""
VOCABULARY = 50_000
PARAGRAPHS_PER_PAGE = 5


def _folder_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def _corpus(n_paragraphs: int, seed: int) -> Corpus:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(VOCABULARY)])
    ranks = np.minimum(rng.zipf(1.1, size=n_paragraphs * 80), VOCABULARY) - 1
    lengths = rng.integers(20, 81, size=n_paragraphs)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    texts = [" ".join(words[ranks[starts[i]:starts[i + 1]]]) + "." for i in range(n_paragraphs)]
    pages = [Page(f"https://site{p % 97}.example/page/{p}", f"site{p % 97}.example", f"Page {p}",
                  f"20{10 + p % 15}-01-01", 1 + p % 3, tuple(texts[p * PARAGRAPHS_PER_PAGE:(p + 1) * PARAGRAPHS_PER_PAGE]))
             for p in range(n_paragraphs // PARAGRAPHS_PER_PAGE)]
    return Corpus.from_pages(pages, name="synthetic")


def _p50_p95(values_ms: list[float]) -> str:
    ordered = sorted(values_ms)
    return f"p50 {statistics.median(ordered):.2f} ms, p95 {ordered[int(0.95 * (len(ordered) - 1))]:.2f} ms"


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paragraphs", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None, help="processes building shards (default: cores)")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args(argv)
    rows: list[tuple[str, str, str]] = [("load average (1 / 5 / 15 min) at start", load_average(), "")]
    workdir = Path(tempfile.mkdtemp(prefix="drgym-perf-shards-"))
    started = time.perf_counter()
    corpus = _corpus(args.paragraphs, seed=0)
    corpus.save(workdir / "corpus")
    n = corpus.n_paragraphs
    rows.append((f"synthetic corpus: {len(corpus):,} pages, {n:,} paragraphs", f"{time.perf_counter() - started:.1f} s",
                 "generated and saved"))
    corpus = Corpus.load(workdir / "corpus")

    started = time.perf_counter()
    single = SearchIndex.build(corpus, show_progress=False)
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    shards = build_shards(workdir / "corpus", workdir / "shards", n_shards=args.shards, workers=args.workers,
                          show_progress=False)
    shards_s = time.perf_counter() - started
    rows.append(("build: one index", f"{single_s:.1f} s", f"{n / single_s:,.0f} paragraphs/s"))
    rows.append((f"build: {args.shards} shards in parallel processes", f"{shards_s:.1f} s",
                 f"{n / shards_s:,.0f} paragraphs/s (splitting, indexing, counting tokens)"))

    pages_bytes = (workdir / "corpus" / "pages.arrow").stat().st_size
    index_bytes = _folder_bytes(workdir / "corpus" / "index")
    shards_bytes = _folder_bytes(shards)
    for label, size in (("corpus pages (text)", pages_bytes), ("one BM25 index", index_bytes),
                        (f"{args.shards} shards (pages + BM25 index each)", shards_bytes)):
        rows.append((f"disk: {label}", f"{size / 2**20:,.1f} MiB",
                     f"{size / n:,.0f} B/paragraph → {size / n * 1e6 / 2**30:,.2f} GiB per million (extrapolated)"))
    rows.append(("disk: MiniLM vectors (dense=True)", "1,536 B/paragraph", "1.43 GiB per million (384 float32)"))

    rng = random.Random(1)
    vocabulary = [f"w{int(rank)}" for rank in np.minimum(np.random.default_rng(2).zipf(1.1, 5000), VOCABULARY) - 1]
    queries = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 5))) for _ in range(args.queries)]
    sharded = ShardedIndex.open(shards)
    times: dict[str, list[float]] = {"one": [], "shards": []}
    identical = 0
    for query in queries:
        began = time.perf_counter()
        expected = single.search(query, 10)
        times["one"].append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        got = sharded.search(query, 10)
        times["shards"].append((time.perf_counter() - began) * 1000)
        identical += [(h.url, h.paragraph_index) for h in got] == [(h.url, h.paragraph_index) for h in expected]
    rows.append(("query: one index", _p50_p95(times["one"]), "wall clock, this process"))
    rows.append((f"query: {args.shards} shards in this process", _p50_p95(times["shards"]),
                 f"{statistics.median(times['shards']) / statistics.median(times['one']):.1f}× one index (p50); "
                 f"identical top 10 in {identical} of {len(queries)}"))

    done = subprocess.run([sys.executable, "-c", _MEMORY, str(shards), *queries[:100]], check=True,
                          capture_output=True, text=True)
    rss_kib, pss_kib = (int(x) for x in done.stdout.split())
    rows.append(("memory: process with the shards open, 100 queries", f"RSS {rss_kib / 1024:,.0f} MiB, "
                 f"PSS {pss_kib / 1024:,.0f} MiB", f"corpus + index on disk: {shards_bytes / 2**20:,.0f} MiB "
                 "(memory-mapped: the page cache holds what queries touch)"))
    rows.append(("load average (1 / 5 / 15 min) at end", load_average(), ""))
    return print_figures(rows, title="drgym sharded index benchmark")


if __name__ == "__main__":
    main()
