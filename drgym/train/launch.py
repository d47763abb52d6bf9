"""Launchers for OpenRLHF: ``drgym train sft --config sft.yaml`` and ``drgym train ppo --config ppo.yaml``.

A YAML config (pydantic, unknown fields rejected, errors name the field and its line) becomes the exact
OpenRLHF 0.11 command line (dotted flags). PPO uses GAE with γ = λ = 1 and the clipped policy loss, drgym
environments through `drgym/train/openrlhf_agent.py` (``--train.agent_func_path``), and a prompt dataset
exported from the configured suite's train split. ``--dry-run`` prints the command and the resolved config and
runs nothing. Before a launch: GPU counts, colocation rules, the SFT checkpoint, the ``gpu`` extra and a CUDA
device are checked, each failure naming its field.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drgym.errors import ConfigError, DependencyNotInstalled
from drgym.yaml_files import field_error, read_yaml

__all__ = ["PPOLaunchConfig", "SFTLaunchConfig", "build_ppo_command", "build_sft_command", "example_config",
           "launch", "load_config", "preflight", "tokenizer_reference"]

CONFIG_DIR = Path(__file__).parent / "configs"
EXAMPLES = {"sft": "sft-1gpu.yaml", "ppo": "ppo-1gpu.yaml"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- SFT ------------------------------------------------------------------------------------------------


class SFTLaunchConfig(_Strict):
    """OpenRLHF SFT (``deepspeed --module openrlhf.cli.train_sft``) on drgym SFT JSONL (``drgym sft-data``)."""

    model: str = Field(description="base model: a local folder or a Hugging Face id")
    dataset: str = Field(description="SFT JSONL from drgym sft-data (messages per row)")
    output_dir: str = "./checkpoints/sft"
    num_nodes: int = Field(1, ge=1)
    num_gpus_per_node: int = Field(1, ge=1)
    hostfile: str | None = None
    max_len: int = Field(16384, ge=128)
    micro_batch_size: int = Field(1, ge=1)
    batch_size: int = Field(64, ge=1)
    max_epochs: int = Field(2, ge=1)
    lr: float = Field(5e-6, gt=0)
    zero_stage: Literal[0, 1, 2, 3] = 2
    param_dtype: Literal["bf16", "fp16"] = "bf16"
    gradient_checkpointing: bool = True
    attn_implementation: str = "flash_attention_2"
    packing_samples: bool = False
    save_steps: int = -1
    tensorboard_dir: str | None = None
    extra_args: list[str] = []


def build_sft_command(config: SFTLaunchConfig) -> list[str]:
    launcher = ["deepspeed"]
    if config.num_nodes > 1:
        launcher += ["--num_nodes", str(config.num_nodes)] + (["--hostfile", config.hostfile] if config.hostfile else [])
    launcher += ["--num_gpus", str(config.num_gpus_per_node), "--module", "openrlhf.cli.train_sft"]
    args = ["--model.model_name_or_path", config.model, "--ckpt.output_dir", config.output_dir,
            "--ckpt.save_steps", str(config.save_steps), "--ckpt.path", str(Path(config.output_dir) / "checkpoints"),
            "--ckpt.load_enable",  # a re-run continues from the last intermediate checkpoint
            "--data.dataset", config.dataset, "--data.input_key", "messages", "--data.apply_chat_template",
            "--data.multiturn", "--data.max_len", str(config.max_len),
            "--train.micro_batch_size", str(config.micro_batch_size), "--train.batch_size", str(config.batch_size),
            "--train.max_epochs", str(config.max_epochs), "--adam.lr", str(config.lr),
            "--ds.zero_stage", str(config.zero_stage), "--ds.param_dtype", config.param_dtype,
            "--ds.attn_implementation", config.attn_implementation]
    if config.gradient_checkpointing:
        args.append("--model.gradient_checkpointing_enable")
    if config.packing_samples:
        args.append("--ds.packing_samples")
    if config.tensorboard_dir:
        args += ["--logger.tensorboard_dir", config.tensorboard_dir]
    return launcher + args + list(config.extra_args)


# -- PPO ------------------------------------------------------------------------------------------------


class ModelGroup(_Strict):
    num_nodes: int = Field(1, ge=1)
    num_gpus_per_node: int = Field(1, ge=1)

    @property
    def gpus(self) -> int:
        return self.num_nodes * self.num_gpus_per_node


class ActorConfig(ModelGroup):
    model: str = Field(description="the SFT checkpoint the actor starts from")
    lr: float = Field(1e-6, gt=0)
    gradient_checkpointing: bool = True


class CriticConfig(ModelGroup):
    model: str | None = Field(None, description="default: the actor's checkpoint (OpenRLHF's choice for GAE)")
    lr: float = Field(9e-6, gt=0)
    value_clip: float = Field(0.5, gt=0)


class VLLMConfig(_Strict):
    num_engines: int = Field(1, ge=1)
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.5, gt=0, le=1)
    enable_sleep: bool = True
    enable_prefix_caching: bool = True


class RolloutConfig(_Strict):
    batch_size: int = Field(16, ge=1)
    micro_batch_size: int = Field(4, ge=1)
    n_samples_per_prompt: int = Field(4, ge=1)
    max_new_tokens: int = Field(1024, ge=1)
    temperature: float = Field(1.0, gt=0)


class TrainConfig(_Strict):
    batch_size: int = Field(16, ge=1)
    micro_batch_size: int = Field(2, ge=1)
    max_epochs: int = Field(1, ge=1)
    num_episodes: int = Field(1, ge=1)
    max_len: int = Field(16384, ge=256)
    zero_stage: Literal[0, 1, 2, 3] = 3
    param_dtype: Literal["bf16", "fp16"] = "bf16"
    seed: int = 42
    packing_samples: bool = Field(False, description="pack episodes into one sequence (flash-attention; no padding)")
    dynamic_batch: bool = Field(False, description="micro-batches by token count (needs packing_samples)")
    max_tokens_per_gpu: int | None = Field(None, ge=256, description="tokens per micro-batch with dynamic_batch")


class AlgoConfig(_Strict):
    gamma: float = Field(1.0, ge=0, le=1)
    lambd: float = Field(1.0, ge=0, le=1)
    eps_clip: float = Field(0.2, gt=0)
    kl_init_coef: float = Field(0.01, ge=0)


class EnvConfig(_Strict):
    suite: str = Field("procedural:easy", description="a suite name or a task file")
    web: str | None = None
    kinds: list[Literal["deep_search", "deep_research"]] = ["deep_search", "deep_research"]
    seeds_per_task: int = Field(1, ge=1)
    budget: dict[str, Any] = {"max_tool_calls": 40, "max_turns": 20}
    tools: list[str] | None = None
    noise: float = Field(0.0, ge=0, le=1)
    judge: Literal["deterministic", "llm"] = "deterministic"
    judge_config: dict[str, Any] | None = Field(None, description="LLMJudgeConfig fields: base_url, model, ...")
    prompts: str | None = Field(None, description="an existing drgym rl-data file (default: exported at launch)")


class CheckpointConfig(_Strict):
    output_dir: str = "./checkpoints/ppo"
    save_steps: int = -1
    save_hf: bool = True
    resume: bool = Field(True, description="continue from the last intermediate checkpoint under output_dir")
    max_num: int = Field(3, ge=1, description="intermediate checkpoints kept")


class RayConfig(_Strict):
    address: str | None = Field(None, description="join this cluster ('auto' or host:port); default: start one")


class PPOLaunchConfig(_Strict):
    """OpenRLHF PPO with Ray + vLLM (``python -m openrlhf.cli.train_ppo_ray``) in drgym environments."""

    actor: ActorConfig
    critic: CriticConfig = CriticConfig()
    ref: ModelGroup = ModelGroup()
    vllm: VLLMConfig = VLLMConfig()
    colocate_all: bool = True
    rollout: RolloutConfig = RolloutConfig()
    train: TrainConfig = TrainConfig()
    algo: AlgoConfig = AlgoConfig()
    env: EnvConfig = EnvConfig()
    ckpt: CheckpointConfig = CheckpointConfig()
    ray: RayConfig = RayConfig()
    tensorboard_dir: str | None = None
    extra_args: list[str] = []

    @property
    def prompts_path(self) -> str:
        return self.env.prompts or str(Path(self.ckpt.output_dir) / "prompts.jsonl")


def agent_func_path() -> str:
    """The installed path of drgym's OpenRLHF agent file (found without importing it: it needs openrlhf)."""
    spec = importlib.util.find_spec("drgym.train")
    return str(Path(spec.origin).parent / "openrlhf_agent.py")


