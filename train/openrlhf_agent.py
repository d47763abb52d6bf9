"""The drgym agent for OpenRLHF's multi-turn PPO: pass this file as ``--train.agent_func_path``.

OpenRLHF (0.11) builds one `AgentInstance` per prompt and drives it with `MultiTurnAgentExecutor.execute`: the
prompt row's label (written by ``drgym rl-data``) names the drgym task and env settings; `reset` opens the
episode, `step` runs the model's turn in the environment and returns the observation wrapped in the model's chat
template (tokens the trainer masks out), ``done`` and, at the end, the reward as a tensor: the env's rubric or
answer reward, summed by OpenRLHF and placed on the last action token, then GAE (γ = λ = 1 in drgym's configs).
Environment steps run in a worker thread so the vLLM engine's event loop is never blocked.
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

from drgym.train.episodes import EpisodeSession

__all__ = ["AgentExecutor", "AgentInstance"]


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
                "extra_logs": {key: torch.tensor(value) for key, value in result.logs.items()}}


class AgentExecutor(MultiTurnAgentExecutor):
    def __init__(self) -> None:
        super().__init__(AgentInstance)
