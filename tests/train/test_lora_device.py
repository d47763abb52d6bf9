"""Low-rank adapters for the reference PPO, and the reference trainers' device option."""

from __future__ import annotations

import copy
import random
import re

import pytest
import torch

from drgym.agents.tiny_model import build_tiny_model
from drgym.errors import ConfigError
from drgym.train.reference.device import resolve_device
from drgym.train.reference.lora import LoRALinear, add_lora, merge_lora
from drgym.train.reference.ppo import PPOConfig, ValueModel, _experience, ppo_update, token_logprobs
from tests.train.test_ppo_math import _episode


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_model(tmp_path_factory.mktemp("tiny-lora"), seed=0)
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path), path


def _ids(tokenizer):
    return torch.tensor([tokenizer("<|user|>\nWhat is the population?<answer>4,512</answer>")["input_ids"]])


def test_adapters_start_as_the_unchanged_model_and_only_they_train(tiny):
    model, tokenizer, _ = tiny
    adapted = copy.deepcopy(model)
    adapters = add_lora(adapted, rank=4, alpha=8)
    ids = _ids(tokenizer)
    with torch.no_grad():
        assert torch.allclose(adapted(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-6)
    wrapped = [m for m in adapted.modules() if isinstance(m, LoRALinear)]
    assert len(wrapped) == 7 * model.config.num_hidden_layers  # q, k, v, o, gate, up, down per block
    trainable = {id(p) for p in adapted.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in adapters}


def test_merged_adapters_give_the_same_outputs_as_a_plain_model(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    model, tokenizer, _ = tiny
    adapted = copy.deepcopy(model)
    add_lora(adapted, rank=4, alpha=8)
    with torch.no_grad():
        for module in adapted.modules():
            if isinstance(module, LoRALinear):
                module.lora_b.normal_(0, 0.05)  # a trained adapter
        ids = _ids(tokenizer)
        before = adapted(input_ids=ids).logits
        assert not torch.allclose(before, model(input_ids=ids).logits, atol=1e-4)
        merged = merge_lora(adapted)
        assert not any(isinstance(m, LoRALinear) for m in merged.modules())
        merged.save_pretrained(tmp_path)
        reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
        assert torch.allclose(reloaded(input_ids=ids).logits, before, atol=1e-4)


def test_a_ppo_update_with_adapters_moves_the_policy_the_advantage_way(tiny):
    model, tokenizer, _ = tiny
    actor = copy.deepcopy(model)
    critic = ValueModel(actor)
    adapters = add_lora(actor, rank=4, alpha=8)
    good = _episode(tokenizer, "<|user|>\nq", "<answer>4,512</answer>", "", "", 1.0)
    bad = _episode(tokenizer, "<|user|>\nq", "<answer>the answer</answer>", "", "", 0.0)
    config = PPOConfig(model="", labels=[], out="", kl_coef=0.0, ppo_epochs=1, minibatch_episodes=2)
    batch = _experience([good, bad], actor, actor, critic, config, tokenizer.pad_token_id)
    frozen = {name: p.detach().clone() for name, p in actor.named_parameters() if not p.requires_grad}
    ppo_update(actor, critic, torch.optim.AdamW(adapters, lr=1e-2), torch.optim.AdamW(critic.parameters(), lr=1e-2),
               batch, config, random.Random(0))
    assert all(torch.equal(frozen[name], p) for name, p in actor.named_parameters() if name in frozen)
    with torch.no_grad():
        new = token_logprobs(actor, batch["ids"], batch["attention"])
    assert ((new - batch["old_logprobs"]) * batch["advantages"])[batch["mask"]].sum() > 0


def test_adapter_targets_that_match_no_layer_fail_naming_the_field(tiny):
    model, _, _ = tiny
    with pytest.raises(ConfigError, match=re.escape("lora_targets 'nothing_here' matches none of the model's linear "
                                                    "layers")):
        add_lora(copy.deepcopy(model), rank=2, alpha=4, targets="nothing_here")
    with pytest.raises(ConfigError, match="lora_rank must be at least 1"):
        add_lora(copy.deepcopy(model), rank=0, alpha=4)


def test_device_names_resolve_or_fail_with_the_fix(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match=re.escape("PPOConfig.device 'gpu' is not a device: use 'cpu', 'cuda', "
                                                    "'cuda:N' or 'auto'")):
        resolve_device("gpu", field="PPOConfig.device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"--device 'cuda:1': no CUDA device is usable .* use 'cpu', or 'auto'"):
        resolve_device("cuda:1", field="--device")


def test_reference_ppo_with_adapters_on_the_cpu_saves_a_plain_model(tiny, tmp_path):
    import json

    from transformers import AutoModelForCausalLM

    from drgym.train.reference.ppo import train_ppo

    model, _, path = tiny
    labels = [{"task_id": "ds-0001", "tasks": "procedural:tiny", "env_kwargs": {"budget": {"max_turns": 2}}}]
    out = train_ppo(PPOConfig(model=str(path), labels=labels, out=str(tmp_path / "ppo"), iterations=1,
                              episodes_per_iteration=2, minibatch_episodes=2, max_new_tokens=8, max_length=8192,
                              lora_rank=2, actor_lr=1e-2, device="cpu", show_progress=False))
    saved = json.loads((out / "ppo_config.json").read_text())
    adapters = add_lora(copy.deepcopy(model), rank=2, alpha=16.0)
    assert saved["resolved_device"] == "cpu" and saved["trained_parameters"] == sum(p.numel() for p in adapters)
    # saved with the adapters merged: the plain model's parameters, loadable by any Hugging Face loader
    trained = AutoModelForCausalLM.from_pretrained(out)
    assert set(dict(trained.named_parameters())) == set(dict(model.named_parameters()))
    assert not (out / "checkpoint-1").exists()  # save_every 0: only the final model