def build_ppo_command(config: PPOLaunchConfig) -> list[str]:
    a, c, r, v, ro, t, al = (config.actor, config.critic, config.ref, config.vllm, config.rollout, config.train,
                             config.algo)
    args = [sys.executable, "-m", "openrlhf.cli.train_ppo_ray",
            "--actor.model_name_or_path", a.model,
            "--actor.num_nodes", str(a.num_nodes), "--actor.num_gpus_per_node", str(a.num_gpus_per_node),
            "--critic.num_nodes", str(c.num_nodes), "--critic.num_gpus_per_node", str(c.num_gpus_per_node),
            "--ref.num_nodes", str(r.num_nodes), "--ref.num_gpus_per_node", str(r.num_gpus_per_node),
            "--vllm.num_engines", str(v.num_engines), "--vllm.tensor_parallel_size", str(v.tensor_parallel_size),
            "--vllm.gpu_memory_utilization", str(v.gpu_memory_utilization),
            "--algo.advantage.estimator", "gae", "--algo.advantage.gamma", str(al.gamma),
            "--algo.advantage.lambd", str(al.lambd), "--actor.eps_clip", str(al.eps_clip),
            "--critic.value_clip", str(c.value_clip), "--algo.kl.init_coef", str(al.kl_init_coef),
            "--actor.adam.lr", str(a.lr), "--critic.adam.lr", str(c.lr),
            "--rollout.batch_size", str(ro.batch_size), "--rollout.micro_batch_size", str(ro.micro_batch_size),
            "--rollout.n_samples_per_prompt", str(ro.n_samples_per_prompt),
            "--rollout.max_new_tokens", str(ro.max_new_tokens), "--rollout.temperature", str(ro.temperature),
            "--train.batch_size", str(t.batch_size), "--train.micro_batch_size", str(t.micro_batch_size),
            "--train.max_epochs", str(t.max_epochs), "--train.num_episodes", str(t.num_episodes),
            "--train.seed", str(t.seed), "--data.max_len", str(t.max_len),
            "--ds.zero_stage", str(t.zero_stage), "--ds.param_dtype", t.param_dtype,
            "--data.prompt_dataset", config.prompts_path, "--data.input_key", "prompt", "--data.label_key", "label",
            "--data.apply_chat_template", "--train.agent_func_path", agent_func_path(),
            "--ckpt.output_dir", config.ckpt.output_dir, "--ckpt.save_steps", str(config.ckpt.save_steps),
            # intermediate checkpoints in the run's own folder (OpenRLHF's default is ./ckpt under the cwd)
            "--ckpt.path", str(Path(config.ckpt.output_dir) / "checkpoints"), "--ckpt.max_num", str(config.ckpt.max_num)]
    if config.ckpt.resume:
        args.append("--ckpt.load_enable")
    if c.model:
        args += ["--critic.model_name_or_path", c.model]
    if config.colocate_all:
        args.append("--train.colocate_all")
    if v.enable_sleep and config.colocate_all:
        args += ["--vllm.enable_sleep", "--ds.enable_sleep"]
    if v.enable_prefix_caching:
        args.append("--vllm.enable_prefix_caching")
    if a.gradient_checkpointing:
        args.append("--actor.gradient_checkpointing_enable")
    if config.ckpt.save_hf:
        args.append("--ckpt.save_hf")
    if t.packing_samples:
        args.append("--ds.packing_samples")
    if t.dynamic_batch:
        args.append("--train.dynamic_batch_enable")
        if t.max_tokens_per_gpu is not None:
            args += ["--train.max_tokens_per_gpu", str(t.max_tokens_per_gpu),
                     "--rollout.max_tokens_per_gpu", str(t.max_tokens_per_gpu)]
    if config.tensorboard_dir:
        args += ["--logger.tensorboard_dir", config.tensorboard_dir]
    return args + list(config.extra_args)


