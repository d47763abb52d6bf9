"""The first thing to run on a GPU machine: does drgym's training start there?

    drgym train smoke-gpu --out runs/smoke                # or: python -m drgym.train.smoke_gpu --out runs/smoke
    drgym train smoke-gpu --out runs/smoke --device cpu   # the reference part on a CPU (what CI runs)

Two parts, each with a tiny model with random weights on ``procedural:tiny`` (nothing downloaded):

1. ``reference``: the reference PPO (`drgym.train.reference.ppo`) on the device for a few iterations.
2. ``openrlhf``: when the ``gpu`` extra (openrlhf, vllm, ray, deepspeed) is importable and CUDA is there, a
   2-step OpenRLHF PPO through drgym's own launcher (`drgym.train.launch.launch`, the adapter in
   ``train/openrlhf_agent.py``), everything colocated on one GPU.

Each part checks the same three things: a training step completed, a reward was logged, a checkpoint was written.
The report names each part passed, failed (with what failed) or skipped (with why); the exit code is 1 when a part
failed. ``smoke_report.json`` in the output folder keeps the figures (device, versions, seconds, GPU memory).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import logging
import math
import platform
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from drgym.errors import DrgymError

__all__ = ["PartResult", "SmokeReport", "logged_rewards", "main", "run_smoke"]

logger = logging.getLogger(__name__)

GPU_STACK = ("openrlhf", "vllm", "ray", "deepspeed")
"""What the OpenRLHF part imports (the ``gpu`` extra)."""
SUITE = "procedural:tiny"
SYSTEM_PROMPT = ('Answer from the offline web. Search with <tool_call>{{"name": "batch_web_surfer", "arguments": '
                 '{{"queries": ["..."], "top_k": 3}}}}</tool_call>. {finish}')
"""A short system prompt keeps a tiny tokenizer's prompts short."""
ENV_KWARGS = {"tools": ["batch_web_surfer"], "budget": {"max_turns": 2, "max_tool_calls": 2},
              "system_prompt": SYSTEM_PROMPT}
REWARD_TAG = "train/rollout/reward_mean"
"""The scalar OpenRLHF 0.11 logs to TensorBoard for each global step (``PPOTrainer._compute_rollout_stats``)."""


@dataclass
class PartResult:
    name: str
    status: Literal["passed", "failed", "skipped"]
    detail: str
    """What was checked and found, what failed, or why the part was skipped."""
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class SmokeReport:
    parts: list[PartResult]
    environment: dict[str, Any]

    @property
    def is_ok(self) -> bool:
        return all(part.status != "failed" for part in self.parts)

    def table(self) -> str:
        lines = [f"{'part':<10} {'status':<8} {'seconds':>8}  detail"]
        for part in self.parts:
            lines.append(f"{part.name:<10} {part.status:<8} {part.seconds:>8.1f}  {part.detail}")
        return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Versions and the GPU, for the report."""
    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                            "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    from importlib import metadata

    for name in ("transformers", *GPU_STACK):
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[name] = None
    return info


def _tiny_labels(tokenizer: str | None = None) -> list[dict[str, Any]]:
    import gymnasium as gym

    import drgym  # noqa: F401 - registers the environments
    from drgym.tasks.splits import select_split

    env = gym.make("drgym/DeepSearch-v1", tasks=SUITE, **ENV_KWARGS)
    try:
        tasks = list(select_split(env.unwrapped.tasks, "train"))
    finally:
        env.close()
    return [{"task_id": task.id, "tasks": SUITE, "env_id": "drgym/DeepSearch-v1", "env_kwargs": ENV_KWARGS,
             **({"tokenizer": tokenizer} if tokenizer else {})} for task in tasks]


# -- part 1: the reference PPO ---------------------------------------------------------------------------


def smoke_reference(out: Path, *, device: str, iterations: int = 2, seed: int = 0) -> PartResult:
    """Reference PPO with a tiny random model on `device`; checks steps, rewards and the checkpoint."""
    import torch

    from drgym.agents.tiny_model import build_tiny_model
    from drgym.train.reference.device import resolve_device
    from drgym.train.reference.ppo import PPOConfig, train_ppo

    started = time.perf_counter()
    resolved = resolve_device(device, field="--device")
    model = build_tiny_model(out / "tiny-model", seed=seed, hidden_size=64, layers=2, heads=4, max_positions=8192)
    if resolved.type == "cuda":
        torch.cuda.reset_peak_memory_stats(resolved)
    run = train_ppo(PPOConfig(model=str(model), labels=_tiny_labels(), out=str(out / "ppo"), iterations=iterations,
                              episodes_per_iteration=4, minibatch_episodes=4, micro_batch_episodes=2,
                              max_new_tokens=16, max_length=8192, save_every=1, seed=seed, device=device,
                              show_progress=False))
    rows = list(csv.DictReader((run / "ppo_metrics.csv").open(encoding="utf-8")))
    problems = []
    if len(rows) != iterations:
        problems.append(f"{len(rows)} of {iterations} iterations in {run / 'ppo_metrics.csv'}")
    rewards = [float(row["reward"]) for row in rows if row.get("reward") not in (None, "")]
    if len(rewards) != len(rows) or not rows or not all(math.isfinite(r) for r in rewards):
        problems.append(f"no finite reward logged per iteration in {run / 'ppo_metrics.csv'} (found {rewards})")
    checkpoint = run / "checkpoint-1"
    if not (checkpoint / "config.json").is_file() or not any(checkpoint.glob("*.safetensors")):
        problems.append(f"no checkpoint at {checkpoint} (config.json and weights)")
    figures: dict[str, Any] = {"device": str(resolved), "iterations": len(rows), "rewards": rewards,
                               "checkpoint": str(checkpoint)}
    if resolved.type == "cuda":
        figures["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated(resolved) / 2**20, 1)
    seconds = time.perf_counter() - started
    if problems:
        return PartResult("reference", "failed", "; ".join(problems), seconds, figures)
    return PartResult("reference", "passed", f"{len(rows)} PPO iterations on {resolved}, rewards {rewards} logged, "
                      f"checkpoint {checkpoint}", seconds, figures)


# -- part 2: OpenRLHF -------------------------------------------------------------------------------------


def missing_gpu_stack() -> list[str]:
    return [name for name in GPU_STACK if importlib.util.find_spec(name) is None]


def logged_rewards(tensorboard_dir: Path) -> list[tuple[int, float]]:
    """(global step, mean rollout reward) pairs OpenRLHF wrote to TensorBoard event files under the folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found = []
    for events in sorted(tensorboard_dir.rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events.parent))
        accumulator.Reload()
        if REWARD_TAG in accumulator.Tags().get("scalars", []):
            found += [(event.step, event.value) for event in accumulator.Scalars(REWARD_TAG)]
    return sorted(set(found))


