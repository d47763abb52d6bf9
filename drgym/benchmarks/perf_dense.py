"""Dense (MiniLM) encoding: onnxruntime against torch (sentence-transformers), in one run.

    python -m drgym.benchmarks.perf_dense --paragraphs 2000 --queries 200

On the paragraphs of a procedural world (as the index embeds them):

* **index-time encoding**, paragraphs/s: both back-ends encode the same paragraphs in alternating chunks of 256,
  so a load change on a shared machine hits both alike; ratio onnx / torch;
* **agreement**: the least and mean cosine between the two back-ends' vectors of each paragraph;
* **per-query latency**: ``encode_query`` (onnx: one thread; torch: its own thread count, which drgym no
  longer changes), alternating query by query, p50 and p95 wall ms;
* **start-up**: a fresh interpreter that imports the back-end, loads the model and encodes one query (wall s);
* **CLI hybrid query**: ``drgym web search QUERY --corpus WORLD --mode hybrid``, the whole command (wall s).

The load average is printed beside the figures: on a busy machine every figure is slower, ratios less so.
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
from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.web.dense import DenseEncoder, export_onnx
from drgym.web.index import SearchIndex

_STARTUP = """
import time
started = time.perf_counter()
from drgym.web.dense import DenseEncoder
DenseEncoder(backend={backend!r}).encode_query("Kelvaport population census")
print(time.perf_counter() - started)
"""
CHUNK = 256


def _p50_p95(values_ms: list[float]) -> str:
    ordered = sorted(values_ms)
    return f"p50 {statistics.median(ordered):.1f} ms, p95 {ordered[int(0.95 * (len(ordered) - 1))]:.1f} ms"


def _startup_s(backend: str) -> tuple[float, float]:
    """(seconds inside the interpreter to the first query vector, wall seconds of the whole process)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _STARTUP.format(backend=backend)], check=True, capture_output=True,
                          text=True)
    return float(done.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paragraphs", type=int, default=2000, help="paragraphs encoded by each back-end")
    parser.add_argument("--queries", type=int, default=200, help="queries encoded by each back-end")
    parser.add_argument("--pages", type=int, default=400, help="pages of the world the paragraphs come from")
    args = parser.parse_args(argv)
    rows: list[tuple[str, str, str]] = [("load average (1 / 5 / 15 min) at start", load_average(), "")]
    workdir = Path(tempfile.mkdtemp(prefix="drgym-perf-dense-"))
    world = ProceduralWorld.build(workdir / "world", WorldSpec(seed=103, pages=args.pages, n_deep_search=5,
                                                               n_deep_research=2), index=False, show_progress=False)
    texts = [f"{page.title}\n{text}" if number == 0 else text
             for page in world.corpus for number, text in enumerate(page.paragraphs)]
    texts = (texts * (args.paragraphs // max(1, len(texts)) + 1))[:args.paragraphs]

    started = time.perf_counter()
    export_onnx()
    rows.append(("ONNX export (once per install; 0 when cached)", f"{time.perf_counter() - started:.1f} s", ""))

    encoders = {"onnx": DenseEncoder(backend="onnx"), "torch": DenseEncoder(backend="torch")}
    for encoder in encoders.values():  # load the models before timing
        encoder.encode(texts[:8])
    vectors = {name: np.empty((len(texts), 384), dtype=np.float32) for name in encoders}
    seconds = dict.fromkeys(encoders, 0.0)
    for start in range(0, len(texts), CHUNK):
        for name, encoder in encoders.items():
            began = time.perf_counter()
            vectors[name][start:start + CHUNK] = encoder.encode(texts[start:start + CHUNK])
            seconds[name] += time.perf_counter() - began
    rate = {name: len(texts) / seconds[name] for name in encoders}
    rows.append((f"index-time encoding, torch ({encoders['torch'].num_threads} threads)",
                 f"{rate['torch']:,.0f} paragraphs/s", f"{len(texts):,} paragraphs, mean {np.mean([len(t) for t in texts]):.0f} chars"))
    rows.append((f"index-time encoding, onnx ({encoders['onnx'].num_threads} threads)",
                 f"{rate['onnx']:,.0f} paragraphs/s", f"{rate['onnx'] / rate['torch']:.2f}× torch"))
    cosine = (vectors["onnx"] * vectors["torch"]).sum(axis=1)
    rows.append(("agreement onnx vs torch (cosine per paragraph)", f"min {cosine.min():.6f}, mean {cosine.mean():.6f}",
                 "target ≥ 0.999"))

    rng = random.Random(0)
    words = " ".join(texts[:200]).split()
    queries = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 6))) for _ in range(args.queries)]
    latency: dict[str, list[float]] = {name: [] for name in encoders}
    for query in queries:
        for name, encoder in encoders.items():
            began = time.perf_counter()
            encoder.encode_query(query)
            latency[name].append((time.perf_counter() - began) * 1000)
    for name in encoders:
        ratio = statistics.median(latency["torch"]) / statistics.median(latency[name])
        threads = "1 thread" if name == "onnx" else "torch's own thread count"
        rows.append((f"query encoding, {name} ({threads})", _p50_p95(latency[name]),
                     "" if name == "torch" else f"{ratio:.2f}× faster than torch (p50)"))

    for backend in ("torch", "onnx"):
        inside, wall = _startup_s(backend)
        rows.append((f"start-up to the first query vector, {backend}", f"{inside:.2f} s",
                     f"process wall {wall:.2f} s (interpreter, imports, model load)"))

    started = time.perf_counter()
    SearchIndex.build(world.corpus, world.path / "index", dense=True, show_progress=False)
    built = time.perf_counter() - started
    rows.append((f"index build with vectors ({world.corpus.n_paragraphs:,} paragraphs, onnx)", f"{built:.1f} s",
                 f"{world.corpus.n_paragraphs / built:,.0f} paragraphs/s including BM25"))
    cli = [sys.executable, "-m", "drgym", "web", "search", queries[0], "--corpus", str(world.path), "--mode", "hybrid"]
    started = time.perf_counter()
    subprocess.run(cli, check=True, capture_output=True)
    rows.append(("CLI: drgym web search … --mode hybrid", f"{time.perf_counter() - started:.2f} s",
                 "whole command, fresh process"))
    rows.append(("load average (1 / 5 / 15 min) at end", load_average(), ""))

    return print_figures(rows, title="drgym dense encoding benchmark")


if __name__ == "__main__":
    main()
