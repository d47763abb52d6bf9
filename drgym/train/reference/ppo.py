"""Token-level PPO in drgym environments, in plain torch, readable top to bottom (in the spirit of cleanrl/ppo.py).

One episode is one token sequence, built the way OpenRLHF's multi-turn executor builds it::

    prompt · action₁ · feedback₁ · action₂ · feedback₂ · … · actionₙ

Only action tokens are trained on (environment tokens are masked out: no loss, no gradient, not GAE steps).
The episode's reward sits on the last action token; each action token also carries the KL penalty
−β·(log π(a) − log π_ref(a)) to the frozen SFT policy ("k1" KL in the reward, as OpenRLHF does by default).

Advantages are GAE (Schulman et al. 2016, eq. 11–16) over the action tokens t = 0..T−1:

    δ_t = r_t + γ·V_{t+1} − V_t            (V_T = 0)
    A_t = δ_t + γ·λ·A_{t+1}                (A_T = 0)
    R_t = A_t + V_t                        (the value target)

With γ = λ = 1 (the Step-DeepResearch setting), A_t = Σ_{k≥t} r_k − V_t: reward-to-go minus the value.
Advantages are normalised over the batch; the policy loss is PPO's clipped surrogate
−min(ρ·A, clip(ρ, 1−ε, 1+ε)·A) with ρ = π_θ(a)/π_old(a); the value loss is clipped around the old values,
½·max((V−R)², (V_old + clip(V−V_old, −c, c) − R)²). The critic is a separate copy of the actor's network with a
scalar head (OpenRLHF initialises the critic from the actor the same way). A loss or gradient that is not finite
stops training before the update (`TrainingError`).

What the actor trains: all its parameters, those whose names match `actor_trainable`, or low-rank adapters on its
projections (`lora_rank` > 0, `drgym.train.reference.lora`; merged into the weights when saved). `device` puts
actor, reference, critic and every tensor on the CPU or a GPU; the seed fixes sampling on either.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from drgym.agents.hf_policy import from_local
from drgym.errors import ConfigError, TrainingError
from drgym.train.chat import ChatFormat
from drgym.train.episodes import EnvPool, EpisodeLabel, EpisodeSession
from drgym.train.reference.device import resolve_device
from drgym.train.reference.generation import padding_id, sample_batch
from drgym.train.reference.lora import DEFAULT_TARGETS, LoRALinear, add_lora, merge_lora

__all__ = ["Episode", "PPOConfig", "ValueModel", "clipped_policy_loss", "clipped_value_loss", "gae",
           "ppo_update", "run_episode", "run_episodes", "train_ppo", "trainable_parameters"]


@dataclass
class PPOConfig:
    model: str
    """The SFT checkpoint (a local HF folder): actor, reference policy and critic all start from it."""
    labels: list[dict[str, Any]]
    """Training episodes as `EpisodeLabel` fields (task_id, tasks, env_id, web, env_kwargs); sampled uniformly."""
    out: str
    iterations: int = 20
    episodes_per_iteration: int = 16
    samples_per_task: int = 1
    """Episodes of the same task in an iteration (OpenRLHF's n_samples_per_prompt); divides episodes_per_iteration."""
    ppo_epochs: int = 2
    minibatch_episodes: int = 8
    """Episodes per optimizer step."""
    micro_batch_episodes: int = 8
    """Episodes per forward/backward pass within a step, of similar length (gradients accumulated): memory and
    padding, not the result. On a CPU, 2 is about twice as fast as 8 for episodes of uneven length."""
    actor_lr: float = 5e-5
    critic_lr: float = 2e-4
    gamma: float = 1.0
    lam: float = 1.0
    eps_clip: float = 0.2
    value_clip: float = 0.5
    kl_coef: float = 0.01
    normalize_advantages: bool = True
    actor_trainable: str | None = None
    """A regular expression: only the actor's parameters whose names match it are trained (None: all; with
    `lora_rank`, none besides the adapters)."""
    lora_rank: int = 0
    """Rank of low-rank adapters on the actor's projections (0: no adapters, the weights themselves train)."""
    lora_alpha: float = 16.0
    """The adapters' scale α (the update is (α/r)·B·A)."""
    lora_targets: str = DEFAULT_TARGETS
    """A regular expression over module names: the linear layers that get adapters."""
    max_new_tokens: int = 96
    max_length: int = 2048
    temperature: float = 1.0
    seed: int = 0
    save_every: int = 0
    """Checkpoint every N iterations (0: only at the end)."""
    device: str = "auto"
    """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (a GPU when there is one)."""
    show_progress: bool = True
    on_iteration: Any = field(default=None, repr=False)
    """Optional callback(iteration, actor, metrics) after each iteration (e.g. held-out evaluation)."""


# -- the advantage estimator and the losses ---------------------------------------------------------------


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float = 1.0, lam: float = 1.0
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over one sequence of T steps. Returns (advantages, returns), each of shape (T,)."""
    advantages = torch.zeros_like(rewards)
    next_value, next_advantage = 0.0, 0.0
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * next_value - values[t]
        next_advantage = delta + gamma * lam * next_advantage
        advantages[t] = next_advantage
        next_value = values[t]
    return advantages, advantages + values


def clipped_policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                        eps_clip: float) -> torch.Tensor:
    """Per-token clipped surrogate loss (PPO, Schulman et al. 2017, eq. 7), negated for minimisation."""
    ratio = torch.exp(logprobs - old_logprobs)
    return -torch.min(ratio * advantages, torch.clamp(ratio, 1 - eps_clip, 1 + eps_clip) * advantages)


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
                       value_clip: float) -> torch.Tensor:
    clipped = old_values + torch.clamp(values - old_values, -value_clip, value_clip)
    return 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2)


# -- models ----------------------------------------------------------------------------------------------


class ValueModel(nn.Module):
    """The critic: the actor's transformer body (a copy) with a scalar head on every position."""

    def __init__(self, causal_lm: nn.Module) -> None:
        super().__init__()
        body = copy.deepcopy(causal_lm)
        self.body = body.get_decoder() if hasattr(body, "get_decoder") else body.model
        self.head = nn.Linear(causal_lm.config.hidden_size, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden).squeeze(-1).float()


def token_logprobs(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   temperature: float = 1.0) -> torch.Tensor:
    """log π(x_t | x_<t) for t ≥ 1 (shape batch × (len−1)), under the sampling temperature."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
    if temperature > 0:
        logits = logits / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def trainable_parameters(model: nn.Module, pattern: str | None) -> list[nn.Parameter]:
    """Freezes the parameters whose names do not match `pattern` (a regular expression; None: train all) and
    returns the others, for the optimizer."""
    if pattern is not None:
        try:
            regex = re.compile(pattern)
        except re.error as error:
            raise ConfigError(f"PPOConfig.actor_trainable {pattern!r} is not a regular expression: {error}") from None
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(regex.search(name) is not None)
    chosen = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if not chosen:
        raise ConfigError(f"PPOConfig.actor_trainable {pattern!r} matches none of the actor's parameters "
                          f"(names look like {next(iter(dict(model.named_parameters())))!r})")
    return chosen


# -- rollouts --------------------------------------------------------------------------------------------


@dataclass
class Episode:
    tokens: list[int]
    action_mask: list[int]
    """1 on tokens the policy generated, 0 on prompt and environment tokens."""
    reward: float
    done: bool
    turns: int
    task_id: str
    logs: dict[str, float] = field(default_factory=dict)
    answer: str | None = None
    """The answer the environment graded (None: the episode ended without one)."""
    observations: list[str] = field(default_factory=list)
    """The environment's observation after each turn, as the policy received it."""


def run_episode(actor: nn.Module, tokenizer: Any, chat: ChatFormat, label: EpisodeLabel, *, max_new_tokens: int,
                max_length: int, temperature: float, generator: torch.Generator | None = None,
                allow_heldout: bool = False) -> Episode:
    """Plays one episode with the model, as OpenRLHF's MultiTurnAgentExecutor does (token ids throughout)."""
    return run_episodes(actor, tokenizer, chat, [label], max_new_tokens=max_new_tokens, max_length=max_length,
                        temperature=temperature, generator=generator, allow_heldout=allow_heldout)[0]


def run_episodes(actor: nn.Module, tokenizer: Any, chat: ChatFormat, labels: list[EpisodeLabel], *,
                 max_new_tokens: int, max_length: int, temperature: float, generator: torch.Generator | None = None,
                 allow_heldout: bool = False, batch_size: int = 16, pool: EnvPool | None = None) -> list[Episode]:
    """Plays episodes turn by turn, `batch_size` at a time: every unfinished episode of a group generates its
    next action in one batched decode (`sample_batch`), then each steps its own environment (taken from `pool`,
    default the process's shared one)."""
    pad = padding_id(tokenizer)
    episodes: list[Episode] = []
    for start in range(0, len(labels), batch_size):
        group = labels[start:start + batch_size]
        sessions = [EpisodeSession(label, chat=chat, allow_heldout=allow_heldout, pool=pool) for label in group]
        try:
            tokens = [tokenizer(chat.prompt(session.start()), add_special_tokens=False)["input_ids"]
                      for session in sessions]
            longest = max(len(t) for t in tokens)
            if longest >= max_length:  # no episode of the group could act: training would learn nothing, silently
                raise ConfigError(f"the opening prompt is {longest} tokens, at or over max_length {max_length}: no "
                                  f"room to act; raise --max-length above {longest + max_new_tokens}")
            masks = [[0] * len(t) for t in tokens]
            results: list[Any] = [None] * len(group)
            observations: list[list[str]] = [[] for _ in group]
            live = list(range(len(group)))
            while live:
                rooms = {i: min(max_new_tokens, max_length - len(tokens[i])) for i in live}
                live = [i for i in live if rooms[i] > 0]  # out of context: the episode ends unfinished, reward 0
                if not live:
                    break
                actions = sample_batch(actor, [tokens[i] for i in live], max_new_tokens=[rooms[i] for i in live],
                                       eos_token_id=tokenizer.eos_token_id, pad_token_id=pad,
                                       temperature=temperature, generator=generator)
                still = []
                for i, (action, _, finish) in zip(live, actions):
                    tokens[i] += action
                    masks[i] += [1] * len(action)
                    results[i] = sessions[i].step(tokenizer.decode(action, skip_special_tokens=True),
                                                  ended_with_eos=finish == "stop")
                    observations[i].append(results[i].observation)
                    if not results[i].done:
                        feedback = tokenizer(results[i].feedback, add_special_tokens=False)["input_ids"]
                        tokens[i] += feedback
                        masks[i] += [0] * len(feedback)
                        still.append(i)
                live = still
        finally:
            for session in sessions:
                session.close()
        for i, label in enumerate(group):
            result = results[i]
            done = bool(result is not None and result.done)
            submission = sessions[i].info.get("submission") if done else None
            episodes.append(Episode(tokens=tokens[i], action_mask=masks[i], reward=result.reward if done else 0.0,
                                    done=done, turns=sessions[i].turns, task_id=label.task_id,
                                    logs=result.logs if result is not None else {},
                                    answer=submission if isinstance(submission, str) else None,
                                    observations=observations[i]))
    return episodes


# -- the update ------------------------------------------------------------------------------------------


def _pad(episodes: list[Episode], pad_id: int, device: torch.device | str = "cpu"
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(e.tokens) for e in episodes)
    ids = torch.full((len(episodes), width), pad_id)
    attention = torch.zeros((len(episodes), width), dtype=torch.long)
    action = torch.zeros((len(episodes), width), dtype=torch.bool)
    for row, episode in enumerate(episodes):
        n = len(episode.tokens)
        ids[row, :n] = torch.tensor(episode.tokens)
        attention[row, :n] = 1
        action[row, :n] = torch.tensor(episode.action_mask, dtype=torch.bool)
    return ids.to(device), attention.to(device), action.to(device)


@torch.no_grad()
def _experience(episodes: list[Episode], actor: nn.Module, reference: nn.Module, critic: ValueModel,
                config: PPOConfig, pad_id: int) -> dict[str, torch.Tensor]:
    """Old log-probs, reference log-probs, values, rewards, advantages and returns for a batch of episodes.

    Positions are shifted by one: index t of the per-token tensors scores token t+1 given tokens ≤ t.
    """
    ids, attention, action = _pad(episodes, pad_id, next(actor.parameters()).device)
    mask = action[:, 1:] & attention[:, 1:].bool()
    old_logprobs = token_logprobs(actor, ids, attention, config.temperature)
    ref_logprobs = token_logprobs(reference, ids, attention, config.temperature)
    values = critic(ids, attention)[:, :-1]  # the value of the state before each token
    advantages = torch.zeros_like(old_logprobs)
    returns = torch.zeros_like(old_logprobs)
    kl = (old_logprobs - ref_logprobs) * mask
    for row, episode in enumerate(episodes):
        steps = mask[row].nonzero().squeeze(-1)  # the action tokens, in order: GAE's time steps
        if steps.numel() == 0:
            continue
        rewards = -config.kl_coef * kl[row, steps]
        rewards[-1] += episode.reward
        adv, ret = gae(rewards, values[row, steps], config.gamma, config.lam)
        advantages[row, steps] = adv
        returns[row, steps] = ret
    if config.normalize_advantages and mask.any():
        chosen = advantages[mask]
        advantages = torch.where(mask, (advantages - chosen.mean()) / (chosen.std(unbiased=False) + 1e-8), 0.0)
    return {"ids": ids, "attention": attention, "mask": mask, "old_logprobs": old_logprobs, "values": values,
            "advantages": advantages, "returns": returns, "kl": kl}


def ppo_update(actor: nn.Module, critic: ValueModel, actor_optimizer: torch.optim.Optimizer,
               critic_optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor], config: PPOConfig,
               rng: random.Random) -> dict[str, float]:
    """`ppo_epochs` passes of minibatch updates over one batch of experience; returns mean statistics.

    A minibatch (`minibatch_episodes`) is one optimizer step; its forward and backward passes run in micro-batches
    of `micro_batch_episodes` episodes of similar length (less padding), gradients accumulated, the loss a mean
    over the minibatch's action tokens.
    """
    n = batch["ids"].shape[0]
    stats: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "clip_fraction": [], "approx_kl": []}
    actor.train()
    critic.train()
    lengths = batch["attention"].sum(1).tolist()
    for _ in range(config.ppo_epochs):
        order = rng.sample(range(n), n)
        for start in range(0, n, config.minibatch_episodes):
            chosen = sorted(order[start:start + config.minibatch_episodes], key=lambda row: lengths[row])
            tokens = float(batch["mask"][chosen].sum())
            if tokens == 0:
                continue
            actor_optimizer.zero_grad()
            critic_optimizer.zero_grad()
            totals = {"policy_loss": 0.0, "value_loss": 0.0, "clipped": 0.0, "approx_kl": 0.0}
            for micro in range(0, len(chosen), config.micro_batch_episodes):
                rows = torch.tensor(chosen[micro:micro + config.micro_batch_episodes], device=batch["ids"].device)
                attention = batch["attention"][rows]
                width = int(attention.sum(1).max())  # drop columns that are padding in every row
                ids, attention = batch["ids"][rows, :width], attention[:, :width]
                mask = batch["mask"][rows, :width - 1]
                old, adv = batch["old_logprobs"][rows, :width - 1], batch["advantages"][rows, :width - 1]
                logprobs = token_logprobs(actor, ids, attention, config.temperature)
                policy_loss = clipped_policy_loss(logprobs, old, adv, config.eps_clip)[mask].sum() / tokens
                policy_loss.backward()
                values = critic(ids, attention)[:, :-1]
                value_loss = clipped_value_loss(values, batch["values"][rows, :width - 1],
                                                batch["returns"][rows, :width - 1], config.value_clip)[mask].sum() / tokens
                value_loss.backward()
                with torch.no_grad():
                    ratio = torch.exp(logprobs - old)[mask]
                    totals["clipped"] += float(((ratio - 1).abs() > config.eps_clip).sum()) / tokens
                    totals["approx_kl"] += float((old - logprobs)[mask].sum()) / tokens
                totals["policy_loss"] += policy_loss.item()
                totals["value_loss"] += value_loss.item()
            actor_grad_norm = torch.nn.utils.clip_grad_norm_(actor.parameters(), 1.0).item()
            critic_grad_norm = torch.nn.utils.clip_grad_norm_(critic.parameters(), 1.0).item()
            _stop_unless_finite(totals, actor_grad_norm, critic_grad_norm, batch, config)
            actor_optimizer.step()
            critic_optimizer.step()
            stats["policy_loss"].append(totals["policy_loss"])
            stats["value_loss"].append(totals["value_loss"])
            stats["clip_fraction"].append(totals["clipped"])
            stats["approx_kl"].append(totals["approx_kl"])
    return {k: sum(v) / len(v) if v else 0.0 for k, v in stats.items()}


