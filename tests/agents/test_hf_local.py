"""Local Hugging Face models load from a folder or the local cache only: a missing one fails at once, by name."""

from __future__ import annotations

import pytest

from drgym.agents.hf_policy import HFGenerator
from drgym.agents.tiny_model import build_tiny_model
from drgym.errors import ConfigError
from drgym.train.chat import ChatFormat
from drgym.train.reference.sft import SFTConfig, train_sft


@pytest.mark.parametrize("missing", ["checkpoints/ppo", "no-such-org/no-such-model-for-drgym"])
def test_a_model_that_is_not_here_is_named_without_a_download_attempt(missing, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=f"cannot load '{missing}': not a model folder.*downloads nothing"):
        HFGenerator(missing)
    with pytest.raises(ConfigError, match="not a model folder"):
        ChatFormat(missing)
    with pytest.raises(ConfigError, match="not a model folder"):
        train_sft(SFTConfig(model=missing, data=str(tmp_path / "rows.jsonl"), out=str(tmp_path / "sft")))


def test_a_model_folder_still_loads(tmp_path):
    folder = build_tiny_model(tmp_path / "tiny", seed=0, vocab_size=384, corpus=["a b c d e f g"] * 20,
                              hidden_size=32, layers=1, heads=2, max_positions=256)
    generator = HFGenerator(str(folder))
    assert generator.tokenizer.chat_template is not None and generator.model is not None
