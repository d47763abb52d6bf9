"""Lean workers: what importing drgym and creating an offline environment cost, in time and in memory per process.

    python -m drgym.benchmarks.perf_workers --suite procedural:easy

Prints, from fresh interpreters: the time (wall and CPU) to import gymnasium + drgym and to create and reset an
environment (medians of `--repeats` runs), the modules loaded and whether any heavy optional one (pandas, torch, httpx, PIL,
lxml, trafilatura, ...) is among them. Then the memory of processes that each hold an environment, as PSS (a
shared page counted once across processes) and USS (a process's own pages), read from /proc/PID/smaps_rollup
(Linux): 1 and N spawned processes (each imports everything itself), and a `RolloutPool` of 1 and N worker
processes, counted with the process they fork from (the zygote).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
from pathlib import Path

from drgym.agents import ScriptedResearcher
from drgym.agents.rollout import RolloutPool, _ProcessWorkers
from drgym.tasks.suites import load_suite

HEAVY_MODULES = ("pandas", "torch", "transformers", "datasets", "httpx", "PIL", "imagehash", "lxml", "trafilatura",
                 "justext", "matplotlib", "scipy", "sklearn", "ray", "sentence_transformers")
"""Optional dependencies an offline environment must not load."""

_START = """
import json, sys, time
started, started_cpu = time.perf_counter(), time.process_time()
import gymnasium as gym
import drgym
imported, imported_cpu = time.perf_counter(), time.process_time()
env = gym.make("drgym/DeepResearch-v1", tasks=sys.argv[1])
env.reset(seed=0)
made, made_cpu = time.perf_counter(), time.process_time()
heavy = [name for name in json.loads(sys.argv[2]) if name in sys.modules]
print(json.dumps({"import_s": imported - started, "env_s": made - imported, "import_cpu_s": imported_cpu - started_cpu,
                  "env_cpu_s": made_cpu - imported_cpu, "modules": len(sys.modules), "heavy": heavy}))
env.close()
"""


def memory_kib(pid: int) -> tuple[int, int] | None:
    """(PSS, USS) of a process in KiB, or None where /proc/PID/smaps_rollup is not available."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    fields = {line.split()[0].rstrip(":"): int(line.split()[1]) for line in lines[1:] if line.endswith("kB")}
    return fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"]


def _parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _ancestors(pid: int) -> list[int]:
    """The processes between `pid` and this one: what a pool worker forks from (the zygote)."""
    ancestors = []
    while (pid := _parent_pid(pid)) not in (os.getpid(), 0, 1):
        ancestors.append(pid)
    return ancestors


def _hold_env(suite: str, steps: int, ready: mp.connection.Connection) -> None:
    """A spawned process with one environment, after a few steps: then it waits to be measured."""
    import gymnasium as gym

    import drgym  # noqa: F401 - registers the environments

    env = gym.make("drgym/DeepResearch-v1", tasks=suite)
    _play(env, steps)
    ready.send(os.getpid())
    ready.recv()
    env.close()


def _play(env, steps: int) -> None:
    policy = ScriptedResearcher()
    _, info = env.reset(seed=0)
    for _ in range(steps):
        _, _, terminated, truncated, info = env.step(policy.act(info["messages"]))
        if terminated or truncated:
            policy = ScriptedResearcher()
            _, info = env.reset(seed=1)


def spawned_memory(suite: str, n_processes: int, steps: int) -> tuple[int, int]:
    """Total (PSS, USS) in KiB of `n_processes` spawned processes each holding an environment."""
    context = mp.get_context("spawn")
    pipes, processes = [], []
    for _ in range(n_processes):
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_hold_env, args=(suite, steps, child_end), daemon=True)
        process.start()
        pipes.append(parent_end)
        processes.append(process)
    pids = [pipe.recv() for pipe in pipes]
    totals = [memory_kib(pid) for pid in pids]
    for pipe in pipes:
        pipe.send("done")
    for process in processes:
        process.join()
    return sum(t[0] for t in totals), sum(t[1] for t in totals)


