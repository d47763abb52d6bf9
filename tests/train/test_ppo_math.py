"""GAE, the clipped losses, masking of environment tokens, and one PPO update on a tiny model."""

from __future__ import annotations

import random
import re

import pytest
import torch

from drgym.agents.tiny_model import build_tiny_model
from drgym.train.reference.ppo import (
    Episode,
    PPOConfig,
    ValueModel,
    _experience,
    clipped_policy_loss,
    clipped_value_loss,
    gae,
    ppo_update,
    token_logprobs,
)


def _direct_gae(rewards, values, gamma, lam):
    """A_t = Σ_l (γλ)^l δ_{t+l}, δ_t = r_t + γ V_{t+1} − V_t with V_T = 0: the textbook sum, no recursion."""
    T = len(rewards)
    v = list(values) + [0.0]
    deltas = [rewards[t] + gamma * v[t + 1] - v[t] for t in range(T)]
    return [sum((gamma * lam) ** k * deltas[t + k] for k in range(T - t)) for t in range(T)]


def test_gae_with_gamma_lambda_one_is_reward_to_go_minus_value():
    generator = torch.Generator().manual_seed(0)
    for T in (1, 5, 37):
        rewards, values = torch.randn(T, generator=generator), torch.randn(T, generator=generator)
        advantages, returns = gae(rewards, values, 1.0, 1.0)
        reward_to_go = torch.flip(torch.cumsum(torch.flip(rewards, [0]), 0), [0])
        torch.testing.assert_close(advantages, reward_to_go - values)
        torch.testing.assert_close(returns, reward_to_go)


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.0), (0.5, 1.0), (1.0, 0.7)])
def test_gae_matches_the_direct_sum(gamma, lam):
    generator = torch.Generator().manual_seed(1)
    rewards, values = torch.randn(23, generator=generator), torch.randn(23, generator=generator)
    advantages, returns = gae(rewards, values, gamma, lam)
    expected = torch.tensor(_direct_gae(rewards.tolist(), values.tolist(), gamma, lam))
    torch.testing.assert_close(advantages, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(returns, expected + values, rtol=1e-5, atol=1e-5)


def test_clipped_policy_loss_matches_its_formula():
    old = torch.zeros(6)
    ratios = torch.tensor([0.5, 0.9, 1.1, 1.5, 1.5, 0.5])
    advantages = torch.tensor([1.0, 1.0, -1.0, 1.0, -1.0, -1.0])
    loss = clipped_policy_loss(torch.log(ratios), old, advantages, eps_clip=0.2)
    # −min(ρA, clip(ρ, 0.8, 1.2)A) by hand
    expected = torch.tensor([-0.5, -0.9, 1.1, -1.2, 1.5, 0.8])
    torch.testing.assert_close(loss, expected)


def test_clipped_value_loss_matches_its_formula():
    values, old, returns = torch.tensor([2.0, 0.1, -1.0]), torch.tensor([0.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 0.0])
    loss = clipped_value_loss(values, old, returns, value_clip=0.5)
    # row 0: max((2-1)², (0.5-1)²) = 1; row 1: max(0.81, 0.81); row 2: max(1, (−0.5)²) = 1
    torch.testing.assert_close(loss, 0.5 * torch.tensor([1.0, 0.81, 1.0]))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_model(tmp_path_factory.mktemp("tiny-ppo"), seed=3)
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path), path


def _episode(tokenizer, prompt: str, action: str, feedback: str, action2: str, reward: float) -> Episode:
    p, a, f, a2 = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in (prompt, action, feedback, action2))
    return Episode(tokens=p + a + f + a2, action_mask=[0] * len(p) + [1] * len(a) + [0] * len(f) + [1] * len(a2),
                   reward=reward, done=True, turns=2, task_id="t")


def test_environment_tokens_carry_no_gradient_and_no_advantage(tiny):
    model, tokenizer, _ = tiny
    episode = _episode(tokenizer, "<|user|>\nWhat is the population?", "<tool_call>search</tool_call>",
                       "\n<|user|>\nresults: 4,512 inhabitants\n<|assistant|>\n", "<answer>4,512</answer>", 1.0)
    config = PPOConfig(model="", labels=[], out="", kl_coef=0.0, normalize_advantages=False)
    critic = ValueModel(model)
    batch = _experience([episode], model, model, critic, config, tokenizer.pad_token_id)
    mask = batch["mask"][0]
    assert mask.sum() == sum(episode.action_mask[1:]) and not mask.all()
    assert torch.all(batch["advantages"][0][~mask] == 0) and torch.all(batch["returns"][0][~mask] == 0)
    # the loss as ppo_update computes it, taken with respect to every token's log-probability
    logprobs = token_logprobs(model, batch["ids"], batch["attention"]).detach().requires_grad_(True)
    loss = clipped_policy_loss(logprobs, batch["old_logprobs"], batch["advantages"], 0.2)[batch["mask"]].mean()
    loss.backward()
    grad = logprobs.grad[0]
    assert torch.all(grad[~mask] == 0)
    assert torch.all(grad[mask] != 0)