def _stop_unless_finite(totals: dict[str, float], actor_grad_norm: float, critic_grad_norm: float,
                        batch: dict[str, torch.Tensor], config: PPOConfig) -> None:
    """Raises before an optimizer step whose loss or gradient is NaN or infinite (it would make the weights NaN)."""
    figures = {"policy loss": totals["policy_loss"], "value loss": totals["value_loss"],
               "actor gradient norm": actor_grad_norm, "critic gradient norm": critic_grad_norm}
    if all(math.isfinite(value) for value in figures.values()):
        return
    mask = batch["mask"]
    inputs = [name for name in ("old_logprobs", "values", "advantages", "returns")
              if not torch.isfinite(batch[name][mask]).all()]
    raise TrainingError(
        "PPO update stopped before the optimizer step: " + ", ".join(f"{k} {v}" for k, v in figures.items())
        + (f"; not finite in the experience: {', '.join(inputs)} (check the rewards and the critic's weights)"
           if inputs else "") + f". Lower the learning rates (actor_lr {config.actor_lr}, critic_lr "
        f"{config.critic_lr}) or check that the models' weights are finite")


def train_ppo(config: PPOConfig) -> Path:
    """Runs PPO and saves the actor (HF format) to ``config.out``; metrics go to ``out/ppo_metrics.csv``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not config.labels:
        raise ConfigError("PPOConfig.labels is empty: nothing to train on")
    for name in ("episodes_per_iteration", "samples_per_task", "minibatch_episodes", "micro_batch_episodes"):
        if getattr(config, name) < 1:
            raise ConfigError(f"PPOConfig.{name} must be at least 1, got {getattr(config, name)}")
    if config.episodes_per_iteration % config.samples_per_task:
        raise ConfigError(f"PPOConfig.samples_per_task ({config.samples_per_task}) must divide "
                          f"episodes_per_iteration ({config.episodes_per_iteration})")
    if config.lora_rank < 0:
        raise ConfigError(f"PPOConfig.lora_rank must be 0 (no adapters) or more, got {config.lora_rank}")
    device = resolve_device(config.device, field="PPOConfig.device")
    labels = [EpisodeLabel(**label) for label in config.labels]
    torch.manual_seed(config.seed)  # every device's generator
    rng = random.Random(config.seed)
    generator = torch.Generator(device=device).manual_seed(config.seed)  # sampling draws on the model's device
    tokenizer = from_local(AutoTokenizer, config.model)
    chat = ChatFormat(tokenizer)
    actor = from_local(AutoModelForCausalLM, config.model).to(device)
    reference = from_local(AutoModelForCausalLM, config.model).to(device).eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    critic = ValueModel(actor)  # copied before the actor is frozen in part or given adapters: it trains in full
    if config.lora_rank:
        adapters = add_lora(actor, rank=config.lora_rank, alpha=config.lora_alpha, targets=config.lora_targets)
        extra = [] if config.actor_trainable is None else [  # e.g. the norms beside the adapters
            p for p in trainable_parameters(actor, config.actor_trainable) if all(p is not a for a in adapters)]
        for parameter in adapters:  # trainable_parameters froze what does not match the pattern
            parameter.requires_grad_(True)
        trained = adapters + extra
    else:
        trained = trainable_parameters(actor, config.actor_trainable)
    actor_optimizer = torch.optim.AdamW(trained, lr=config.actor_lr)
    critic_optimizer = torch.optim.AdamW(critic.parameters(), lr=config.critic_lr)
    pad = padding_id(tokenizer)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ppo_config.json").write_text(json.dumps({**{k: v for k, v in asdict(config).items()
                                                        if k not in ("labels", "on_iteration")},
                                                     "resolved_device": str(device),
                                                     "trained_parameters": sum(p.numel() for p in trained)}, indent=2))
    started = time.perf_counter()
    progress = tqdm(range(config.iterations), desc="ppo", unit="it", disable=not config.show_progress)
    with (out / "ppo_metrics.csv").open("w", newline="") as handle, EnvPool() as pool:
        writer = None
        for iteration in progress:
            tasks = [rng.choice(labels) for _ in range(config.episodes_per_iteration // config.samples_per_task)]
            episodes = run_episodes(actor, tokenizer, chat, [t for t in tasks for _ in range(config.samples_per_task)],
                                    max_new_tokens=config.max_new_tokens, max_length=config.max_length,
                                    temperature=config.temperature, generator=generator, pool=pool)
            batch = _experience(episodes, actor, reference, critic, config, pad)
            try:
                stats = ppo_update(actor, critic, actor_optimizer, critic_optimizer, batch, config, rng)
            except TrainingError as error:
                raise TrainingError(f"iteration {iteration}: {error}") from None
            metrics = {"iteration": iteration, "reward": sum(e.reward for e in episodes) / len(episodes),
                       "done_rate": sum(e.done for e in episodes) / len(episodes),
                       "turns": sum(e.turns for e in episodes) / len(episodes),
                       "searches": sum(e.logs.get("budget_tool_calls", 0.0) for e in episodes) / len(episodes),
                       "action_tokens": float(batch["mask"].sum()) / len(episodes),
                       "kl": float(batch["kl"].sum()) / max(1.0, float(batch["mask"].sum())), **stats,
                       "seconds": round(time.perf_counter() - started, 1)}
            if config.on_iteration is not None:
                metrics.update(config.on_iteration(iteration, actor, metrics) or {})
            if writer is None:
                writer = csv.DictWriter(handle, fieldnames=list(metrics))
                writer.writeheader()
            writer.writerow({k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()})
            handle.flush()
            progress.set_postfix(reward=f"{metrics['reward']:.3f}", kl=f"{metrics['kl']:.4f}")
            if config.save_every and (iteration + 1) % config.save_every == 0:
                _save_actor(actor, tokenizer, out / f"checkpoint-{iteration + 1}")
    _save_actor(actor, tokenizer, out)
    torch.save(critic.state_dict(), out / "critic.pt")
    return out


def _save_actor(actor: nn.Module, tokenizer: Any, path: Path) -> None:
    """Saves the actor as a plain Hugging Face model (adapters merged into a copy; the training actor keeps them)."""
    if any(isinstance(module, LoRALinear) for module in actor.modules()):
        actor = merge_lora(copy.deepcopy(actor))
    actor.save_pretrained(path)
    tokenizer.save_pretrained(path)
