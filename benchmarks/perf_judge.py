"""Throughput of the deterministic rubric judge (target ≥ 10,000 rubric checks/s) and its determinism.

    python -m drgym.benchmarks.perf_judge

Grades each deep_research task's gold and low-trust reports (made unique per round, so no cache helps) and
prints rubric checks per second, with the time per report.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from drgym.rewards.judges import DeterministicJudge
from drgym.tasks.procedural import ProceduralWorld, WorldSpec


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=60, help="deep_research tasks to grade")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    world = ProceduralWorld.build(Path(tempfile.mkdtemp(prefix="drgym-judge-")) / "w",
                                  WorldSpec(seed=77, pages=3000, n_deep_search=1, n_deep_research=args.tasks),
                                  index=False, show_progress=False)
    tasks = [t for t in world.tasks if t.kind == "deep_research"]
    judge = DeterministicJudge()
    checks, reports, started = 0, 0, time.perf_counter()
    for round_number in range(args.rounds):
        for task in tasks:
            for report in (task.meta["gold_report"], task.meta["low_trust_report"]):
                judge.grade(task.rubrics, f"{report}\n\nRound {round_number}.")
                checks += len(task.rubrics)
                reports += 1
    elapsed = time.perf_counter() - started
    first = judge.grade(tasks[0].rubrics, tasks[0].meta["gold_report"])
    again = judge.grade(tasks[0].rubrics, tasks[0].meta["gold_report"])
    rows = [("rubric checks", f"{checks:,} over {reports:,} reports", f"{checks / reports:.1f} rubrics each"),
            ("throughput", f"{checks / elapsed:,.0f} rubric checks/s", "target ≥ 10,000"),
            ("per report", f"{elapsed / reports * 1000:.2f} ms", ""),
            ("identical input, identical grade", str(first == again), "")]
    table = Table("measure", "figure", "note", title="deterministic judge", title_justify="left")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    return rows


if __name__ == "__main__":
    main()
