"""OpenRLHF launchers: every flag checked against OpenRLHF's own argument parser, and the fail-fast checks."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from drgym.cli import app
from drgym.errors import ConfigError, DependencyNotInstalled
from drgym.train.launch import (
    CONFIG_DIR,
    build_ppo_command,
    build_sft_command,
    launch,
    load_config,
    preflight,
)


def openrlhf_parse(module: str, argv: list[str]) -> argparse.Namespace:
    """Parses `argv` with the argparse parser OpenRLHF builds in `module`'s __main__ block (read from its source)."""
    source = Path(importlib.util.find_spec(module).origin).read_text()
    block = source[source.index("    parser = argparse.ArgumentParser()"):source.index("    args = parser.parse_args()")]
    import datetime as _datetime
    import os as _os

    namespace: dict = {"argparse": argparse, "datetime": _datetime.datetime, "os": _os}
    exec(textwrap.dedent(block), namespace)
    return namespace["parser"].parse_args(argv)


def _flags_of(command: list[str], module: str) -> list[str]:
    return command[command.index(module) + 1:]


def test_ppo_dry_run_output_flag_by_flag():
    result = CliRunner().invoke(app, ["train", "ppo", "--dry-run"])
    assert result.exit_code == 0, result.output
    start = result.output.rindex("\n", 0, result.output.index("-m openrlhf.cli.train_ppo_ray")) + 1
    command = shlex.split(result.output[start:].replace("\\\n", " "))
    flags = _flags_of(command, "openrlhf.cli.train_ppo_ray")
    args = vars(openrlhf_parse("openrlhf.cli.train_ppo_ray", flags))
    assert args["algo.advantage.estimator"] == "gae"
    assert args["algo.advantage.gamma"] == 1.0 and args["algo.advantage.lambd"] == 1.0
    assert args["actor.eps_clip"] == 0.2 and args["critic.value_clip"] == 0.5
    assert args["train.colocate_all"] is True and args["vllm.enable_sleep"] is True
    assert args["actor.num_gpus_per_node"] == 1 and args["vllm.num_engines"] == 1
    assert args["actor.model_name_or_path"] == "./checkpoints/sft"
    assert Path(args["train.agent_func_path"]).name == "openrlhf_agent.py"
    assert Path(args["train.agent_func_path"]).is_file()
    assert args["data.input_key"] == "prompt" and args["data.label_key"] == "label"
    assert args["data.apply_chat_template"] is True
    assert args["data.prompt_dataset"].endswith("prompts.jsonl")
    # intermediate checkpoints go to the run's own folder, and a re-run resumes from them
    assert Path(args["ckpt.path"]).parent == Path(args["ckpt.output_dir"]) and args["ckpt.load_enable"] is True
    # the resolved config and what a real launch here would stop on are printed too
    assert "# resolved:" in result.output and "gamma: 1.0" in result.output
    assert "actor.model: the SFT checkpoint ./checkpoints/sft does not exist" in result.output


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIG_DIR.glob("*.yaml")))
def test_every_example_config_builds_a_command_openrlhf_accepts(name):
    kind = "sft" if name.startswith("sft") else "ppo"
    config, _ = load_config(kind, CONFIG_DIR / name)
    if kind == "sft":
        command = build_sft_command(config)
        args = vars(openrlhf_parse("openrlhf.cli.train_sft", _flags_of(command, "openrlhf.cli.train_sft")))
        assert args["data.multiturn"] and args["data.apply_chat_template"] and args["data.input_key"] == "messages"
        assert args["data.dataset"] == config.dataset and args["adam.lr"] == config.lr
    else:
        command = build_ppo_command(config)
        args = vars(openrlhf_parse("openrlhf.cli.train_ppo_ray", _flags_of(command, "openrlhf.cli.train_ppo_ray")))
        assert (args["algo.advantage.gamma"], args["algo.advantage.lambd"]) == (1.0, 1.0)
        assert args["actor.num_gpus_per_node"] == config.actor.num_gpus_per_node
        assert args["train.colocate_all"] == config.colocate_all
        # OpenRLHF's own post-parse assertion on sample batches
        assert (args["rollout.n_samples_per_prompt"] * args["rollout.batch_size"] // args["rollout.micro_batch_size"]
                >= args["actor.num_nodes"] * args["actor.num_gpus_per_node"])