def pool_memory(suite: str, n_workers: int, episodes_per_worker: int, out: Path) -> tuple[int, int, int]:
    """Total (PSS, USS) in KiB of a RolloutPool's worker processes plus the process they fork from (the zygote),
    after a run; and the zygote's own PSS."""
    with RolloutPool("drgym/DeepResearch-v1", ScriptedResearcher, n_workers=n_workers,
                     env_kwargs={"tasks": suite}) as pool:
        if n_workers == 1:  # a pool of one plays in this process: measure it with a worker process, as larger pools
            pool._workers = _ProcessWorkers((pool.env_id, pool.env_kwargs, ScriptedResearcher, pool.policy_name))
        pool.start()
        pool.run(n_episodes=n_workers * episodes_per_worker, out=out, show_progress=False)
        pids = [int(worker_id) for worker_id in pool.worker_ids]
        servers = {ancestor for pid in pids for ancestor in _ancestors(pid)}
        totals = [memory_kib(pid) for pid in [*pids, *servers]]
        server_pss = sum(memory_kib(pid)[0] for pid in servers)
    return sum(t[0] for t in totals), sum(t[1] for t in totals), server_pss


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="procedural:easy")
    parser.add_argument("--repeats", type=int, default=5, help="fresh interpreters timed")
    parser.add_argument("--processes", type=int, default=8, help="processes holding an environment (besides 1)")
    parser.add_argument("--steps", type=int, default=20, help="steps each spawned process plays before measuring")
    parser.add_argument("--episodes-per-worker", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="folder for the pool's trajectory files")
    args = parser.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows: list[tuple[str, str, str]] = []
    load_suite(args.suite)  # the world is built once, outside the timings

    runs = []
    for _ in range(args.repeats):
        done = subprocess.run([sys.executable, "-c", _START, args.suite, json.dumps(HEAVY_MODULES)],
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    import_s = statistics.median(r["import_s"] for r in runs)
    env_s = statistics.median(r["env_s"] for r in runs)
    import_cpu_s = statistics.median(r["import_cpu_s"] for r in runs)
    env_cpu_s = statistics.median(r["env_cpu_s"] for r in runs)
    heavy = sorted({name for r in runs for name in r["heavy"]})
    load = os.getloadavg()[0]
    table = Table("measure", "median wall", "median CPU",
                  title=f"start of a fresh process ({args.repeats} runs, load {load:.2f})", title_justify="left")
    table.add_row("import gymnasium + drgym", f"{import_s * 1000:.0f} ms", f"{import_cpu_s * 1000:.0f} ms")
    table.add_row("create + reset the env", f"{env_s * 1000:.0f} ms", f"{env_cpu_s * 1000:.0f} ms")
    table.add_row("import + env, total", f"{(import_s + env_s) * 1000:.0f} ms",
                  f"{(import_cpu_s + env_cpu_s) * 1000:.0f} ms")
    table.add_row("modules loaded", f"{statistics.median(r['modules'] for r in runs):.0f}", "")
    table.add_row("heavy optional modules loaded", ", ".join(heavy) or "none", "")
    console.print(table)
    rows.append(("import + env creation", f"{(import_s + env_s) * 1000:.0f} ms",
                 f"import {import_s * 1000:.0f} ms + env {env_s * 1000:.0f} ms (CPU {(import_cpu_s + env_cpu_s) * 1000:.0f} "
                 f"ms); heavy modules: {', '.join(heavy) or 'none'}; load {load:.2f}"))

    if memory_kib(os.getpid()) is None:
        console.print("memory: /proc/PID/smaps_rollup is not available on this platform; skipped")
        return rows
    n = args.processes
    out = args.out or Path(__import__("tempfile").mkdtemp(prefix="drgym-workers-"))
    one_spawned = spawned_memory(args.suite, 1, args.steps)
    n_spawned = spawned_memory(args.suite, n, args.steps)
    one_pool = pool_memory(args.suite, 1 if n > 1 else n, args.episodes_per_worker, out / "pool-1.jsonl")
    n_pool = pool_memory(args.suite, n, args.episodes_per_worker, out / f"pool-{n}.jsonl")
    load = os.getloadavg()[0]
    memory = Table("processes", "PSS total MiB", "USS total MiB", f"PSS ×{n} / ×1", f"PSS ×{n} / one spawned",
                   title=f"processes holding an env ({args.suite}, load {load:.2f})", title_justify="left")

    def mib(kib: int) -> str:
        return f"{kib / 1024:.0f}"

    memory.add_row("spawned × 1", mib(one_spawned[0]), mib(one_spawned[1]), "", "1.00")
    memory.add_row(f"spawned × {n}", mib(n_spawned[0]), mib(n_spawned[1]), f"{n_spawned[0] / one_spawned[0]:.2f}",
                   f"{n_spawned[0] / one_spawned[0]:.2f}")
    memory.add_row("pool × 1 (+ zygote)", mib(one_pool[0]), mib(one_pool[1]), "",
                   f"{one_pool[0] / one_spawned[0]:.2f}")
    memory.add_row(f"pool × {n} (+ zygote)", mib(n_pool[0]), mib(n_pool[1]), f"{n_pool[0] / one_pool[0]:.2f}",
                   f"{n_pool[0] / one_spawned[0]:.2f}")
    console.print(memory)
    console.print(f"the zygote: PSS {mib(n_pool[2])} MiB; a pool worker's own memory (USS): "
                  f"{(n_pool[1] - one_pool[1]) / 1024 / max(1, n - 1):.1f} MiB each; a spawned process's: "
                  f"{n_spawned[1] / 1024 / n:.1f} MiB")
    rows.append((f"{n} env processes, spawned", f"PSS ×{n_spawned[0] / one_spawned[0]:.2f} of one",
                 f"{mib(n_spawned[0])} MiB vs {mib(one_spawned[0])} MiB; load {load:.2f}"))
    rows.append((f"{n} pool workers (zygote)", f"PSS ×{n_pool[0] / one_spawned[0]:.2f} of one spawned process",
                 f"{mib(n_pool[0])} MiB, zygote included; load {load:.2f}"))
    return rows


if __name__ == "__main__":
    main()