# -- checks ----------------------------------------------------------------------------------------------


def check_ppo(config: PPOLaunchConfig) -> None:
    """Static checks of GPU counts and colocation; raises ConfigError naming the field."""
    a, c, r, v, ro, t = config.actor, config.critic, config.ref, config.vllm, config.rollout, config.train
    engine_gpus = v.num_engines * v.tensor_parallel_size
    if config.colocate_all:
        if engine_gpus != a.gpus:
            raise ConfigError(f"colocate_all: vllm.num_engines × vllm.tensor_parallel_size ({v.num_engines} × "
                              f"{v.tensor_parallel_size} = {engine_gpus}) must equal the actor's GPUs "
                              f"(actor.num_nodes × actor.num_gpus_per_node = {a.gpus})")
        for name, group in (("critic", c), ("ref", r)):
            if (group.num_nodes, group.num_gpus_per_node) != (a.num_nodes, a.num_gpus_per_node):
                raise ConfigError(f"colocate_all: {name}.num_nodes/num_gpus_per_node ({group.num_nodes}/"
                                  f"{group.num_gpus_per_node}) must match the actor's ({a.num_nodes}/"
                                  f"{a.num_gpus_per_node}): colocated models share the same GPUs")
    elif v.enable_sleep:
        raise ConfigError("vllm.enable_sleep needs colocate_all: true (engines sleep only while sharing GPUs)")
    if a.num_gpus_per_node % v.tensor_parallel_size and v.tensor_parallel_size <= a.num_gpus_per_node:
        raise ConfigError(f"vllm.tensor_parallel_size ({v.tensor_parallel_size}) must divide "
                          f"actor.num_gpus_per_node ({a.num_gpus_per_node})")
    for name, group in (("actor", a), ("critic", c), ("ref", r)):
        per_step = t.micro_batch_size * group.gpus
        if t.batch_size % per_step:
            raise ConfigError(f"train.batch_size ({t.batch_size}) must be a multiple of train.micro_batch_size × "
                              f"{name} GPUs ({t.micro_batch_size} × {group.gpus} = {per_step})")
    samples = ro.batch_size * ro.n_samples_per_prompt
    if samples % t.batch_size:
        raise ConfigError(f"rollout.batch_size × rollout.n_samples_per_prompt ({samples}) must be a multiple of "
                          f"train.batch_size ({t.batch_size})")
    if samples // ro.micro_batch_size < a.gpus:
        raise ConfigError(f"rollout.batch_size × n_samples_per_prompt / rollout.micro_batch_size ({samples} / "
                          f"{ro.micro_batch_size}) must be at least the actor's GPUs ({a.gpus})")
    if t.dynamic_batch and not t.packing_samples:  # OpenRLHF would turn packing on itself: say so instead
        raise ConfigError("train.dynamic_batch needs train.packing_samples: true (micro-batches by token count "
                          "are packed sequences)")
    if t.max_tokens_per_gpu is not None and not t.dynamic_batch:
        raise ConfigError("train.max_tokens_per_gpu is used only with train.dynamic_batch: true")
    if ro.max_new_tokens >= t.max_len:
        raise ConfigError(f"rollout.max_new_tokens ({ro.max_new_tokens}) must be below train.max_len ({t.max_len})")
    if config.env.judge == "llm" and not (config.env.judge_config or {}).get("base_url"):
        raise ConfigError("env.judge_config.base_url: judge 'llm' needs the judge endpoint")