def _write(tmp_path, data, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _ppo(**overrides):
    data = yaml.safe_load((CONFIG_DIR / "ppo-1gpu.yaml").read_text())
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        if field:
            data.setdefault(section, {})[field] = value
        else:
            data[section] = value
    return data


@pytest.mark.parametrize("overrides,message", [
    ({"vllm__num_engines": 2}, "vllm.num_engines × vllm.tensor_parallel_size"),
    ({"critic__num_gpus_per_node": 2}, "critic.num_nodes/num_gpus_per_node"),
    ({"colocate_all": False}, "vllm.enable_sleep needs colocate_all"),
    ({"train__batch_size": 7}, "train.batch_size (7) must be a multiple"),
    ({"rollout__batch_size": 3}, "rollout.batch_size × rollout.n_samples_per_prompt (12)"),
    ({"rollout__max_new_tokens": 20000}, "rollout.max_new_tokens"),
    ({"env__judge": "llm"}, "env.judge_config.base_url"),
])
def test_ppo_checks_fail_fast_naming_the_field(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load_config("ppo", _write(tmp_path, _ppo(**overrides)))


def test_unknown_or_bad_fields_name_the_field_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("actor:\n  model: ./x\n  lr: 1e-6\n  num_gpu: 4\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:4: field 'actor\.num_gpu'"):
        load_config("ppo", path)
    path.write_text("actor:\n  model: ./x\ntrain:\n  batch_size: -3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:4: field 'train\.batch_size'"):
        load_config("ppo", path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("ppo", tmp_path / "missing.yaml")


def test_a_real_launch_on_this_machine_stops_with_the_extra_or_the_checkpoint(tmp_path):
    config, _ = load_config("ppo", _write(tmp_path, _ppo(actor={"model": str(tmp_path / "no-sft")})))
    problems = preflight(config)
    assert any(p.startswith("actor.model: the SFT checkpoint") for p in problems)
    if importlib.util.find_spec("vllm") is None:  # CI: no gpu extra
        assert any("pip install 'drgym[gpu]'" in p for p in problems)
        with pytest.raises(DependencyNotInstalled, match=r"pip install 'drgym\[gpu\]'"):
            launch("ppo", _write(tmp_path, _ppo()), dry_run=False, echo=lambda _: None)
    result = CliRunner().invoke(app, ["train", "ppo", "--config", str(_write(tmp_path, _ppo(), "p.yaml"))])
    assert result.exit_code == 1 and ("DependencyNotInstalled" in result.output or "ConfigError" in result.output)


def test_sft_dry_run_and_checks(tmp_path):
    result = CliRunner().invoke(app, ["train", "sft", "--dry-run"])
    assert result.exit_code == 0 and "--module openrlhf.cli.train_sft" in result.output.replace(" \\\n    ", " ")
    data = yaml.safe_load((CONFIG_DIR / "sft-1gpu.yaml").read_text())
    with pytest.raises(ConfigError, match="hostfile"):
        load_config("sft", _write(tmp_path, {**data, "num_nodes": 2}))
    with pytest.raises(ConfigError, match="batch_size"):
        load_config("sft", _write(tmp_path, {**data, "num_gpus_per_node": 3}))
    assert CliRunner().invoke(app, ["train", "sft"]).exit_code != 0  # a real launch needs --config


def test_labels_name_the_tokenizer_so_every_node_finds_it(tmp_path, monkeypatch):
    from drgym.train.launch import tokenizer_reference

    (tmp_path / "checkpoints" / "sft").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert tokenizer_reference("checkpoints/sft") == str(tmp_path / "checkpoints" / "sft")  # absolute
    assert tokenizer_reference("./checkpoints/sft") == str(tmp_path / "checkpoints" / "sft")
    assert tokenizer_reference("Qwen/Qwen3-8B") == "Qwen/Qwen3-8B"  # a hub id: no more "no tokenizer"


def test_dynamic_batching_without_packing_is_refused_not_silently_turned_on(tmp_path):
    from drgym.errors import ConfigError
    from drgym.train.launch import PPOLaunchConfig, build_ppo_command, check_ppo

    config = PPOLaunchConfig(actor={"model": "m"}, train={"dynamic_batch": True, "batch_size": 16})
    with pytest.raises(ConfigError, match=re.escape("train.dynamic_batch needs train.packing_samples: true")):
        check_ppo(config)
    packed = PPOLaunchConfig(actor={"model": "m"}, train={"dynamic_batch": True, "packing_samples": True,
                                                           "max_tokens_per_gpu": 8192})
    command = build_ppo_command(packed)
    assert "--ds.packing_samples" in command and "--train.dynamic_batch_enable" in command
    assert command[command.index("--train.max_tokens_per_gpu") + 1] == "8192"


def test_preflight_names_every_version_that_differs_from_openrlhfs_pins(monkeypatch):
    from importlib import metadata

    from drgym.train.launch import GPU_PINS, version_mismatches

    installed = {**GPU_PINS, "ray": "2.60.0", "torch": "2.13.0+cpu"}
    monkeypatch.setattr(metadata, "version", lambda name: installed[name])
    problems = version_mismatches()
    assert len(problems) == 2
    assert "ray 2.60.0 is installed; OpenRLHF 0.11.2 was tested with ray==2.55.0" in problems[0]
    assert "torch 2.13.0+cpu is a CPU build" in problems[1]
    monkeypatch.setattr(metadata, "version", lambda name: {**GPU_PINS, "torch": "2.13.0+cu128"}[name])
    assert version_mismatches() == []


def test_bundled_configs_load_by_name_or_checkout_path_from_anywhere(tmp_path, monkeypatch):
    # a wheel install has no train/configs/ folder in the current directory: the bundled examples still load
    monkeypatch.chdir(tmp_path)
    by_name, source = load_config("ppo", "ppo-1gpu")
    assert Path(source).parent.name == "configs" and by_name == load_config("ppo", "train/configs/ppo-1gpu.yaml")[0]
    with pytest.raises(ConfigError, match="the bundled examples are ppo-1gpu, ppo-2node, ppo-8gpu, sft-1gpu"):
        load_config("ppo", "ppo-16gpu")
