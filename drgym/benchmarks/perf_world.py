"""World build: pages per second and peak memory against the page count (the goal: flat memory).

    python -m drgym.benchmarks.perf_world                      # 10k, 50k and 200k pages
    python -m drgym.benchmarks.perf_world --pages 10000 50000

Each size is built by `ProceduralWorld.build` (render, corpus, charts, statements, tasks and the search index)
in a fresh subprocess, which reports its own peak resident memory (``ru_maxrss``) and its build time. The
reference row is the same kind of subprocess building an 80-page world: the interpreter with drgym, numpy,
pyarrow and tantivy loaded, which every build pays. Memory per page is what a size costs above that floor;
flat memory means it falls towards zero as the world grows. The load average is printed beside the figures.
A second table gives each phase's peak (generate the graph, render, sort the statements, synthesise tasks, index,
charts): the child notes when each phase starts from the build's DEBUG log (`drgym.tasks.procedural.BUILD_PHASE`),
and this process reads the child's resident and anonymous memory every 5 ms (from /proc, so that the measuring takes
no memory in the build).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import drgym
from drgym.tasks.procedural import BUILD_PHASE

REFERENCE_PAGES = 80


def _memory_kib(pid: int) -> tuple[int, int]:
    """A process's resident memory and the part of it that is no file's (VmRSS, RssAnon): the anonymous part is what
    the build itself holds, without the pages of memory-mapped files it has read (those count in RSS but are the
    page cache's). (0, 0) once the process is gone."""
    rss = anonymous = 0
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0, 0
    for line in lines:
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("RssAnon:"):
            anonymous = int(line.split()[1])
    return rss, anonymous


class _PhaseLog(logging.Handler):
    """Notes when each of `ProceduralWorld.build`'s phases starts (`time.monotonic`), from its DEBUG messages
    (`drgym.tasks.procedural.BUILD_PHASE`). It only appends to a list that was made beforehand: the build's memory is
    read from outside (`measure`), as a thread sampling it inside kept objects that held Python's memory pools (~15
    MiB at 200k pages once the graph was freed)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.starts: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == BUILD_PHASE and record.args:
            self.starts.append((str(record.args[0]), time.monotonic()))


def _child(pages: int, folder: Path) -> dict:
    from drgym.tasks.procedural import ProceduralWorld, WorldSpec

    phases = _PhaseLog()
    build_logger = logging.getLogger("drgym.tasks.procedural")
    level, propagate = build_logger.level, build_logger.propagate
    build_logger.addHandler(phases)
    build_logger.setLevel(logging.DEBUG)
    build_logger.propagate = False  # the phase messages are for `phases` only
    started = time.perf_counter()
    cpu_started = time.process_time()
    try:
        world = ProceduralWorld.build(folder / "w", WorldSpec(seed=5, pages=pages, n_deep_search=40,
                                                              n_deep_research=20), show_progress=False)
    finally:
        ended = time.monotonic()
        wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        build_logger.removeHandler(phases)
        build_logger.setLevel(level)
        build_logger.propagate = propagate
    # the peak before anything is read back: world.meta parses the whole graph (+88 MiB at 200k pages), no part of
    # the build
    peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"pages": len(world.corpus), "paragraphs": world.corpus.n_paragraphs, "wall_s": wall_s, "cpu_s": cpu_s,
            "peak_rss_kib": peak_rss_kib, "load": os.getloadavg()[0], "phase_starts": phases.starts, "ended": ended}


def _phase_peaks(samples: list[tuple[float, int, int]], starts: list[tuple[str, float]],
                 ended: float) -> dict[str, list[int]]:
    """Each phase's highest (RSS, anonymous) among the samples (time, RSS, anonymous) taken while it ran; a phase
    that ran between two samples gets the later one (memory freed as it ended may read lower)."""
    peaks: dict[str, list[int]] = {}
    bounds = [*(start for _, start in starts[1:]), ended]
    for (name, start), end in zip(starts, bounds):
        during = [(rss, anonymous) for at, rss, anonymous in samples if start <= at <= end and rss]
        if not during:
            during = [(rss, anonymous) for at, rss, anonymous in samples if at >= start and rss][:1]
        if during:
            peaks[name] = [max(rss for rss, _ in during), max(anonymous for _, anonymous in during)]
    return peaks


def measure(pages: int) -> dict:
    """Builds a world of about `pages` pages in a fresh subprocess; its figures (see `_child`), with the peaks of its
    resident and anonymous memory read from here (/proc/PID/status every 5 ms) for the build and each phase."""
    folder = Path(tempfile.mkdtemp(prefix="drgym-perf-world-"))
    # the child imports the drgym this process runs (a checkout or an installed one alike)
    import_path = os.pathsep.join(filter(None, [str(Path(drgym.__file__).resolve().parents[1]),
                                                os.environ.get("PYTHONPATH")]))
    samples: list[tuple[float, int, int]] = []
    try:
        with tempfile.TemporaryFile("w+") as stderr:
            child = subprocess.Popen([sys.executable, "-m", "drgym.benchmarks.perf_world", "--child", str(pages),
                                      "--folder", str(folder)], stdout=subprocess.PIPE, stderr=stderr, text=True,
                                     env={**os.environ, "PYTHONPATH": import_path})

            def sample() -> None:  # every 5 ms: the shortest phases last tenths of a second
                while child.poll() is None:
                    samples.append((time.monotonic(), *_memory_kib(child.pid)))
                    time.sleep(0.005)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            out, _ = child.communicate()
            sampler.join()
            if child.returncode != 0:
                stderr.seek(0)
                raise RuntimeError(f"building {pages:,} pages failed:\n{stderr.read()[-3000:]}")
        result = json.loads(out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    starts = [(name, start) for name, start in result.pop("phase_starts")]
    result["phases"] = _phase_peaks(samples, starts, result.pop("ended"))
    result["peak_anonymous_kib"] = max((anonymous for _, anonymous in result["phases"].values()), default=0)
    return result


def _phase_table(rows: list[dict]) -> Table:
    """Each phase's peak resident / anonymous memory at each size; a size's highest RSS is marked."""
    table = Table("phase", *(f"{row['pages']:,} pages: RSS / anon MiB" for row in rows),
                  title="peak memory by phase of the build (sampled every 5 ms)", title_justify="left")
    names = list(dict.fromkeys(name for row in rows for name in row["phases"]))
    tops = [max(row["phases"].values(), default=[0, 0])[0] for row in rows]
    for name in names:
        cells = []
        for row, top in zip(rows, tops):
            rss, anonymous = row["phases"].get(name, (0, 0))
            cell = f"{rss / 1024:.0f} / {anonymous / 1024:.0f}" if rss else ""
            cells.append(f"[bold]{cell}[/bold] (peak)" if rss and rss == top else cell)
        table.add_row(name, *cells)
    return table


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(_child(args.child, args.folder)))
        return []
    if any(pages < 100 for pages in args.pages):
        parser.error(f"--pages: at least 100 pages per world, got {min(args.pages)}")
    reference = measure(REFERENCE_PAGES)
    floor_kib = reference["peak_rss_kib"]
    table = Table("pages", "paragraphs", "build s (wall)", "pages/s (CPU)", "peak RSS MiB",
                  "RSS above floor, KiB/page", "peak anonymous MiB", "load (1 min)",
                  title="world build (ProceduralWorld.build, index included), one subprocess per size",
                  title_justify="left")
    table.add_row(f"{reference['pages']:,} (reference)", f"{reference['paragraphs']:,}", f"{reference['wall_s']:.2f}",
                  "", f"{floor_kib / 1024:.0f}", "", f"{reference['peak_anonymous_kib'] / 1024:.0f}",
                  f"{reference['load']:.1f}")
    rows = []
    for pages in args.pages:
        row = measure(pages)
        rows.append(row)
        table.add_row(f"{row['pages']:,}", f"{row['paragraphs']:,}", f"{row['wall_s']:.1f}",
                      f"{row['pages'] / row['cpu_s']:,.0f}", f"{row['peak_rss_kib'] / 1024:.0f}",
                      f"{(row['peak_rss_kib'] - floor_kib) / row['pages']:.2f}",
                      f"{row['peak_anonymous_kib'] / 1024:.0f}", f"{row['load']:.1f}")
    console = Console(width=160)
    console.print(table)
    console.print(_phase_table(rows))
    figures = [(f"world build, {row['pages']:,} pages", f"{row['pages'] / row['cpu_s']:,.0f} pages/s (CPU), peak RSS "
                f"{row['peak_rss_kib'] / 1024:,.0f} MiB", f"anonymous {row['peak_anonymous_kib'] / 1024:,.0f} MiB, "
                f"load {row['load']:.1f}") for row in rows]
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = (f"{last['pages'] / first['pages']:.0f}× the pages: peak RSS "
                  f"{last['peak_rss_kib'] / first['peak_rss_kib']:.2f}×, anonymous "
                  f"{last['peak_anonymous_kib'] / first['peak_anonymous_kib']:.2f}×")
        console.print(f"{last['pages']:,} pages against {first['pages']:,}: {growth} (flat = 1.00×); "
                      f"load {os.getloadavg()[0]:.1f}")
        figures.append(("world build memory growth", growth, "flat = 1.00×"))
    return figures


if __name__ == "__main__":
    main()
