"""Rollout throughput with the scripted researcher: episodes/s and environment time per step for 1, 4 and 16
workers, worker processes against Ray actors.

    python -m drgym.benchmarks.perf_rollout --suite procedural:easy --episodes 64
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from drgym.agents import ScriptedResearcher
from drgym.agents.rollout import rollout
from drgym.agents.trajectories import read_trajectories
from drgym.tasks.suites import load_suite


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="procedural:easy")
    parser.add_argument("--env", default="drgym/DeepResearch-v0")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--backends", nargs="+", default=["processes", "ray"])
    args = parser.parse_args(argv)
    load_suite(args.suite)  # build the world once, outside the timings
    table = Table("backend", "workers", "episodes/s", "env ms/step (median)", "policy ms/step (median)",
                  "mean reward", title=f"rollouts: {args.env} on {args.suite}, scripted researcher",
                  title_justify="left")
    folder = Path(tempfile.mkdtemp(prefix="drgym-rollout-"))
    rows: list[tuple[str, str, str]] = []
    for backend in args.backends:
        for workers in args.workers:
            out = folder / f"{backend}-{workers}.jsonl"
            started = time.perf_counter()
            summary = rollout(args.env, ScriptedResearcher, n_episodes=args.episodes, out=out, n_workers=workers,
                              backend=backend, env_kwargs={"tasks": args.suite}, show_progress=False)
            elapsed = time.perf_counter() - started
            steps = [step for record in read_trajectories(out) for step in record["steps"]]
            table.add_row(backend, str(workers), f"{args.episodes / elapsed:.1f}",
                          f"{statistics.median(s['env_s'] for s in steps) * 1000:.2f}",
                          f"{statistics.median(s['policy_s'] for s in steps) * 1000:.2f}", f"{summary.mean_reward:.3f}")
            rows.append((f"rollout, {backend} × {workers}", f"{args.episodes / elapsed:.1f} episodes/s",
                         f"mean reward {summary.mean_reward:.3f}, worker start-up included"))
    Console().print(table)
    Console().print("episodes/s include starting the workers (processes: spawn; Ray: a local cluster).")
    return rows


if __name__ == "__main__":
    main()
