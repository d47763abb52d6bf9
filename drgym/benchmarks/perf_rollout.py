"""Rollout throughput with the scripted researcher: episodes/s of 1, 2 and 4 workers, without and with their
start-up, worker processes against Ray actors.

    python -m drgym.benchmarks.perf_rollout --suite procedural:easy --episodes 200

Each row starts a `RolloutPool` (timed: the start-up), plays the episodes on it (timed: the run) and closes it.
1 worker runs in this process (no start-up but its environment's); more are processes forked from the zygote,
whose own first start (it imports the environment's modules once per parent process) is timed apart.
The speed-up is against 1 worker of the same backend, in the same run; the machine load is printed beside each row.
With `--repeats N` every configuration runs N times, in interleaved rounds, and the fastest run of each is shown.
On a shared machine the wall-clock figures move with the load, so each row also gives the CPU time the run took per
episode (this process plus the workers, from /proc on Linux), and how the workers spent the run: running, waiting
for a CPU (other load) or idle (waiting for this process). Flat CPU per episode and idle near 0 mean the only limit
to scaling is the number of free cores.
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
from drgym.tasks.suites import load_suite


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="procedural:easy")
    parser.add_argument("--env", default="drgym/DeepResearch-v1")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--backends", nargs="+", default=["processes", "ray"])
    parser.add_argument("--repeats", type=int, default=1, help="rounds over every configuration; the best is shown")
    args = parser.parse_args(argv)
    console = Console(width=110)
    load_suite(args.suite)  # build the world once, outside the timings
    if "processes" in args.backends and any(workers > 1 for workers in args.workers):
        started = time.perf_counter()
        with RolloutPool(args.env, ScriptedResearcher, n_workers=2, env_kwargs={"tasks": args.suite}) as pool:
            pool.start()
        console.print(f"first start of 2 worker processes in this process: {time.perf_counter() - started:.2f} s "
                      "(the zygote imports the environment's modules once; the rows below fork from it)")
    folder = Path(tempfile.mkdtemp(prefix="drgym-rollout-"))
    configs = [(backend, workers) for backend in args.backends for workers in args.workers]
    best: dict[tuple[str, int], dict[str, float | str]] = {}
    for round_number in range(args.repeats):  # rounds interleave the configurations: a burst of load hits them alike
        for backend, workers in configs:
            out = folder / f"{backend}-{workers}-{round_number}.jsonl"
            measured = _measure(args.env, args.suite, backend, workers, args.episodes, out)
            if (backend, workers) not in best or measured["rate"] > best[backend, workers]["rate"]:
                best[backend, workers] = measured
    table = Table("backend", "workers", "start-up s", "episodes/s", "with start-up", "speed-up", "CPU ms/episode",
                  "worker: runs / waits for a CPU / idle", "load before → after",
                  title=f"rollouts: {args.episodes} episodes of {args.env} on {args.suite}, scripted researcher"
                        + (f", best of {args.repeats} rounds" if args.repeats > 1 else ""),
                  title_justify="left")
    rows: list[tuple[str, str, str]] = []
    for backend, workers in configs:
        m = best[backend, workers]
        speed_up = m["rate"] / best[backend, args.workers[0]]["rate"]
        table.add_row(backend, str(workers), f"{m['start_s']:.2f}", f"{m['rate']:.1f}", f"{m['rate_with_start']:.1f}",
                      f"{speed_up:.2f}×", f"{m['cpu_ms']:.1f}", str(m["time_shares"]), str(m["load"]))
        rows.append((f"rollout, {backend} × {workers}",
                     f"{m['rate']:.1f} episodes/s ({speed_up:.2f}× of {args.workers[0]})",
                     f"{m['rate_with_start']:.1f}/s with {m['start_s']:.2f} s start-up; {m['cpu_ms']:.1f} CPU ms/episode; "
                     f"worker runs / waits for a CPU / idle {m['time_shares']}; "
                     f"mean reward {m['mean_reward']:.3f}; load {m['load']}"))
    console.print(table)
    console.print(f"the machine has {os.cpu_count()} CPUs; load is os.getloadavg()[0] before → after the run shown; a "
                  "worker's time is its main thread's during the run (/proc/PID/schedstat): idle is time it waited "
                  "for this process (an episode to play), waits for a CPU is the machine's other load")
    return rows


def _measure(env_id: str, suite: str, backend: str, workers: int, episodes: int, out: Path) -> dict[str, float | str]:
    """One pool: its start-up, then a run of `episodes`, timed, with the CPU time it took (this process + workers)."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with RolloutPool(env_id, ScriptedResearcher, n_workers=workers, backend=backend, env_kwargs={"tasks": suite}) as pool:
        pool.start()
        workers_pids = {int(worker_id.split("@")[0]) for worker_id in pool.worker_ids}
        pids = workers_pids - {os.getpid()}
        cpu_before = time.process_time() + sum(_cpu_seconds(pid) for pid in pids)
        scheduled_before = {pid: _scheduled_seconds(pid) for pid in workers_pids}
        ready = time.perf_counter()
        summary = pool.run(n_episodes=episodes, out=out, show_progress=False)
        finished = time.perf_counter()
        cpu_s = time.process_time() + sum(_cpu_seconds(pid) for pid in pids) - cpu_before
        scheduled = [tuple(now - before for now, before in zip(_scheduled_seconds(pid), scheduled_before[pid]))
                     for pid in workers_pids]
    start_s, run_s = ready - started, finished - ready
    running = statistics.mean(run for run, _ in scheduled) / run_s
    waiting = statistics.mean(wait for _, wait in scheduled) / run_s
    return {"start_s": start_s, "rate": episodes / run_s, "rate_with_start": episodes / (start_s + run_s),
            "time_shares": f"{running:.0%} / {waiting:.0%} / {max(0.0, 1 - running - waiting):.0%}",
            "cpu_ms": cpu_s / episodes * 1000,
            "mean_reward": summary.mean_reward, "load": f"{load_before:.2f} → {os.getloadavg()[0]:.2f}"}


def _scheduled_seconds(pid: int) -> tuple[float, float]:
    """Seconds a process's main thread has run, and waited runnable for a CPU, so far ((0, 0) without /proc)."""
    try:
        run_ns, wait_ns, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(run_ns) / 1e9, int(wait_ns) / 1e9


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; 0 where /proc/PID/stat is unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