def check_sft(config: SFTLaunchConfig) -> None:
    world = config.num_nodes * config.num_gpus_per_node
    if config.batch_size % (config.micro_batch_size * world):
        raise ConfigError(f"batch_size ({config.batch_size}) must be a multiple of micro_batch_size × GPUs "
                          f"({config.micro_batch_size} × {world})")
    if config.num_nodes > 1 and not config.hostfile:
        raise ConfigError("hostfile: a multi-node deepspeed launch needs a hostfile listing the nodes")


def tokenizer_reference(model: str) -> str:
    """How a prompt label names its chat template's tokenizer: a local model folder as an absolute path (a
    relative one would resolve differently on each node), a Hugging Face model id as itself."""
    return str(Path(model).expanduser().resolve()) if _local_path(model) else model


def _local_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).exists()


GPU_PINS = {"openrlhf": "0.11.2", "vllm": "0.29.0", "deepspeed": "0.19.6", "ray": "2.55.0",
            "transformers": "5.15.0", "torch": "2.13.0"}
"""The versions OpenRLHF 0.11.2 was tested with (its own pins, and vllm 0.29's torch)."""


def version_mismatches() -> list[str]:
    """Each installed package of the GPU stack at another version than `GPU_PINS`, and a CPU-only torch."""
    from importlib import metadata

    problems = []
    for name, wanted in GPU_PINS.items():
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # missing packages are reported as the missing extra
        if found.split("+")[0] != wanted:
            problems.append(f"{name} {found} is installed; OpenRLHF 0.11.2 was tested with {name}=={wanted} "
                            f"(pip install '{name}=={wanted}')")
        elif name == "torch" and found.endswith("+cpu"):
            problems.append(f"torch {found} is a CPU build: on a GPU machine install torch 2.13.0 built for its "
                            "CUDA version (pytorch.org lists the index url per CUDA version)")
    return problems


