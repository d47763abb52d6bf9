"""The CPU reference SFT refuses data that truncation leaves nothing to learn from, and stops on a NaN loss."""

from __future__ import annotations

import json
import logging
import re

import pytest
import torch
from typer.testing import CliRunner

from drgym.agents.tiny_model import build_tiny_model
from drgym.cli import app
from drgym.errors import ConfigError, TrainingError
from drgym.train.reference.sft import SFTConfig, train_sft


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-sft"), seed=0)


def _write_rows(path, questions: list[str]):
    rows = [{"messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": question},
                          {"role": "assistant", "content": "<answer>4,512</answer>"}]} for question in questions]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_no_assistant_token_left_after_truncation_fails_naming_max_len(tiny_path, tmp_path):
    data = _write_rows(tmp_path / "sft.jsonl", ["word " * 100, "word " * 120])
    config = SFTConfig(model=str(tiny_path), data=str(data), out=str(tmp_path / "out"), epochs=1, max_len=50,
                       show_progress=False)
    with pytest.raises(ConfigError, match=re.escape("no assistant token survives truncation to max_len 50 in 2 "
                                                    "row(s)")) as error:
        train_sft(config)
    assert not (tmp_path / "out" / "config.json").exists()
    suggested = re.search(r"\(line 1: \d+ tokens, the first assistant token at position \d+\): nothing is left to "
                          r"train on; raise max_len \(--max-len\) above (\d+), or write shorter rows", str(error.value))
    assert suggested, str(error.value)
    # the advice works: one token more keeps an assistant token of every row
    config.max_len = int(suggested.group(1)) + 1
    assert (train_sft(config) / "config.json").exists()


def test_reference_sft_command_exits_1_with_the_error(tiny_path, tmp_path):
    data = _write_rows(tmp_path / "sft.jsonl", ["word " * 100])
    result = CliRunner().invoke(app, ["train", "reference-sft", "--model", str(tiny_path), "--data", str(data),
                                      "--out", str(tmp_path / "out"), "--epochs", "1", "--max-len", "50"])
    assert result.exit_code == 1
    assert "ConfigError: no assistant token survives truncation" in result.output.replace("\n", " ")


def test_rows_cut_to_nothing_are_dropped_with_a_warning_and_the_rest_trains(tiny_path, tmp_path, caplog):
    data = _write_rows(tmp_path / "sft.jsonl", ["word " * 100, "How many inhabitants?"])
    config = SFTConfig(model=str(tiny_path), data=str(data), out=str(tmp_path / "out"), epochs=1, max_len=50,
                       show_progress=False)
    with caplog.at_level(logging.WARNING, logger="drgym.train.reference.sft"):
        out = train_sft(config)
    assert "in 1 row(s)" in caplog.text and "rows are dropped" in caplog.text
    losses = [float(line.split(",")[2]) for line in (out / "sft_metrics.csv").read_text().splitlines()[1:]]
    assert losses and all(loss == loss for loss in losses)  # finite: every batch has assistant tokens


def test_a_nan_loss_stops_training_before_the_update(tiny_path, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    broken = tmp_path / "broken"
    model = AutoModelForCausalLM.from_pretrained(tiny_path)
    with torch.no_grad():
        model.get_decoder().norm.weight.fill_(float("nan"))  # every logit becomes NaN
    model.save_pretrained(broken)
    AutoTokenizer.from_pretrained(tiny_path).save_pretrained(broken)
    data = _write_rows(tmp_path / "sft.jsonl", ["How many inhabitants?"])
    config = SFTConfig(model=str(broken), data=str(data), out=str(tmp_path / "out"), epochs=2, show_progress=False)
    with pytest.raises(TrainingError, match=re.escape("SFT step 1 (epoch 0): the loss is nan")):
        train_sft(config)
    assert not (tmp_path / "out" / "config.json").exists()
