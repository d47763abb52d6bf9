"""`drgym bench perf`: the performance benchmarks of drgym in one run, with one table of figures and ratios.

    drgym bench perf            # full sizes (the README's figures; tens of minutes on 2 cores)
    drgym bench perf --quick    # small sizes, a few minutes: a smoke check of every figure

Each figure comes from the benchmark script named in its row; run the script alone for its full table.
"""

from __future__ import annotations

from collections.abc import Callable

from drgym.benchmarks import (
    perf_env,
    perf_ingest,
    perf_judge,
    perf_rollout,
    perf_search,
    perf_workers,
    perf_world,
)

__all__ = ["BENCHMARKS", "run_all"]

BENCHMARKS: dict[str, tuple[Callable[[list[str]], list[tuple[str, str, str]]], list[str], list[str]]] = {
    # name: (main, full arguments, quick arguments)
    "search": (perf_search.main, [], ["--pages", "5000", "--queries", "300", "--baseline-queries", "10",
                                      "--dense-pages", "150", "--processes", "4"]),
    "env": (perf_env.main, [], ["--steps", "40", "--vector-steps", "10", "--sizes", "1", "8", "--long-steps", "300"]),
    "workers": (perf_workers.main, [], ["--repeats", "2", "--processes", "4", "--episodes-per-worker", "1"]),
    "judge": (perf_judge.main, [], ["--tasks", "20", "--rounds", "2"]),
    "rollout": (perf_rollout.main, [], ["--episodes", "24", "--workers", "1", "2", "--backends", "processes"]),
    "ingest": (perf_ingest.main, [], ["--pages", "120"]),
    "world": (perf_world.main, [], ["--pages", "2000", "10000"]),
}


def run_all(*, quick: bool = False, only: list[str] | None = None) -> list[tuple[str, str, str, str]]:
    """Runs the benchmarks (all, or those in `only`) and returns (benchmark, measure, figure, note) rows."""
    rows = []
    for name, (main, full, small) in BENCHMARKS.items():
        if only and name not in only:
            continue
        for measure, figure, note in main(small if quick else full):
            rows.append((f"perf_{name}", measure, figure, note))
    return rows