def missing_gpu_packages(config: SFTLaunchConfig | PPOLaunchConfig) -> list[str]:
    """The packages of the gpu extra that a launch of `config` needs and this environment lacks."""
    needed = ("openrlhf", "vllm", "deepspeed", "ray") if isinstance(config, PPOLaunchConfig) else ("openrlhf", "deepspeed")
    return [name for name in needed if importlib.util.find_spec(name) is None]


def _gpu_extra_hint(missing: list[str]) -> str:
    return f"the gpu extra is not installed ({', '.join(missing)} missing): pip install 'drgym[gpu]'"


def preflight(config: SFTLaunchConfig | PPOLaunchConfig) -> list[str]:
    """Checks of this machine for a real launch; returns the problems (empty: ready)."""
    problems = []
    if isinstance(config, PPOLaunchConfig):
        model, field = config.actor.model, "actor.model"
        what = "SFT checkpoint"
    else:
        model, field, what = config.model, "model", "base model"
        if not Path(config.dataset).is_file():
            problems.append(f"dataset: {config.dataset} does not exist (make it with drgym sft-data)")
    if _local_path(model) and not (Path(model).expanduser() / "config.json").is_file():
        hint = " (run drgym train sft first)" if what == "SFT checkpoint" else ""
        problems.append(f"{field}: the {what} {model} does not exist or has no config.json{hint}")
    missing = missing_gpu_packages(config)
    if missing:
        problems.append(_gpu_extra_hint(missing))
    joining = isinstance(config, PPOLaunchConfig) and config.ray.address
    if not joining:
        try:
            import torch

            cuda = torch.cuda.is_available()
        except ImportError:
            cuda = False
        if not cuda:
            problems.append("no CUDA device on this machine: OpenRLHF training needs NVIDIA GPUs "
                            "(the CPU reference trainer is drgym train reference-sft / reference-ppo)")
    return problems


# -- loading and launching -------------------------------------------------------------------------------


