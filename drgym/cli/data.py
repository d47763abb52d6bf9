"""`drgym sft-data` and `drgym rl-data`: training data from trajectories and from task suites."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from drgym.cli.app import ObservationRole, Split, TaskKind, app, console
from drgym.core.kinds import TASK_KINDS


@app.command("sft-data")
def sft_data(
    trajectories: Annotated[list[Path], typer.Argument(help="trajectory files (drgym rollout --out ...)")],
    out: Annotated[Path, typer.Option(help="SFT JSONL for OpenRLHF (--data.input_key messages --data.multiturn)")],
    min_reward_search: Annotated[float, typer.Option(help="keep deep_search episodes with reward >= this")] = 1.0,
    min_reward_research: Annotated[float, typer.Option(help="keep deep_research episodes with reward >= this")] = 0.6,
    per_task: Annotated[int, typer.Option(help="correct and shortest: episodes kept per task (0 = all)")] = 1,
    loop_n: Annotated[int, typer.Option(help="loop filter: action n-grams up to this length")] = 2,
    loop_repeats: Annotated[int, typer.Option(help="loop filter: drop when an n-gram repeats this often")] = 3,
    mix: Annotated[str | None, typer.Option(help="e.g. deep_search=0.3,deep_research=0.7")] = None,
    observation_role: Annotated[ObservationRole, typer.Option(help="role of tool observations")] = ObservationRole.user,
    seed: Annotated[int, typer.Option(help="seed of the mixture subsampling")] = 0,
    output_format: Annotated[str, typer.Option("--format", help="openrlhf (text tool calls) or hf (structured "
                                               "tool_calls, role tool results and a tools column, for TRL and "
                                               "Hugging Face chat templates)")] = "openrlhf",
) -> None:
    """Trajectories -> SFT data, with the success, loop, citation, shortest and mixture filters."""
    from drgym.train.sft_data import SFTFilters, build_sft_dataset, parse_mixture

    filters = SFTFilters(min_reward_search=min_reward_search, min_reward_research=min_reward_research,
                         per_task=per_task, loop_n=loop_n, loop_repeats=loop_repeats, mixture=parse_mixture(mix),
                         observation_role=observation_role.value, seed=seed)
    summary = build_sft_dataset(trajectories, out, filters, output_format=output_format)
    console.print(summary.table(), highlight=False)
    console.print(f"wrote {summary.written} rows to {out}", highlight=False)


@app.command("rl-data")
def rl_data(
    out: Annotated[Path, typer.Option(help="prompt dataset (JSONL: prompt messages + JSON label)")],
    suite: Annotated[str, typer.Option(help="suite name or task file")] = "procedural:easy",
    web: Annotated[str | None, typer.Option(help="world or corpus folder (default: the suite's)")] = None,
    kind: Annotated[list[TaskKind] | None, typer.Option(help="task kinds to export (repeatable; default both)")] = None,
    seeds: Annotated[int, typer.Option(help="rows per task (episode seeds 0..n-1)")] = 1,
    max_turns: Annotated[int, typer.Option(help="budget: turns per episode")] = 20,
    max_tool_calls: Annotated[int, typer.Option(help="budget: tool calls per episode")] = 40,
    tokenizer: Annotated[str | None, typer.Option(help="chat-template tokenizer path written into the labels")] = None,
    split: Annotated[Split, typer.Option(help="train (held-out tasks are refused) or all; heldout with --eval")] = Split.train,
    for_eval: Annotated[bool, typer.Option("--eval", help="evaluation prompts (may hold held-out tasks)")] = False,
) -> None:
    """Export the RL prompt dataset for OpenRLHF PPO (--data.input_key prompt --data.label_key label)."""
    from drgym.train.episodes import export_prompts

    rows = export_prompts(suite, out, split=split.value, seeds=seeds, web=web, tokenizer=tokenizer,
                          kinds=tuple(k.value for k in kind) if kind else TASK_KINDS, for_eval=for_eval,
                          env_kwargs={"budget": {"max_turns": max_turns, "max_tool_calls": max_tool_calls}})
    what = "evaluation prompts" if for_eval else "prompts"
    console.print(f"wrote {rows} {what} ({split.value} split of {suite}) to {out}", highlight=False)
