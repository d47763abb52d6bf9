"""`drgym demo`: the default world end to end, from search to a held-out evaluation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from drgym.cli.app import app, console
from drgym.cli.evaluate import evaluate_and_print
from drgym.cli.web import hits_table


@app.command("demo")
def demo(suite: Annotated[str, typer.Option(help="suite to demo")] = "procedural:easy",
         out: Annotated[Path, typer.Option(help="where the closing evaluation writes its report")] = Path("runs/demo-eval"),
         ) -> None:
    """Build the default world (first run), search it, grade reports, then evaluate the scripted and random
    policies on its held-out tasks (table, report.md, plots)."""
    from drgym.rewards.judges import DeterministicJudge
    from drgym.tasks.suites import load_suite

    started = time.perf_counter()
    world = load_suite(suite)
    meta = world.meta
    console.rule(f"[bold]drgym demo: {suite}")
    console.print(f"world at {world.path}: {meta['n_pages']:,} pages, {meta['n_paragraphs']:,} paragraphs, "
                  f"{len(meta['graph']['entities']):,} entities, {len(world.tasks)} tasks "
                  f"(ready in {time.perf_counter() - started:.1f} s)")
    index = world.index
    search_tasks = [t for t in world.tasks if t.kind == "deep_search"][:3]
    for task in search_tasks:
        console.print(f"\n[bold]deep_search {task.id}[/] ({task.meta['hops']} hops): {task.question}", highlight=False)
        first_hop = task.meta["gold_path"][0]
        query = f"{first_hop['subject_name']} {first_hop['key'].split(':')[1].replace('_', ' ')}"
        console.print(hits_table(query, index.search(query, k=4)))
        console.print(f"answer: {task.answers[0]}", highlight=False)
    research = next((t for t in world.tasks if t.kind == "deep_research"), None)
    if research is not None:
        console.print(f"\n[bold]deep_research {research.id}[/] ({len(research.rubrics)} rubrics): {research.question}",
                      highlight=False)
        table = Table("report", "score", "mandatory passed", "faults", title="deterministic rubric judge",
                      title_justify="left")
        for label, report in (("gold report", research.meta["gold_report"]),
                              ("low-trust values", research.meta["low_trust_report"]), ("empty", "")):
            result = DeterministicJudge().grade(research.rubrics, report)
            faults = sum(1 for v in result.verdicts if v.weight < 0 and v.verdict == "satisfied")
            table.add_row(label, f"{result.score:.3f}", f"{result.mandatory_pass_rate:.0%}", str(faults))
        console.print(table)
    from drgym.benchmarks.evaluation import builtin_policy

    console.print(f"\n[bold]evaluation[/]: the scripted researcher and a random tool user on the held-out tasks of "
                  f"{suite}", highlight=False)
    evaluate_and_print(suite, [builtin_policy("scripted"), builtin_policy("random")], out, show_progress=False)
    console.print(f"\ndone in {time.perf_counter() - started:.1f} s. Next: open {out / 'report.md'}; "
                  "`drgym web search \"...\"`, `drgym tasks show`, `drgym eval --help`, `drgym train ppo --dry-run`.",
                  highlight=False, soft_wrap=True)
