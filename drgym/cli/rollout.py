"""`drgym rollout` and `drgym replay`: run a policy for many episodes; read the episodes back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from drgym.cli.app import app, console


@app.command("rollout")
def rollout_command(
    out: Annotated[Path, typer.Option(help="trajectory file (JSONL); a re-run resumes it")],
    env: Annotated[str, typer.Option(help="environment id")] = "drgym/DeepResearch-v0",
    policy: Annotated[str, typer.Option(help="scripted, random, openai (an endpoint) or hf (a local model)")] = "scripted",
    base_url: Annotated[str | None, typer.Option(help="openai: endpoint, e.g. http://127.0.0.1:8000/v1")] = None,
    model: Annotated[str | None, typer.Option(help="openai: served model name")] = None,
    tool_mode: Annotated[str, typer.Option(help="openai: text or native tool calls")] = "text",
    model_path: Annotated[Path | None, typer.Option(help="hf: local model folder")] = None,
    policy_file: Annotated[Path | None, typer.Option(help="a YAML policy description (overrides --policy)")] = None,
    suite: Annotated[str | None, typer.Option(help="suite or task file (default procedural:easy)")] = None,
    episodes: Annotated[int, typer.Option(help="episodes in the run")] = 10,
    workers: Annotated[int, typer.Option(help="workers")] = 1,
    backend: Annotated[str | None, typer.Option(
        help="processes or ray (default: ray with --ray-address, else processes)")] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="ray: the cluster to use (host:port of `ray start --head`; default RAY_ADDRESS, else a local Ray)")] = None,
    seed: Annotated[int, typer.Option(help="episode i uses seed + i")] = 0,
) -> None:
    """Run a policy for many episodes; one JSON line per finished episode."""
    import functools

    from drgym.agents import RandomPolicy, ScriptedResearcher
    from drgym.agents.hf_policy import HFPolicy
    from drgym.agents.openai_policy import OpenAIChatPolicy
    from drgym.agents.rollout import rollout
    from drgym.errors import ConfigError

    if policy_file is not None:
        from drgym.agents.policy_config import load_policy_file

        factory, policy = load_policy_file(policy_file)
    elif policy == "openai":
        if not base_url or not model:
            raise ConfigError("--policy openai needs --base-url and --model")
        factory = functools.partial(OpenAIChatPolicy, base_url=base_url, model=model, tool_mode=tool_mode)
    elif policy == "hf":
        if model_path is None:
            raise ConfigError("--policy hf needs --model-path (a local model folder)")
        factory = functools.partial(HFPolicy, str(model_path))
    elif policy in ("scripted", "random"):
        factory = ScriptedResearcher if policy == "scripted" else RandomPolicy
    else:
        raise ConfigError(f"--policy must be scripted, random, openai or hf, got {policy!r}")
    if backend is None:
        backend = "ray" if ray_address else "processes"
    summary = rollout(env, factory, n_episodes=episodes, out=out, n_workers=workers, seed=seed, backend=backend,
                      ray_address=ray_address, env_kwargs={"tasks": suite} if suite else {},
                      policy_name=model if policy == "openai" and policy_file is None else policy)
    console.print(str(summary), highlight=False, soft_wrap=True)


@app.command("replay")
def replay(
    trajectories: Annotated[Path, typer.Argument(help="trajectory file (JSONL)")],
    episode: Annotated[int | None, typer.Option(help="episode index to print (default: list the episodes)")] = None,
) -> None:
    """Print an episode of a trajectory file as a transcript, or list the file's episodes."""
    from drgym.agents.trajectories import read_trajectories
    from drgym.errors import ConfigError

    records = list(read_trajectories(trajectories))
    if not records:
        raise ConfigError(f"{trajectories} holds no finished episode")
    if episode is None:
        table = Table("index", "task", "status", "reward", "steps", "wall s", title=str(trajectories), title_justify="left")
        for record in sorted(records, key=lambda r: r["index"]):
            reward = "-" if record.get("status") != "ok" or record.get("reward") is None else f"{record['reward']:.3f}"
            table.add_row(str(record["index"]), record["task_id"], record["status"], reward, str(len(record["steps"])),
                          f"{record['wall_s']:.2f}")
        console.print(table)
        return
    record = next((r for r in records if r["index"] == episode), None)
    if record is None:
        raise ConfigError(f"no episode {episode} in {trajectories}; it has {sorted(r['index'] for r in records)}")
    console.rule(f"episode {episode}: {record['task_id']} ({record['status']}, reward {record.get('reward')})")
    for message in record["messages"]:
        content = message.get("content") or ""
        if message["role"] == "system":
            content = content.split("\n")[0] + " […]"
        console.print(f"[bold]{message['role']}[/]", highlight=False)
        console.print(content, highlight=False, markup=False)
    if record.get("error"):
        console.print(f"error: {record['error']}", highlight=False, markup=False)
