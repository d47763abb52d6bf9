"""Environment hardening: step time against action size, patch time against diff size, memory over a long
adversarial episode (issue 19).

    python -m drgym.benchmarks.perf_hardening

Prints CPU-time medians (`time.process_time`, so other load on the machine moves them less than wall time)
for degenerate actions of 1 KB to 1 MB and for unified diffs of 1 KB to 1 MB, each with the slope of a
least-squares line through log(time) against log(size): 1 is linear, 2 quadratic. Then it plays 1,000
adversarial steps in one episode and prints the process's resident memory before and after. The machine's
load average is printed beside the figures: on a shared machine, read the slopes, not the absolute times.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
from rich.console import Console
from rich.table import Table

import drgym  # noqa: F401 - registers the environments
from drgym.core.protocol import format_tool_call
from drgym.envs import Budget
from drgym.envs.tools.file import apply_unified_diff

UNLIMITED = Budget(max_tool_calls=None, max_turns=None)
TOOLS = ["batch_web_surfer", "todo", "file", "analyze_image"]
"""The shell is left out: its subprocess round trips would hide the environment's own time."""
SIZES = [1_000, 4_000, 16_000, 64_000, 256_000, 1_000_000]


def _call(name: str, **arguments) -> str:
    return format_tool_call(name, arguments)


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


ACTIONS: dict[str, Callable[[int], str]] = {
    "unclosed <tool_call> tags": lambda size: _repeat("<tool_call>", size),
    "runaway text": lambda size: _repeat("the the the ", size),
    "nested JSON in a call": lambda size: "<tool_call>" + "[" * (size - 23) + "</tool_call>",
    "unclosed <think>, calls": lambda size: _repeat("<think><tool_call>{\"name\": \"todo\"}</tool_call>", size),
    "huge todo item": lambda size: _call("todo", action="add", item=_repeat("x", size - 100)),
    "huge file write": lambda size: _call("file", action="write", path="big.md", content=_repeat("x ", size - 130)),
}


def _cpu_median(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return statistics.median(times)


def _slope(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(size)."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(t, 1e-7)) for t in seconds]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)


def _diff(hunks: int, *, correct_line_numbers: bool) -> tuple[str, str]:
    """A file of 10 lines per hunk and a diff changing one line in each, with 3 lines of context."""
    lines = [f"line {i} of the report, with some words to make it realistic" for i in range(hunks * 10)]
    parts = []
    for hunk in range(hunks):
        at = hunk * 10 + 3
        start = at - 3 + 1 if correct_line_numbers else 1
        body = [f" {lines[i]}" for i in range(at - 3, at)] + [f"-{lines[at]}", f"+{lines[at].upper()}"]
        body += [f" {lines[i]}" for i in range(at + 1, at + 4)]
        parts.append(f"@@ -{start},7 +{start},7 @@\n" + "\n".join(body))
    return "\n".join(lines) + "\n", "\n".join(parts) + "\n"


def _size(characters: int) -> str:
    return f"{characters // 1_000_000} MB" if characters >= 1_000_000 else f"{characters // 1000} KB"


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f} on {} CPUs".format(*os.getloadavg(), os.cpu_count())


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="procedural:tiny")
    parser.add_argument("--repeats", type=int, default=5, help="steps per size (the median is shown)")
    parser.add_argument("--adversarial-steps", type=int, default=1_000)
    args = parser.parse_args(argv)
    console = Console(width=120)
    rows: list[tuple[str, str, str]] = []
    console.print(f"before: {_load()}")

    env = gym.make("drgym/DeepResearch-v1", tasks=args.suite, budget=UNLIMITED, tools=TOOLS)
    env.reset(seed=0)
    table = Table("action", *(f"{_size(size)} ms" for size in SIZES), "slope",
                  title="step CPU time against action size (median)", title_justify="left")
    for label, build in ACTIONS.items():
        actions = [build(size) for size in SIZES]
        seconds = [_cpu_median(lambda action=action: env.step(action), args.repeats) for action in actions]
        slope = _slope(SIZES, seconds)
        table.add_row(label, *(f"{s * 1000:.2f}" for s in seconds), f"{slope:.2f}")
        rows.append((f"step, {label}", f"1 MB: {seconds[-1] * 1000:.1f} ms", f"slope {slope:.2f}"))
    console.print(table)

    table = Table("diff", *(f"{_size(size)} ms" for size in SIZES), "slope",
                  title="patch CPU time against diff size (median; a file of 10 lines per hunk)",
                  title_justify="left")
    for correct in (True, False):
        label = "line numbers right" if correct else "every hunk says line 1"
        sizes, seconds = [], []
        for size in SIZES:
            hunks = max(1, size // 500)  # ~500 characters of diff per hunk
            text, diff = _diff(hunks, correct_line_numbers=correct)
            sizes.append(len(diff))
            seconds.append(_cpu_median(lambda text=text, diff=diff: apply_unified_diff(text, diff), args.repeats))
        slope = _slope(sizes, seconds)
        table.add_row(label, *(f"{s * 1000:.2f}" for s in seconds), f"{slope:.2f}")
        rows.append((f"patch, {label}", f"{sizes[-1] // 1000:,} KB diff: {seconds[-1] * 1000:.1f} ms",
                     f"slope {slope:.2f}"))
    console.print(table)
    env.close()

    adversarial = [
        _repeat("<tool_call>", 200_000), _repeat("<think>", 100_000) + _call("todo", action="list"),
        "<tool_call>" + "[" * 100_000 + "</tool_call>", _call("batch_web_surfer", queries=["q" * 500_000]),
        _call("todo", action="add", item="i" * 300) * 16, _call("x" * 300_000), "y" * 1_000_001,
        {"role": "assistant", "tool_calls": [{"function": {"name": "todo", "arguments": "[" * 200_000}}]},
        _call("file", action="write", path="n" * 5_000, content="z"), _call("batch_web_surfer", queries=["mayor"]),
    ]
    env = gym.make("drgym/DeepResearch-v1", tasks=args.suite, budget=UNLIMITED, tools=TOOLS)
    env.reset(seed=0)
    for step in range(len(adversarial) * 10):  # warm-up: caches, allocator pools
        env.step(adversarial[step % len(adversarial)])
    gc.collect()
    before = _rss_mb()
    started = time.process_time()
    written = 0
    for step in range(args.adversarial_steps):
        action = adversarial[step % len(adversarial)]
        written += len(action) if isinstance(action, str) else len(json.dumps(action))
        if isinstance(action, str):  # a fresh string each step, as a policy's are: what is kept shows in RSS
            action = action[:-1] + action[-1]
        _, _, _, _, info = env.step(action)
    cpu_s = time.process_time() - started
    gc.collect()
    after = _rss_mb()
    kept = sum(len(m.get("content") or "") for m in info["messages"][-2 * args.adversarial_steps:])
    env.close()
    table = Table("steps", "actions' characters", "kept in history", "RSS before MB", "RSS after MB", "growth MB",
                  "CPU s",
                  title=f"memory over {args.adversarial_steps:,} adversarial steps (one episode)", title_justify="left")
    table.add_row(f"{args.adversarial_steps:,}", f"{written:,}", f"{kept:,}", f"{before:.1f}", f"{after:.1f}",
                  f"{after - before:+.1f}", f"{cpu_s:.1f}")
    console.print(table)
    rows.append((f"RSS over {args.adversarial_steps:,} adversarial steps", f"{after - before:+.1f} MB",
                 f"history {kept:,} characters"))
    console.print(f"after: {_load()}")
    return rows


if __name__ == "__main__":
    main()