def openrlhf_config(out: Path, model: Path, prompts: Path, *, steps: int) -> dict[str, Any]:
    """A PPO launch config of `steps` global steps: one rollout batch of 2 prompts × 2 samples per step."""
    return {
        "actor": {"model": str(model), "num_nodes": 1, "num_gpus_per_node": 1, "lr": 1e-6,
                  "gradient_checkpointing": False},
        "critic": {"num_nodes": 1, "num_gpus_per_node": 1, "lr": 9e-6},
        "ref": {"num_nodes": 1, "num_gpus_per_node": 1},
        "vllm": {"num_engines": 1, "tensor_parallel_size": 1, "gpu_memory_utilization": 0.25, "enable_sleep": True,
                 "enable_prefix_caching": False},
        "colocate_all": True,
        "rollout": {"batch_size": 2, "micro_batch_size": 2, "n_samples_per_prompt": 2, "max_new_tokens": 64,
                    "temperature": 1.0},
        "train": {"batch_size": 4, "micro_batch_size": 1, "max_epochs": 1, "num_episodes": 1, "max_len": 8192,
                  "zero_stage": 2, "seed": 0},
        "env": {"suite": SUITE, "kinds": ["deep_search"], "prompts": str(prompts)},
        "ckpt": {"output_dir": str(out / "run"), "save_steps": 1, "save_hf": True, "resume": False,
                 "max_num": steps},
        "tensorboard_dir": str(out / "tensorboard"),
    }