def load_config(kind: Literal["sft", "ppo"], path: str | Path | None) -> tuple[SFTLaunchConfig | PPOLaunchConfig, str]:
    """(config, source) from YAML; no path: the one-GPU example. Errors name the file, field and line."""
    model = SFTLaunchConfig if kind == "sft" else PPOLaunchConfig
    path = Path(path) if path else example_config(kind)
    if not path.exists():  # a bundled example by name (ppo-1gpu) or by its checkout path (train/configs/ppo-1gpu.yaml)
        bundled = CONFIG_DIR / (path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml")
        if bundled.is_file():
            path = bundled
        else:
            names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
            raise ConfigError(f"config file {path} does not exist; the bundled examples are {names} (pass one by name, "
                              f"e.g. --config ppo-1gpu, or copy one from {CONFIG_DIR})")
    data, text = read_yaml(path, "config file")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields")
    try:
        config = model.model_validate(data)
    except ValidationError as e:
        raise field_error(path, text, e) from None
    (check_sft if kind == "sft" else check_ppo)(config)
    return config, str(path)


def example_config(kind: str) -> Path:
    return CONFIG_DIR / EXAMPLES[kind]


def render(command: list[str]) -> str:
    """The command as one copy-pasteable shell line per flag."""
    out, line = [], []
    for part in command:
        if part.startswith("--") and line:
            out.append(" ".join(shlex.quote(p) for p in line))
            line = []
        line.append(part)
    out.append(" ".join(shlex.quote(p) for p in line))
    return " \\\n    ".join(out)


def launch(kind: Literal["sft", "ppo"], config_path: str | Path | None, *, dry_run: bool = False,
           echo: Any = print) -> int:
    """Builds, checks and runs (or with dry_run prints) the OpenRLHF command; returns the exit code."""
    config, source = load_config(kind, config_path)
    command = build_sft_command(config) if kind == "sft" else build_ppo_command(config)
    if dry_run:
        echo(f"# config: {source}")
        echo("# resolved:\n" + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False).rstrip())
        if kind == "ppo" and not config.env.prompts:
            echo(f"# prompts: exported at launch from {config.env.suite} (train split) to {config.prompts_path}")
        for problem in preflight(config):
            echo(f"# a real launch here would stop: {problem}")
        for mismatch in version_mismatches():
            echo(f"# warning: {mismatch}")
        echo(render(command))
        return 0
    for mismatch in version_mismatches():  # untested versions may work: said, not refused
        echo(f"warning: {mismatch}")
    problems = preflight(config)
    if problems:
        missing = missing_gpu_packages(config)
        if missing:
            raise DependencyNotInstalled(_gpu_extra_hint(missing))
        raise ConfigError("; ".join(problems))
    output = Path(config.output_dir if kind == "sft" else config.ckpt.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if kind == "ppo":
        if not config.env.prompts:
            from drgym.train.episodes import export_prompts

            env_kwargs = {"budget": config.env.budget, "noise": config.env.noise, "judge": config.env.judge}
            if config.env.tools is not None:
                env_kwargs["tools"] = config.env.tools
            if config.env.judge_config:
                env_kwargs["judge_config"] = config.env.judge_config
            rows = export_prompts(config.env.suite, config.prompts_path, seeds=config.env.seeds_per_task,
                                  web=config.env.web, env_kwargs=env_kwargs, kinds=tuple(config.env.kinds),
                                  tokenizer=tokenizer_reference(config.actor.model))
            echo(f"exported {rows} prompts to {config.prompts_path}")
        # the labels name the tokenizer (Ray does not forward the driver's environment to rollout workers)
        env["DRGYM_AGENT_TOKENIZER"] = tokenizer_reference(config.actor.model)
        if config.ray.address:
            env["RAY_ADDRESS"] = config.ray.address
    (output / "launch.json").write_text(json.dumps({"command": command, "config": config.model_dump(mode="json")},
                                                   indent=2))
    echo(render(command))
    log_path = output / "train.log"
    with log_path.open("a", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                   bufsize=1)
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
        code = process.wait()
    echo(f"exit code {code}; log in {log_path}; checkpoints in {output}")
    return code
