"""Environment step latency per tool, and throughput of vector envs.

    python -m drgym.benchmarks.perf_env --suite procedural:easy

Prints, per tool (search, browse, file, shell): the step latency p50/p95 and the share of the step spent
outside the tool (parsing, budgets, observation assembly); then whether a step costs the same late in a long
episode as early (CPU time per search step over `--long-steps` steps, medians per tenth of the episode); then
steps/s of 1, 8 and 32 environments in `gymnasium.vector.SyncVectorEnv` and `AsyncVectorEnv` (one process per
env), each env searching.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from functools import partial

import gymnasium as gym
from rich.console import Console
from rich.table import Table

import drgym  # noqa: F401 - registers the environments
from drgym.envs import Budget
from drgym.tasks.suites import load_suite

UNLIMITED = Budget(max_tool_calls=None, max_turns=None)


def _call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def _timed_tools(env) -> dict[str, list[float]]:
    """Wraps each tool's `run` to record its own seconds."""
    spent: dict[str, list[float]] = {}
    for name, tool in env.unwrapped.tools.items():
        original = tool.run

        def run(*args, _original=original, _name=name, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent.setdefault(_name, []).append(time.perf_counter() - started)

        tool.run = run
    return spent


def _make(suite: str):
    return gym.make("drgym/DeepResearch-v1", tasks=suite, budget=UNLIMITED)


def _long_episode(suite: str, names: list[str], n_steps: int, repeats: int, console: Console) -> tuple[str, str, str]:
    """CPU time per search step along long episodes: flat when nothing grows with the history.

    A short episode warms the caches first; each tenth of the episode reports the lowest of its medians over the
    `repeats` episodes, which a burst of load on a shared machine does not move."""
    env = _make(suite)
    actions = [_call("batch_web_surfer", queries=[f"{names[i % len(names)]} {('revenue', 'mayor', 'founded')[i % 3]}"])
               for i in range(n_steps)]
    window = max(1, n_steps // 10)
    env.reset(seed=0)
    for action in actions[:window]:
        env.step(action)
    medians: list[float] = []
    for repeat in range(repeats):
        env.reset(seed=1 + repeat)
        spent = []
        for action in actions:
            started = time.process_time()
            _, _, terminated, truncated, info = env.step(action)
            spent.append(time.process_time() - started)
            if terminated or truncated:
                raise RuntimeError(f"the long episode ended at step {len(spent)} ({info.get('truncated_by')})")
        tenths = [statistics.median(spent[i:i + window]) * 1000 for i in range(0, n_steps - window + 1, window)]
        medians = [min(pair) for pair in zip(medians, tenths)] if medians else tenths
    n_messages = len(info["messages"])
    # the reference: what one copy of the history and of the pages seen (what each step made before) costs now
    state = env.unwrapped._state
    started = time.process_time()
    for _ in range(100):
        list(info["messages"]), set(state.seen_urls), list(state.visited_urls)
    copy_ms = (time.process_time() - started) / 100 * 1000
    env.close()
    load = os.getloadavg()[0]
    table = Table("steps", "median CPU ms/step",
                  title=f"{repeats} episodes of {n_steps} search steps (load {load:.2f})", title_justify="left")
    for number, median in enumerate(medians):
        table.add_row(f"{number * window + 1}–{(number + 1) * window}", f"{median:.3f}")
    console.print(table)
    change = medians[-1] / medians[0] - 1
    console.print(f"last tenth against the first: {change:+.1%}; at the end the history holds {n_messages} messages, "
                  f"and copying it and the pages seen once per step would add {copy_ms:.3f} ms "
                  f"({copy_ms / medians[-1]:.0%} of a step)")
    return (f"step cost, step 1 → {n_steps}", f"{change:+.1%}",
            f"median CPU {medians[0]:.3f} → {medians[-1]:.3f} ms/search step; load {load:.2f}")


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="procedural:easy")
    parser.add_argument("--steps", type=int, default=200, help="steps per tool")
    parser.add_argument("--vector-steps", type=int, default=30, help="steps of each vector env")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--long-steps", type=int, default=1000, help="steps of the long episodes")
    parser.add_argument("--long-repeats", type=int, default=3, help="long episodes played")
    args = parser.parse_args(argv)
    console = Console()
    rows: list[tuple[str, str, str]] = []
    world = load_suite(args.suite)
    names = [e["name"] for e in world.meta["graph"]["entities"]]
    urls = [page.url for _, page in zip(range(args.steps), world.corpus)]

    env = _make(args.suite)
    env.reset(seed=0)
    spent = _timed_tools(env)
    actions = {
        "search": [_call("batch_web_surfer", queries=[f"{names[i % len(names)]} revenue"]) for i in range(args.steps)],
        "browse": [_call("batch_web_surfer", urls=[urls[i % len(urls)]]) for i in range(args.steps)],
        "file": [_call("file", action="write", path=f"notes/n{i}.md", content="x " * 200) for i in range(args.steps)],
        "shell": [_call("shell", command=f"echo {i} >> log.txt && wc -l log.txt") for i in range(args.steps)],
    }
    tool_of = {"search": "batch_web_surfer", "browse": "batch_web_surfer", "file": "file", "shell": "shell"}
    table = Table("step", "p50 ms", "p95 ms", "outside the tool", title=f"drgym env step latency ({args.suite})",
                  title_justify="left")
    for label, batch in actions.items():
        if tool_of[label] not in env.unwrapped.tools:
            table.add_row(label, "-", "-", "tool unavailable")
            continue
        env.step(batch[0])  # warm-up (starts the shell)
        spent.clear()
        timings = []
        for action in batch[1:]:
            started = time.perf_counter()
            env.step(action)
            timings.append(time.perf_counter() - started)
        timings.sort()
        inside = sum(spent.get(tool_of[label], []))
        p50, p95 = statistics.median(timings) * 1000, timings[int(0.95 * (len(timings) - 1))] * 1000
        table.add_row(label, f"{p50:.2f}", f"{p95:.2f}", f"{1 - inside / sum(timings):.0%}")
        rows.append((f"{label} step", f"p50 {p50:.2f} ms, p95 {p95:.2f} ms", f"{1 - inside / sum(timings):.0%} outside the tool"))
    env.close()
    console.print(table)
    rows.append(_long_episode(args.suite, names, args.long_steps, args.long_repeats, console))

    vector = Table("envs", "SyncVectorEnv steps/s", "AsyncVectorEnv steps/s", title="vector envs, search steps",
                   title_justify="left")
    for size in args.sizes:
        row = [str(size)]
        for cls in (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv):
            fns = [partial(_make, args.suite) for _ in range(size)]
            envs = cls(fns, shared_memory=False) if cls is gym.vector.AsyncVectorEnv else cls(fns)
            envs.reset(seed=list(range(size)))
            started = time.perf_counter()
            for step in range(args.vector_steps):
                envs.step(tuple(_call("batch_web_surfer", queries=[f"{names[(step * size + i) % len(names)]} mayor"])
                                for i in range(size)))
            row.append(f"{size * args.vector_steps / (time.perf_counter() - started):,.0f}")
            envs.close()
        vector.add_row(*row)
        rows.append((f"vector envs × {size}", f"Sync {row[1]} / Async {row[2]} steps/s", "search steps"))
    console.print(vector)
    return rows


if __name__ == "__main__":
    main()
