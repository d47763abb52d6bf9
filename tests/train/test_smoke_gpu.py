"""The GPU smoke: its CPU path end to end, what it says when it skips or fails, and its OpenRLHF part's pieces
(the config against OpenRLHF's own parser, the rewards read back from OpenRLHF's own TensorBoard logger)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from drgym.cli import app
from drgym.train import smoke_gpu
from drgym.train.launch import PPOLaunchConfig, build_ppo_command, check_ppo
from drgym.train.smoke_gpu import REWARD_TAG, logged_rewards, openrlhf_config, run_smoke, smoke_openrlhf
from tests.train.test_launch import _flags_of, openrlhf_parse


@pytest.fixture()
def without_gpu_stack(monkeypatch):
    monkeypatch.setattr(smoke_gpu, "missing_gpu_stack", lambda: ["vllm", "deepspeed"])


@pytest.mark.slow
def test_cpu_smoke_trains_logs_a_reward_checkpoints_and_says_why_openrlhf_is_skipped(tmp_path, without_gpu_stack):
    report = run_smoke(tmp_path, device="cpu", iterations=2)
    reference, openrlhf = report.parts
    assert reference.status == "passed", reference.detail
    assert reference.figures["iterations"] == 2 and len(reference.figures["rewards"]) == 2
    assert (tmp_path / "reference" / "ppo" / "checkpoint-1" / "config.json").is_file()
    assert openrlhf.status == "skipped"
    assert openrlhf.detail == "the gpu extra is not installed (vllm, deepspeed missing): pip install 'drgym[gpu]'"
    assert report.is_ok
    saved = json.loads((tmp_path / "smoke_report.json").read_text())
    assert [part["status"] for part in saved["parts"]] == ["passed", "skipped"]
    assert saved["environment"]["torch"] == torch.__version__


def test_openrlhf_part_is_skipped_without_cuda_even_with_the_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(smoke_gpu, "missing_gpu_stack", lambda: [])
    monkeypatch.setattr(smoke_gpu, "smoke_reference", lambda **kw: smoke_gpu.PartResult("reference", "passed", "ok"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    report = run_smoke(tmp_path, device="cpu")
    assert report.parts[1].status == "skipped" and "no CUDA device" in report.parts[1].detail


def test_cuda_requested_without_a_gpu_fails_naming_the_flag_and_exits_1(tmp_path, monkeypatch, without_gpu_stack):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = CliRunner().invoke(app, ["train", "smoke-gpu", "--out", str(tmp_path), "--device", "cuda"])
    assert result.exit_code == 1, result.output
    assert "reference  failed" in result.output
    assert "ConfigError: --device 'cuda': no CUDA device is usable" in " ".join(result.output.split())
    assert "failed: reference" in result.output


def test_openrlhf_required_but_not_installed_fails(tmp_path, monkeypatch, without_gpu_stack):
    monkeypatch.setattr(smoke_gpu, "smoke_reference", lambda **kw: smoke_gpu.PartResult("reference", "passed", "ok"))
    report = run_smoke(tmp_path, device="cpu", openrlhf="require")
    assert not report.is_ok
    assert report.parts[1].detail.startswith("required (--openrlhf require) but the gpu extra is not installed")


def test_the_openrlhf_smoke_config_passes_drgyms_checks_and_openrlhfs_parser(tmp_path):
    config = PPOLaunchConfig.model_validate(openrlhf_config(tmp_path, tmp_path / "model", tmp_path / "p.jsonl",
                                                            steps=2))
    check_ppo(config)
    args = vars(openrlhf_parse("openrlhf.cli.train_ppo_ray",
                               _flags_of(build_ppo_command(config), "openrlhf.cli.train_ppo_ray")))
    assert args["ckpt.save_steps"] == 1 and args["logger.tensorboard_dir"] == str(tmp_path / "tensorboard")
    # one PPO update per rollout batch: 2 prompts × 2 samples = train.batch_size
    assert args["rollout.batch_size"] * args["rollout.n_samples_per_prompt"] == args["train.batch_size"]


def _openrlhf_tensorboard(tmp_path, rewards):
    """Writes what OpenRLHF's PPOTrainer logs each global step, through OpenRLHF's own TensorboardLogger."""
    from openrlhf.utils.logging_utils import TensorboardLogger

    args = SimpleNamespace(logger=SimpleNamespace(tensorboard_dir=str(tmp_path / "tensorboard"),
                                                  wandb=SimpleNamespace(run_name="smoke")))
    board = TensorboardLogger(args)
    for step, reward in enumerate(rewards, start=1):
        board.log_train(step, {"rollout/reward_mean": reward, "policy_loss": 0.1, "generated_samples": ("x", reward)})
    board.close()


def test_rewards_are_read_back_from_openrlhfs_tensorboard_log(tmp_path):
    _openrlhf_tensorboard(tmp_path, [0.0, 0.25])
    assert logged_rewards(tmp_path / "tensorboard") == [(1, 0.0), (2, 0.25)]
    assert REWARD_TAG == "train/rollout/reward_mean"


def test_openrlhf_part_names_each_missing_result(tmp_path, monkeypatch):
    """A launch that ends without steps, rewards or checkpoints fails the part, naming all three."""
    monkeypatch.setattr("drgym.train.launch.launch", lambda kind, path, echo: 1)
    part = smoke_openrlhf(tmp_path, steps=2)
    assert part.status == "failed"
    assert "OpenRLHF exited with code 1" in part.detail
    assert f"0 of 2 global steps logged {REWARD_TAG}" in part.detail
    assert "no intermediate checkpoint under" in part.detail
    # the prompts it exported are the 4 rows of 2 steps, and name the tiny model's tokenizer by absolute path
    rows = [json.loads(line) for line in (tmp_path / "prompts.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(json.loads(row["label"])["tokenizer"] == str((tmp_path / "tiny-model").resolve())
                                  for row in rows)


def test_openrlhf_part_passes_on_logged_rewards_and_a_checkpoint(tmp_path, monkeypatch):
    def finished_launch(kind, path, echo):  # what a finished 2-step run leaves behind
        _openrlhf_tensorboard(tmp_path, [0.0, 0.5])
        step = tmp_path / "run" / "checkpoints" / "_actor" / "global_step2"
        step.mkdir(parents=True)
        (step / "mp_rank_00_model_states.pt").write_bytes(b"x")
        return 0

    monkeypatch.setattr("drgym.train.launch.launch", finished_launch)
    part = smoke_openrlhf(tmp_path, steps=2)
    assert part.status == "passed", part.detail
    assert part.figures["rewards"] == [(1, 0.0), (2, 0.5)]