def test_one_ppo_update_moves_the_policy_in_the_advantage_direction(tiny):
    import copy

    model, tokenizer, _ = tiny
    actor = copy.deepcopy(model)
    good = _episode(tokenizer, "<|user|>\nq", "<answer>4,512</answer>", "", "", 1.0)
    bad = _episode(tokenizer, "<|user|>\nq", "<answer>the answer</answer>", "", "", 0.0)
    config = PPOConfig(model="", labels=[], out="", kl_coef=0.0, ppo_epochs=1, minibatch_episodes=2, actor_lr=1e-2)
    critic = ValueModel(actor)
    batch = _experience([good, bad], actor, actor, critic, config, tokenizer.pad_token_id)
    before = {name: p.detach().clone() for name, p in actor.named_parameters()}
    old = batch["old_logprobs"].clone()
    ppo_update(actor, critic, torch.optim.AdamW(actor.parameters(), lr=1e-2),
               torch.optim.AdamW(critic.parameters(), lr=1e-2), batch, config, random.Random(0))
    assert any(not torch.equal(before[name], p) for name, p in actor.named_parameters())
    with torch.no_grad():
        new = token_logprobs(actor, batch["ids"], batch["attention"])
    mask = batch["mask"]
    assert (new[0][mask[0]] - old[0][mask[0]]).sum() > 0  # the rewarded answer became more likely
    assert (new[1][mask[1]] - old[1][mask[1]]).sum() < 0  # the unrewarded one less likely


def test_micro_batches_accumulate_to_the_same_update(tiny):
    """A minibatch run as micro-batches (gradients accumulated) takes the same optimizer step as one pass."""
    import copy

    model, tokenizer, _ = tiny
    episodes = [_episode(tokenizer, "<|user|>\nq", "<answer>4,512</answer>", "", "", 1.0),
                _episode(tokenizer, "<|user|>\na longer question here", "<answer>the answer</answer>", "", "", 0.0),
                _episode(tokenizer, "<|user|>\nq2", "<answer>7</answer>", "", "", 1.0)]
    results = []
    for micro in (3, 1):
        actor = copy.deepcopy(model)
        critic = ValueModel(actor)
        config = PPOConfig(model="", labels=[], out="", ppo_epochs=1, minibatch_episodes=3, micro_batch_episodes=micro)
        batch = _experience(episodes, actor, actor, critic, config, tokenizer.pad_token_id)
        ppo_update(actor, critic, torch.optim.SGD(actor.parameters(), lr=0.1),
                   torch.optim.SGD(critic.parameters(), lr=0.1), batch, config, random.Random(0))
        results.append((actor.state_dict(), critic.state_dict()))
    for one, other in zip(results[0], results[1]):
        for name in one:
            torch.testing.assert_close(one[name], other[name], rtol=1e-4, atol=1e-6)


def test_samples_per_task_must_divide_the_iteration(tmp_path):
    from drgym.errors import ConfigError
    from drgym.train.reference.ppo import train_ppo

    label = {"task_id": "t", "tasks": "tiny"}
    with pytest.raises(ConfigError, match="samples_per_task"):
        train_ppo(PPOConfig(model=str(tmp_path), labels=[label], out=str(tmp_path / "o"), episodes_per_iteration=6,
                            samples_per_task=4))


def test_reference_ppo_command_with_samples_per_task(tiny, tmp_path):
    """`drgym train reference-ppo --samples-per-task 2`: runs, writes metrics and the actor; a count that does not divide fails naming the field."""
    import csv

    from typer.testing import CliRunner

    from drgym.cli import app

    _, _, path = tiny
    out = tmp_path / "ppo"
    result = CliRunner().invoke(app, ["train", "reference-ppo", "--model", str(path), "--out", str(out),
                                      "--iterations", "1", "--episodes-per-iteration", "4", "--samples-per-task", "2",
                                      "--actor-trainable", r"^model\.norm\.", "--actor-lr", "0.05",
                                      "--max-turns", "2", "--max-new-tokens", "8", "--max-length", "8192"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "ppo_metrics.csv").open()))
    assert len(rows) == 1 and float(rows[0]["turns"]) >= 1
    assert (out / "model.safetensors").is_file()
    bad = CliRunner().invoke(app, ["train", "reference-ppo", "--model", str(path), "--out", str(tmp_path / "x"),
                                   "--episodes-per-iteration", "4", "--samples-per-task", "3"])
    assert bad.exit_code != 0 and "samples_per_task" in bad.output


