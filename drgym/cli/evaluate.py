"""`drgym eval`, `drgym audit` and `drgym bench perf`: compare policies, audit the reward, measure speed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from drgym.cli.app import JudgeKind, Split, app, bench_app, console, print_rows


@app.command("eval")
def eval_command(
    out: Annotated[Path, typer.Option(help="output folder: results.json, report.md, plots, trajectories/")],
    suite: Annotated[str, typer.Option(help="suite (procedural:easy|medium|hard|tiny) or a task file")] = "procedural:easy",
    web: Annotated[Path | None, typer.Option(help="world or corpus folder to research in (default: the suite's "
                                                  "world, or the corpus the task file names)")] = None,
    policy: Annotated[list[str] | None, typer.Option(help="built-in policy: scripted, solver or random (repeatable)")] = None,
    policies: Annotated[Path | None, typer.Option(help="YAML: name -> {kind: openai|hf|callable|..., ...}")] = None,
    episodes: Annotated[int, typer.Option(help="episodes per task")] = 1,
    split: Annotated[Split | None, typer.Option(help="task split (default for suites: heldout)")] = None,
    workers: Annotated[int, typer.Option(help="rollout workers per policy")] = 1,
    seed: Annotated[int, typer.Option(help="episode i uses seed + i")] = 0,
    prices: Annotated[Path | None, typer.Option(help="price table YAML (default: the shipped example)")] = None,
    max_turns: Annotated[int | None, typer.Option(help="budget: turns per episode")] = None,
    max_tool_calls: Annotated[int | None, typer.Option(help="budget: tool calls per episode")] = None,
    pairwise: Annotated[JudgeKind, typer.Option(help="Elo judge: deterministic (rubric scores) or llm")] = JudgeKind.deterministic,
    judge_base_url: Annotated[str | None, typer.Option(help="llm pairwise judge: OpenAI-compatible endpoint")] = None,
    judge_model: Annotated[str | None, typer.Option(help="llm pairwise judge: model name")] = None,
) -> None:
    """Evaluate policies on the same tasks and seeds; write results.json, report.md and plots (resumable)."""
    from drgym.benchmarks.evaluation import builtin_policy, load_policies
    from drgym.errors import ConfigError

    chosen = [builtin_policy(name) for name in policy or []]
    if policies is not None:
        chosen += load_policies(policies)
    if not chosen:
        chosen = [builtin_policy("scripted"), builtin_policy("random")]
    budget = {k: v for k, v in (("max_turns", max_turns), ("max_tool_calls", max_tool_calls)) if v is not None}
    judge = None
    if pairwise is JudgeKind.llm:
        from drgym.rewards.llm_judge import LLMJudgeConfig, LLMPairwiseJudge

        if not judge_base_url or not judge_model:
            raise ConfigError("--pairwise llm needs --judge-base-url and --judge-model")
        judge = LLMPairwiseJudge(LLMJudgeConfig(base_url=judge_base_url, model=judge_model))
    evaluate_and_print(suite, chosen, out, split=split.value if split else None, episodes=episodes, workers=workers, seed=seed,
                        env_kwargs={"budget": budget} if budget else None, prices=prices, judge=judge, web=web)


def evaluate_and_print(suite: str, chosen: list, out: Path, *, split: str | None = None, episodes: int = 1,
                        workers: int = 1, seed: int = 0, env_kwargs: dict | None = None, prices: Path | None = None,
                        judge=None, web: Path | None = None, show_progress: bool = True) -> None:
    from drgym.benchmarks.costs import load_prices
    from drgym.benchmarks.evaluation import resolve_suite, run_eval
    from drgym.benchmarks.report import console_table, write_plots, write_report

    resolved = resolve_suite(suite, split=split, web=web)
    results = run_eval(resolved, chosen, out, episodes_per_task=episodes, workers=workers, seed=seed,
                       env_kwargs=env_kwargs, prices=load_prices(prices), pairwise_judge=judge,
                       show_progress=show_progress)
    write_plots(results, out)
    command = "drgym " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "drgym eval"
    report = write_report(results, out, command=command)
    print_rows(console_table(results), title=f"{resolved.name} ({resolved.split} split, {len(resolved.tasks)} tasks)",
               no_wrap=True)
    console.print(f"wrote {out / 'results.json'}, {report} and plots in {out}", highlight=False, soft_wrap=True)


@bench_app.command("perf")
def bench_perf(
    quick: Annotated[bool, typer.Option("--quick", help="small sizes: every figure in a few minutes")] = False,
    only: Annotated[list[str] | None, typer.Option(
        help="search, env, workers, judge, rollout, ingest, world (repeatable; default all)")] = None,
) -> None:
    """Run the performance benchmarks (search, env step, judge, rollout) and print one table of figures."""
    from drgym.benchmarks.perf import BENCHMARKS, run_all
    from drgym.errors import ConfigError

    unknown = sorted(set(only or []) - set(BENCHMARKS))
    if unknown:
        raise ConfigError(f"unknown benchmarks {unknown}; choose from {', '.join(BENCHMARKS)}")
    print_rows([["benchmark", "measure", "figure", "note"], *run_all(quick=quick, only=only)],
               title="drgym performance" + (" (quick sizes)" if quick else ""))


@app.command("audit")
def audit_command(
    suites: Annotated[list[str] | None, typer.Option("--suite", help="suite or task file (repeatable); default: "
                                                     "procedural:easy, medium and hard")] = None,
    tasks: Annotated[int, typer.Option(help="tasks of each kind per suite (0: all)")] = 30,
    hacks: Annotated[list[str] | None, typer.Option("--hack", help="hack policies to play (repeatable); default: all")] = None,
) -> None:
    """Reward-hacking audit: every hack policy against the honest researcher and the gold answers.

    Exits 1 when a hack comes within 0.2 of the honest researcher or a wrong report scores above 0.3.
    """
    from drgym.agents.hacks import HACKS
    from drgym.benchmarks.reward_hacking import audit, format_table
    from drgym.errors import ConfigError

    unknown = sorted(set(hacks or []) - set(HACKS))
    if unknown:
        raise ConfigError(f"unknown hack policies {unknown}; choose from {', '.join(HACKS)}")
    rows = audit(suites or ["procedural:easy", "procedural:medium", "procedural:hard"], n_tasks=tasks or None,
                 hacks=hacks)
    console.print(format_table(rows), highlight=False, soft_wrap=True)
    failing = [r for r in rows if not r.passes]
    console.print(f"{len(failing)} of {len(rows)} rows fail", highlight=False)
    if failing:
        raise typer.Exit(1)
