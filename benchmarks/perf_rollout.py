"""Rollout throughput with the scripted researcher: episodes/s of 1, 2 and 4 workers, without and with their
start-up, worker processes against Ray actors.

    python -m drgym.benchmarks.perf_rollout --suite procedural:easy --episodes 200

Each row starts a `RolloutPool` (timed: the start-up), plays the episodes on it (timed: the run) and closes it.
1 worker runs in this process (no start-up but its environment's); more are processes forked from the
forkserver, whose own first start (it imports the environment's modules once per parent process) is timed apart.
The speed-up is against 1 worker of the same backend, in the same run; the machine load is printed beside each row.
On a shared machine the wall-clock figures move with the load, so each row also gives the CPU time the run took per
episode (this process plus the workers, from /proc on Linux): flat from 1 to N workers means the only limit to
scaling is the number of free cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from drgym.agents import ScriptedResearcher
from drgym.agents.rollout import RolloutPool
from drgym.agents.trajectories import read_trajectories
from drgym.tasks.suites import load_suite


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="procedural:easy")
    parser.add_argument("--env", default="drgym/DeepResearch-v0")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--backends", nargs="+", default=["processes", "ray"])
    args = parser.parse_args(argv)
    console = Console(width=110)
    load_suite(args.suite)  # build the world once, outside the timings
    if "processes" in args.backends and any(workers > 1 for workers in args.workers):
        started = time.perf_counter()
        with RolloutPool(args.env, ScriptedResearcher, n_workers=2, env_kwargs={"tasks": args.suite}) as pool:
            pool.start()
        console.print(f"first start of 2 worker processes in this process: {time.perf_counter() - started:.2f} s "
                      "(the forkserver imports the environment's modules once; the rows below fork from it)")
    table = Table("backend", "workers", "start-up s", "episodes/s", "with start-up", "speed-up", "CPU ms/episode",
                  "env ms/step", "load before → after",
                  title=f"rollouts: {args.episodes} episodes of {args.env} on {args.suite}, scripted researcher",
                  title_justify="left")
    folder = Path(tempfile.mkdtemp(prefix="drgym-rollout-"))
    rows: list[tuple[str, str, str]] = []
    for backend in args.backends:
        reference = None
        for workers in args.workers:
            out = folder / f"{backend}-{workers}.jsonl"
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            with RolloutPool(args.env, ScriptedResearcher, n_workers=workers, backend=backend,
                             env_kwargs={"tasks": args.suite}) as pool:
                pool.start()
                pids = {int(worker_id.split("@")[0]) for worker_id in pool.worker_ids} - {os.getpid()}
                cpu_before = time.process_time() + sum(_cpu_seconds(pid) for pid in pids)
                ready = time.perf_counter()
                summary = pool.run(n_episodes=args.episodes, out=out, show_progress=False)
                finished = time.perf_counter()
                cpu_ms = (time.process_time() + sum(_cpu_seconds(pid) for pid in pids) - cpu_before) \
                    / args.episodes * 1000
            start_s, run_s = ready - started, finished - ready
            rate, rate_with_start = args.episodes / run_s, args.episodes / (start_s + run_s)
            reference = reference or rate
            steps = [step for record in read_trajectories(out) for step in record["steps"]]
            load = f"{load_before:.2f} → {os.getloadavg()[0]:.2f}"
            table.add_row(backend, str(workers), f"{start_s:.2f}", f"{rate:.1f}", f"{rate_with_start:.1f}",
                          f"{rate / reference:.2f}×", f"{cpu_ms:.1f}",
                          f"{statistics.median(s['env_s'] for s in steps) * 1000:.2f}", load)
            rows.append((f"rollout, {backend} × {workers}", f"{rate:.1f} episodes/s ({rate / reference:.2f}× of 1)",
                         f"{rate_with_start:.1f}/s with {start_s:.2f} s start-up; {cpu_ms:.1f} CPU ms/episode; mean reward "
                         f"{summary.mean_reward:.3f}; load {load}"))
    console.print(table)
    console.print(f"the machine has {os.cpu_count()} CPUs; load is os.getloadavg()[0] before → after each row")
    return rows


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; 0 where /proc/PID/stat is unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
