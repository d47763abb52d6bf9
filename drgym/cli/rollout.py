"""`drgym rollout` and `drgym replay`: run a policy for many episodes; read the episodes back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from drgym.cli.app import Backend, PolicyKind, ToolMode, app, console


@app.command("rollout")
def rollout_command(
    out: Annotated[Path, typer.Option(help="trajectory file (JSONL); a re-run resumes it")],
    env: Annotated[str, typer.Option(help="environment id")] = "drgym/DeepResearch-v1",
    policy: Annotated[PolicyKind, typer.Option(help="openai: an endpoint; hf: a local model")] = PolicyKind.scripted,
    base_url: Annotated[str | None, typer.Option(help="openai: endpoint, e.g. http://127.0.0.1:8000/v1")] = None,
    model: Annotated[str | None, typer.Option(help="openai: served model name")] = None,
    tool_mode: Annotated[ToolMode, typer.Option(help="openai: text or native tool calls")] = ToolMode.text,
    model_path: Annotated[Path | None, typer.Option(help="hf: local model folder")] = None,
    policy_file: Annotated[Path | None, typer.Option(help="a YAML policy description (overrides --policy)")] = None,
    suite: Annotated[str | None, typer.Option(help="suite or task file (default procedural:easy)")] = None,
    web: Annotated[Path | None, typer.Option(help="world or corpus folder to research in (default: the suite's "
                                                  "world, or the corpus the task file names)")] = None,
    episodes: Annotated[int, typer.Option(help="episodes in the run")] = 10,
    workers: Annotated[int, typer.Option(help="workers")] = 1,
    backend: Annotated[Backend | None, typer.Option(
        help="default: ray with --ray-address, else processes")] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="ray: the cluster to use (host:port of `ray start --head`; default RAY_ADDRESS, else a local Ray)")] = None,
    seed: Annotated[int, typer.Option(help="episode i uses seed + i")] = 0,
) -> None:
    """Run a policy for many episodes; one JSON line per finished episode."""
    from drgym.agents.policy_config import PolicySpec, load_policy_file
    from drgym.agents.rollout import rollout

    if policy_file is not None:
        factory, policy_name = load_policy_file(policy_file)
    else:  # the flags are a policy description too: one factory builds both
        spec = PolicySpec(kind=policy.value, base_url=base_url, model=model, tool_mode=tool_mode.value,
                          model_path=str(model_path) if model_path else None)
        factory, policy_name = spec.factory(), spec.name or spec.model or spec.kind
    chosen_backend = backend.value if backend else "ray" if ray_address else "processes"
    env_kwargs = {**({"tasks": suite} if suite else {}), **({"web": str(web)} if web is not None else {})}
    summary = rollout(env, factory, n_episodes=episodes, out=out, n_workers=workers, seed=seed, backend=chosen_backend,
                      ray_address=ray_address, env_kwargs=env_kwargs,
                      policy_name=policy_name)
    console.print(str(summary), highlight=False, soft_wrap=True)


@app.command("replay")
def replay(
    trajectories: Annotated[Path, typer.Argument(help="trajectory file (JSONL)")],
    episode: Annotated[int | None, typer.Option(help="episode index to print (default: list the episodes)")] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="rebuild the episode's environment from its record, play "
                                        "the recorded actions again and check every observation and the reward")] = False,
) -> None:
    """Print an episode of a trajectory file as a transcript, or list the file's episodes; --rerun replays one."""
    from drgym.agents.trajectories import rerun_episode
    from drgym.core.records import read_records
    from drgym.errors import ConfigError

    records = list(read_records(trajectories))
    if not records:
        raise ConfigError(f"{trajectories} holds no finished episode")
    if rerun and episode is None:
        raise ConfigError("--rerun needs --episode N (the index column of `drgym replay FILE`)")
    if episode is None:
        table = Table("index", "task", "status", "reward", "steps", "wall s", title=str(trajectories), title_justify="left")
        for record in sorted(records, key=lambda r: r.index):
            reward = f"{record.reward:.3f}" if record.is_ok else "-"
            table.add_row(str(record.index), record.task_id, record.status, reward, str(len(record.steps)),
                          f"{record.wall_s:.2f}")
        console.print(table)
        return
    record = next((r for r in records if r.index == episode), None)
    if record is None:
        raise ConfigError(f"no episode {episode} in {trajectories}; it has {sorted(r.index for r in records)}")
    if rerun:
        result = rerun_episode(record)
        if result.divergence is not None:
            console.print(f"episode {episode} ({result.task_id}) diverges from its record at {result.divergence}",
                          highlight=False, markup=False)
            raise typer.Exit(1)
        console.print(f"episode {episode} ({result.task_id}): {result.steps_replayed} of {result.steps_recorded} "
                      f"recorded steps replayed; every observation, the reward ({result.reward}) and the episode end "
                      "match the record", highlight=False, markup=False)
        return
    console.rule(f"episode {episode}: {record.task_id} ({record.status}, reward {record.reward})")
    for message in record.messages:
        content = message.content
        if message.role == "system":
            content = content.split("\n")[0] + " […]"
        console.print(f"[bold]{message.role}[/]", highlight=False)
        console.print(content, highlight=False, markup=False)
    if record.error:
        console.print(f"error: {record.error}", highlight=False, markup=False)