def test_actor_trainable_updates_only_the_matching_parameters(tiny):
    """Training only the final norm (a per-dimension logit scale) still moves the policy the advantage's way."""
    import copy

    from drgym.train.reference.ppo import trainable_parameters

    model, tokenizer, _ = tiny
    actor = copy.deepcopy(model)
    good = _episode(tokenizer, "<|user|>\nq", "<answer>4,512</answer>", "", "", 1.0)
    bad = _episode(tokenizer, "<|user|>\nq", "<answer>the answer</answer>", "", "", 0.0)
    config = PPOConfig(model="", labels=[], out="", kl_coef=0.0, ppo_epochs=1, minibatch_episodes=2)
    critic = ValueModel(actor)
    batch = _experience([good, bad], actor, actor, critic, config, tokenizer.pad_token_id)
    before = {name: p.detach().clone() for name, p in actor.named_parameters()}
    ppo_update(actor, critic, torch.optim.AdamW(trainable_parameters(actor, r"^model\.norm\."), lr=1e-3),
               torch.optim.AdamW(critic.parameters(), lr=1e-2), batch, config, random.Random(0))
    changed = {name for name, p in actor.named_parameters() if not torch.equal(before[name], p)}
    assert changed == {"model.norm.weight"}
    with torch.no_grad():
        new = token_logprobs(actor, batch["ids"], batch["attention"])
    mask = batch["mask"]
    # the advantage-weighted change of log-probabilities (the surrogate's first-order gain) is positive
    assert ((new - batch["old_logprobs"]) * batch["advantages"])[mask].sum() > 0


def test_actor_trainable_that_matches_nothing_fails_naming_the_field(tiny, tmp_path):
    from drgym.errors import ConfigError
    from drgym.train.reference.ppo import train_ppo

    _, _, path = tiny
    with pytest.raises(ConfigError, match="actor_trainable"):
        train_ppo(PPOConfig(model=str(path), labels=[{"task_id": "t", "tasks": "procedural:tiny"}],
                            out=str(tmp_path / "o"), actor_trainable="no_such_parameter"))
    with pytest.raises(ConfigError, match="actor_trainable.*not a regular expression"):
        train_ppo(PPOConfig(model=str(path), labels=[{"task_id": "t", "tasks": "procedural:tiny"}],
                            out=str(tmp_path / "o"), actor_trainable="norm("))


class _NaNCritic(ValueModel):
    """A critic whose head outputs NaN: every value, advantage and return of the experience is NaN."""

    def __init__(self, causal_lm):
        super().__init__(causal_lm)
        with torch.no_grad():
            self.head.bias.fill_(float("nan"))


def test_a_nan_loss_stops_the_update_before_the_optimizer_step(tiny):
    import copy

    from drgym.errors import TrainingError

    model, tokenizer, _ = tiny
    actor = copy.deepcopy(model)
    critic = _NaNCritic(actor)
    episodes = [_episode(tokenizer, "<|user|>\nq", "<answer>4,512</answer>", "", "", 1.0),
                _episode(tokenizer, "<|user|>\nq", "<answer>the answer</answer>", "", "", 0.0)]
    config = PPOConfig(model="", labels=[], out="", ppo_epochs=1, minibatch_episodes=2)
    batch = _experience(episodes, actor, actor, critic, config, tokenizer.pad_token_id)
    before = {name: p.detach().clone() for name, p in actor.named_parameters()}
    with pytest.raises(TrainingError, match=re.escape("PPO update stopped before the optimizer step: policy loss nan")
                       ) as error:
        ppo_update(actor, critic, torch.optim.AdamW(actor.parameters(), lr=1e-2),
                   torch.optim.AdamW(critic.parameters(), lr=1e-2), batch, config, random.Random(0))
    assert "not finite in the experience: values, advantages, returns" in str(error.value)
    assert all(torch.equal(before[name], p) for name, p in actor.named_parameters())


@pytest.mark.slow
def test_reference_ppo_command_exits_1_naming_the_iteration_of_a_nan_loss(tiny, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from drgym.cli import app
    from drgym.train.reference import ppo

    monkeypatch.setattr(ppo, "ValueModel", _NaNCritic)
    out = tmp_path / "ppo"
    result = CliRunner().invoke(app, ["train", "reference-ppo", "--model", str(tiny[2]), "--out", str(out),
                                      "--iterations", "2", "--episodes-per-iteration", "2", "--max-turns", "2",
                                      "--max-new-tokens", "8", "--max-length", "8192"])
    assert result.exit_code == 1, result.output
    assert "TrainingError: iteration 0: PPO update stopped" in result.output.replace("\n", " ")
    assert not (out / "model.safetensors").exists()
