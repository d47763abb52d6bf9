"""The drgym agent for OpenRLHF's multi-turn PPO: pass this file as ``--train.agent_func_path``.

OpenRLHF (0.11) builds one `AgentInstance` per prompt and drives it with `MultiTurnAgentExecutor.execute`: the
prompt row's label (written by ``drgym rl-data``) names the drgym task and env settings; `reset` opens the
episode, `step` runs the model's turn in the environment and returns the observation wrapped in the model's chat
template (tokens the trainer masks out), ``done`` and, at the end, the reward as a tensor: the env's rubric or
answer reward, summed by OpenRLHF and placed on the last action token, then GAE (γ = λ = 1 in drgym's configs).
Environment steps run in a worker thread so the vLLM engine's event loop is never blocked.

OpenRLHF keeps the last step's ``extra_logs`` as the episode's and batches them per key, so every episode returns
exactly the keys of `EXTRA_LOG_DEFAULTS` (a missing key fails ``split_experience_batch``). An episode the context
limit cuts off has no verdicts: its ``verdict_pass_rate`` is 0.0 and ``graded`` 0.0, so the pass rate among graded
episodes is mean(verdict_pass_rate) / mean(graded).
"""

from __future__ import annotations

import asyncio
from typing import Any

import torch

try:
    from openrlhf.utils.agent import AgentInstanceBase, MultiTurnAgentExecutor
except ImportError as e:  # pragma: no cover - exercised only without openrlhf
    raise ImportError("drgym's OpenRLHF agent needs openrlhf: pip install 'drgym[gpu]' (or, to test the adapter on "
                      "CPU, pip install --no-deps openrlhf pylatexenc sympy aiohttp)") from e

from drgym.train.episodes import EXTRA_LOG_DEFAULTS, EpisodeSession, fixed_logs

__all__ = ["EXTRA_LOG_DEFAULTS", "AgentExecutor", "AgentInstance", "extra_logs"]


def extra_logs(logs: dict[str, float]) -> dict[str, torch.Tensor]:
    """An episode's logs (`EpisodeSession.logs`) as OpenRLHF extra logs: the keys of `EXTRA_LOG_DEFAULTS`, always."""
    return {key: torch.tensor(value, dtype=torch.float32) for key, value in fixed_logs(logs).items()}


class AgentInstance(AgentInstanceBase):
    """One drgym episode; OpenRLHF calls ``cls()`` with no arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.session: EpisodeSession | None = None

    async def reset(self, states: dict, **kwargs: Any) -> dict:
        self.session = EpisodeSession(states["label"])
        messages = await asyncio.to_thread(self.session.start)
        question = messages[-1]["content"]
        if question not in states["observation"]:
            raise ValueError(f"the prompt does not carry task {self.session.label.task_id!r}'s question: the prompt "
                             "dataset and its labels are out of step (re-export with drgym rl-data)")
        return {"observation": states["observation"]}

    async def step(self, states: dict, **kwargs: Any) -> dict:
        result = await asyncio.to_thread(self.session.step, states["action_text"])
        reward = torch.tensor(result.reward, dtype=torch.float32)
        return {"rewards": reward, "scores": reward, "environment_feedback": result.feedback, "done": result.done,
                "sampling_params": states.get("sampling_params"),
                "extra_logs": extra_logs(result.logs)}


class AgentExecutor(MultiTurnAgentExecutor):
    def __init__(self) -> None:
        super().__init__(AgentInstance)

    async def execute(self, prompt, label, sampling_params, max_length: int, hf_tokenizer, llm_engine, images=None):
        # OpenRLHF gives each turn all the context left (max_tokens = max_length - context); drgym's configs and
        # the reference trainer mean rollout.max_new_tokens per turn, so the engine caps every turn at it.
        cap = getattr(sampling_params, "max_tokens", None)
        engine = _PerTurnCap(llm_engine, cap) if cap else llm_engine
        return await super().execute(prompt, label, sampling_params, max_length, hf_tokenizer, engine, images=images)


class _PerTurnCap:
    """An engine whose every generation is at most `cap` tokens (what OpenRLHF's executor asks, or less)."""

    def __init__(self, engine, cap: int) -> None:
        self.engine, self.cap = engine, cap

    async def generate(self, token_ids, sampling_params, multi_modal_data=None):
        sampling_params.max_tokens = min(sampling_params.max_tokens, self.cap)
        return await self.engine.generate(token_ids, sampling_params, multi_modal_data=multi_modal_data)

    def __getattr__(self, name):
        return getattr(self.engine, name)