def smoke_openrlhf(out: Path, *, steps: int = 2, seed: int = 0) -> PartResult:
    """A `steps`-step OpenRLHF PPO on procedural:tiny with a tiny random model, through `drgym.train.launch`."""
    from drgym.agents.tiny_model import build_tiny_model
    from drgym.train.episodes import export_prompts
    from drgym.train.launch import launch

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    model = (out / "tiny-model").resolve()  # an absolute path: Ray workers resolve it
    every = out / "prompts-all.jsonl"
    per_step = 2
    export_prompts(SUITE, every, seeds=per_step * steps, env_kwargs=ENV_KWARGS, tokenizer=str(model),
                   kinds=("deep_search",))
    rows = every.read_text(encoding="utf-8").splitlines()[:per_step * steps]
    prompts = out / "prompts.jsonl"
    prompts.write_text("\n".join(rows) + "\n", encoding="utf-8")
    texts = [m["content"] for row in rows for m in json.loads(row)["prompt"]]
    # head_dim 64 (256 / 4): vLLM's and flash-attention's kernels take no smaller head
    build_tiny_model(model, seed=seed, corpus=texts, vocab_size=1024, hidden_size=256, layers=2, heads=4,
                     max_positions=16384)
    config_path = out / "ppo-smoke.yaml"
    config_path.write_text(yaml.safe_dump(openrlhf_config(out, model, prompts, steps=steps), sort_keys=False))
    code = launch("ppo", config_path, echo=lambda text: logger.info("%s", text))
    seconds = time.perf_counter() - started
    run = out / "run"
    problems = []
    if code != 0:
        problems.append(f"OpenRLHF exited with code {code} (log: {run / 'train.log'})")
    try:
        rewards = logged_rewards(out / "tensorboard")
    except ImportError as error:
        rewards = []
        problems.append(f"cannot read the TensorBoard log ({error}; tensorboard comes with openrlhf)")
    else:
        if len(rewards) < steps:
            problems.append(f"{len(rewards)} of {steps} global steps logged {REWARD_TAG} under {out / 'tensorboard'}")
    checkpoints = run / "checkpoints"
    if not checkpoints.is_dir() or not any(path.is_file() for path in checkpoints.rglob("*")):
        problems.append(f"no intermediate checkpoint under {checkpoints} (ckpt.save_steps 1)")
    figures = {"exit_code": code, "rewards": rewards, "checkpoints": str(checkpoints), "config": str(config_path)}
    if problems:
        return PartResult("openrlhf", "failed", "; ".join(problems), seconds, figures)
    return PartResult("openrlhf", "passed", f"{steps} global steps, rewards {rewards} logged, checkpoints under "
                      f"{checkpoints}", seconds, figures)


# -- both ------------------------------------------------------------------------------------------------


def _guarded(name: str, part: Any, **kwargs: Any) -> PartResult:
    """Runs a part; an error becomes its failure (named, with the exception), so the other part still runs."""
    started = time.perf_counter()
    try:
        return part(**kwargs)
    except (DrgymError, OSError, RuntimeError, ValueError, ImportError) as error:  # CUDA errors are RuntimeErrors
        if not isinstance(error, DrgymError):  # an expected error says all in its message; others need the trace
            logger.warning("the %s part failed:\n%s", name, traceback.format_exc())
        return PartResult(name, "failed", f"{type(error).__name__}: {error}", time.perf_counter() - started)


def run_smoke(out: str | Path, *, device: str = "cuda", openrlhf: Literal["auto", "skip", "require"] = "auto",
              iterations: int = 2, steps: int = 2, seed: int = 0) -> SmokeReport:
    """Runs the parts and writes ``smoke_report.json`` under `out`; see the module docstring."""
    import torch

    from drgym.errors import ConfigError

    for name, value in (("iterations", iterations), ("steps", steps)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts = [_guarded("reference", smoke_reference, out=out / "reference", device=device, iterations=iterations,
                      seed=seed)]
    missing = missing_gpu_stack()
    why_not = None
    if openrlhf == "skip":
        why_not = "skipped on request (--openrlhf skip)"
    elif missing:
        why_not = f"the gpu extra is not installed ({', '.join(missing)} missing): pip install 'drgym[gpu]'"
    elif not torch.cuda.is_available():
        why_not = "no CUDA device: OpenRLHF trains on NVIDIA GPUs"
    elif device == "cpu":
        why_not = "--device cpu: OpenRLHF trains on GPUs only"
    if why_not is None:
        parts.append(_guarded("openrlhf", smoke_openrlhf, out=out / "openrlhf", steps=steps, seed=seed))
    elif openrlhf == "require":
        parts.append(PartResult("openrlhf", "failed", f"required (--openrlhf require) but {why_not}"))
    else:
        parts.append(PartResult("openrlhf", "skipped", why_not))
    report = SmokeReport(parts=parts, environment=environment())
    (out / "smoke_report.json").write_text(json.dumps(asdict(report), indent=2, default=str))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/smoke-gpu")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, cpu or auto (default cuda: a GPU smoke)")
    parser.add_argument("--openrlhf", choices=("auto", "skip", "require"), default="auto",
                        help="the OpenRLHF part: run when possible (auto), never, or fail when it cannot run")
    parser.add_argument("--iterations", type=int, default=2, help="reference PPO iterations")
    parser.add_argument("--steps", type=int, default=2, help="OpenRLHF global steps")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = run_smoke(args.out, device=args.device, openrlhf=args.openrlhf, iterations=args.iterations,
                       steps=args.steps)
    print(report.table())
    print(f"report: {Path(args.out) / 'smoke_report.json'}")
    return 0 if report.is_ok else 1


if __name__ == "__main__":
    sys.exit(main())
