"""`drgym export skyrl|verl`: prompt datasets (parquet) for peer trainers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from drgym.cli.app import app, console

export_app = typer.Typer(help="Prompt datasets for peer trainers: SkyRL and veRL (parquet).", no_args_is_help=True)
app.add_typer(export_app, name="export")

_Out = Annotated[Path, typer.Option(help="the parquet file to write")]
_Suite = Annotated[str, typer.Option(help="suite name or task file")]
_Web = Annotated[str | None, typer.Option(help="world or corpus folder (default: the suite's)")]
_Kind = Annotated[list[str] | None, typer.Option(help="deep_search and/or deep_research (repeatable; default both)")]
_Seeds = Annotated[int, typer.Option(help="rows per task (episode seeds 0..n-1)")]
_MaxTurns = Annotated[int, typer.Option(help="drgym budget: turns per episode (keep within the trainer's turn cap)")]
_MaxToolCalls = Annotated[int, typer.Option(help="drgym budget: tool calls per episode")]
_Split = Annotated[str, typer.Option(help="train (held-out tasks are refused) or all; heldout with --eval")]
_Eval = Annotated[bool, typer.Option("--eval", help="evaluation rows (may hold held-out tasks)")]


def _export(trainer: str, out: Path, suite: str, web: str | None, kind: list[str] | None, seeds: int, max_turns: int,
            max_tool_calls: int, split: str, for_eval: bool) -> None:
    from drgym.train.peer_data import export_peer_dataset

    rows = export_peer_dataset(trainer, suite, out, split=split, seeds=seeds, web=web, for_eval=for_eval,
                               kinds=tuple(kind or ("deep_search", "deep_research")), show_progress=True,
                               env_kwargs={"budget": {"max_turns": max_turns, "max_tool_calls": max_tool_calls}})
    what = "evaluation rows" if for_eval else "rows"
    console.print(f"wrote {rows} {trainer} {what} ({split} split of {suite}) to {out}", highlight=False)


@export_app.command("skyrl")
def skyrl(out: _Out, suite: _Suite = "procedural:easy", web: _Web = None, kind: _Kind = None, seeds: _Seeds = 1,
          max_turns: _MaxTurns = 20, max_tool_calls: _MaxToolCalls = 40, split: _Split = "train",
          for_eval: _Eval = False) -> None:
    """SkyRL rows (prompt, env_class 'drgym', reward_spec, extra_info); register the env with
    drgym.train.skyrl.register_skyrl_env() in the training entry point."""
    _export("skyrl", out, suite, web, kind, seeds, max_turns, max_tool_calls, split, for_eval)


@export_app.command("verl")
def verl(out: _Out, suite: _Suite = "procedural:easy", web: _Web = None, kind: _Kind = None, seeds: _Seeds = 1,
         max_turns: _MaxTurns = 20, max_tool_calls: _MaxToolCalls = 40, split: _Split = "train",
         for_eval: _Eval = False,
         agent_loop_config: Annotated[Path | None, typer.Option(
             help="also write veRL's agent-loop config here (actor_rollout_ref.rollout.agent.agent_loop_config_path)")
         ] = None) -> None:
    """veRL rows (data_source, prompt, ability, reward_model, extra_info, agent_name 'drgym_agent') for
    data.train_files / data.val_files."""
    _export("verl", out, suite, web, kind, seeds, max_turns, max_tool_calls, split, for_eval)
    if agent_loop_config is not None:
        from drgym.train.peer_data import write_verl_agent_loop_config

        write_verl_agent_loop_config(agent_loop_config)
        console.print(f"wrote the agent-loop config to {agent_loop_config}", highlight=False)
