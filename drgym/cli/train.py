"""`drgym train`: OpenRLHF SFT and PPO launchers, and the CPU reference trainers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from drgym.cli.app import TaskKind, console, train_app
from drgym.core.kinds import ENV_IDS


def launch_openrlhf(kind: str, config: Path | None, dry_run: bool) -> None:
    from drgym.train.launch import launch

    code = launch(kind, config, dry_run=dry_run, echo=lambda text: console.print(text, highlight=False,
                                                                                  soft_wrap=True, markup=False))
    if code:
        raise typer.Exit(code)


@train_app.command("sft")
def train_sft_command(
    config: Annotated[Path | None, typer.Option(help="YAML config (default with --dry-run: the one-GPU example)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the command and resolved config only")] = False,
) -> None:
    """OpenRLHF SFT (deepspeed) on drgym SFT data."""
    if config is None and not dry_run:
        raise typer.BadParameter("--config is required (or --dry-run to see the one-GPU example)")
    launch_openrlhf("sft", config, dry_run)


@train_app.command("ppo")
def train_ppo_command(
    config: Annotated[Path | None, typer.Option(help="YAML config (default with --dry-run: the one-GPU example)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the command and resolved config only")] = False,
) -> None:
    """OpenRLHF PPO (GAE, gamma = lambda = 1) on Ray GPU actors with vLLM rollouts in drgym environments."""
    if config is None and not dry_run:
        raise typer.BadParameter("--config is required (or --dry-run to see the one-GPU example)")
    launch_openrlhf("ppo", config, dry_run)


@train_app.command("reference-sft")
def reference_sft(
    model: Annotated[Path, typer.Option(help="local HF model folder")],
    data: Annotated[Path, typer.Option(help="SFT JSONL (drgym sft-data)")],
    out: Annotated[Path, typer.Option(help="output folder")],
    epochs: Annotated[int, typer.Option()] = 3,
    lr: Annotated[float, typer.Option()] = 1e-3,
    max_len: Annotated[int, typer.Option()] = 2048,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto (a GPU when there is one)")] = "auto",
) -> None:
    """CPU reference SFT (plain torch; loss on assistant tokens)."""
    from drgym.train.reference.sft import SFTConfig, train_sft

    path = train_sft(SFTConfig(model=str(model), data=str(data), out=str(out), epochs=epochs, lr=lr, max_len=max_len,
                               device=device))
    console.print(f"saved {path}", highlight=False)


@train_app.command("reference-ppo")
def reference_ppo(
    model: Annotated[Path, typer.Option(help="the SFT checkpoint (local HF folder)")],
    out: Annotated[Path, typer.Option(help="output folder")],
    suite: Annotated[str, typer.Option(help="suite name or task file")] = "procedural:tiny",
    kind: Annotated[TaskKind, typer.Option(help="which environment")] = TaskKind.deep_search,
    iterations: Annotated[int, typer.Option()] = 20,
    episodes_per_iteration: Annotated[int, typer.Option()] = 16,
    samples_per_task: Annotated[int, typer.Option(help="episodes per task in an iteration (divides the above)")] = 1,
    actor_lr: Annotated[float, typer.Option()] = 5e-5,
    actor_trainable: Annotated[str | None, typer.Option(
        help="regex: train only the actor parameters whose names match (e.g. '^model\\.norm\\.'); default all")] = None,
    max_turns: Annotated[int, typer.Option(help="budget: turns per episode")] = 6,
    gamma: Annotated[float, typer.Option()] = 1.0,
    lam: Annotated[float, typer.Option()] = 1.0,
    kl_coef: Annotated[float, typer.Option()] = 0.01,
    max_new_tokens: Annotated[int, typer.Option()] = 128,
    max_length: Annotated[int, typer.Option()] = 4096,
    lora_rank: Annotated[int, typer.Option(help="train low-rank adapters of this rank instead of the weights")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto (a GPU when there is one)")] = "auto",
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """CPU reference PPO in drgym envs (train split only), metrics in OUT/ppo_metrics.csv."""
    import gymnasium as gym

    import drgym  # noqa: F401
    from drgym.tasks.splits import select_split
    from drgym.train.reference.ppo import PPOConfig, train_ppo

    env_id = ENV_IDS[kind.value]
    env = gym.make(env_id, tasks=suite)
    tasks = select_split(env.unwrapped.tasks, "train")
    env.close()
    labels = [{"task_id": t.id, "tasks": suite, "env_id": env_id, "env_kwargs": {"budget": {"max_turns": max_turns}}}
              for t in tasks]
    path = train_ppo(PPOConfig(model=str(model), labels=labels, out=str(out), iterations=iterations,
                               episodes_per_iteration=episodes_per_iteration, samples_per_task=samples_per_task,
                               actor_lr=actor_lr, actor_trainable=actor_trainable, gamma=gamma, lam=lam, kl_coef=kl_coef,
                               max_new_tokens=max_new_tokens, max_length=max_length, lora_rank=lora_rank,
                               device=device, seed=seed))
    console.print(f"saved {path}", highlight=False)


@train_app.command("smoke-gpu")
def smoke_gpu(
    out: Annotated[Path, typer.Option(help="output folder (smoke_report.json, models, logs)")] = Path("runs/smoke-gpu"),
    device: Annotated[str, typer.Option(help="the reference part's device: cuda, cuda:N, cpu or auto")] = "cuda",
    openrlhf: Annotated[str, typer.Option(help="the OpenRLHF part: auto (when installed), skip, or require")] = "auto",
    iterations: Annotated[int, typer.Option(help="reference PPO iterations")] = 2,
    steps: Annotated[int, typer.Option(help="OpenRLHF global steps")] = 2,
) -> None:
    """Run first on a GPU machine: reference PPO on CUDA, then a 2-step OpenRLHF PPO (tiny random models)."""
    from drgym.errors import ConfigError
    from drgym.train.smoke_gpu import run_smoke

    if openrlhf not in ("auto", "skip", "require"):
        raise ConfigError(f"--openrlhf {openrlhf!r}: use auto, skip or require")
    report = run_smoke(out, device=device, openrlhf=openrlhf, iterations=iterations, steps=steps)  # type: ignore[arg-type]
    console.print(report.table(), highlight=False, markup=False)
    console.print(f"report: {out / 'smoke_report.json'}", highlight=False)
    if not report.is_ok:
        failed = ", ".join(part.name for part in report.parts if part.status == "failed")
        console.print(f"failed: {failed}", highlight=False)
        raise typer.Exit(1)
