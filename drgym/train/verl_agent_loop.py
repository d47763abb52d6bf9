"""drgym for veRL: an agent loop (``AgentLoopBase``) that plays drgym episodes, and its parquet dataset.

veRL's ``AgentLoopWorker`` reads each dataset row's ``agent_name`` column, builds the loop registered under that name
(``hydra.utils.instantiate`` with the trainer config, an ``LLMServerClient`` as ``server_manager``, the tokenizer,
...) and awaits ``run(sampling_params, **row)``, the row's other columns as keyword arguments (``raw_prompt``,
``extra_info``, ``data_source``, ``reward_model``, ``index``, ...). It expects an ``AgentLoopOutput``: prompt ids,
response ids with a mask (1 for model tokens, 0 for environment tokens), optional log-probs, the reward
(``reward_score``, placed on the last response token) and ``extra_fields`` (``reward_extra_info`` is logged per key,
so every episode gives the same keys).

`DrgymAgentLoop` reads the episode from ``extra_info["label"]`` (written by `drgym.train.peer_data.verl_rows`), generates each
turn token-in-token-out with ``server_manager.generate(request_id=..., prompt_ids=..., sampling_params=...)``, hands
the decoded text to the drgym env (which parses drgym's text tool-call protocol), and appends the observation in the
model's chat template (`ChatFormat.feedback`, as in the OpenRLHF adapter and the reference trainer) with mask 0. The
reward is the env judge's score when the episode ends; an episode that runs out of ``rollout.response_length`` first
is cut there with reward 0.0. Environment steps run in a worker thread so the event loop is never blocked.

Usage: ``drgym export verl --suite procedural:easy --out train.parquet``, then in the veRL run
``actor_rollout_ref.rollout.agent.agent_loop_config_path=<file>``, the file naming this loop under ``drgym_agent``
(``drgym export verl --agent-loop-config <file>`` writes it), or import this module in the worker process so its
``@register`` runs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import uuid4

from drgym.errors import ConfigError
from drgym.train.chat import ChatFormat
from drgym.train.episodes import EpisodeLabel, EpisodeSession, fixed_logs
from drgym.train.peer_data import VERL_AGENT_NAME

try:
    from verl.experimental.agent_loop.agent_loop import (
        AgentLoopBase,
        AgentLoopMetrics,
        AgentLoopOutput,
        register,
    )
except ImportError as e:  # pragma: no cover - exercised only without veRL
    raise ImportError("drgym's veRL agent loop needs veRL (>= 0.9, a CUDA machine): pip install 'drgym[verl]' "
                      "(or pip install verl); the dataset export needs no veRL: drgym export verl") from e

__all__ = ["DrgymAgentLoop"]


def _label(extra_info: Any) -> EpisodeLabel:
    if not isinstance(extra_info, dict) or not extra_info.get("label"):
        raise ConfigError("the veRL row has no drgym episode label (extra_info.label): export the dataset with "
                          "`drgym export verl` (or drgym.train.peer_data.export_peer_dataset)")
    return EpisodeLabel.from_json(extra_info["label"])


@register(VERL_AGENT_NAME)
class DrgymAgentLoop(AgentLoopBase):
    """A drgym episode as a veRL agent loop; veRL builds one per trajectory."""

    def __init__(self, *args: Any, tools: Any = None, **kwargs: Any) -> None:
        # veRL hands every loop its configured tool list; drgym's env runs its own tools from the model's text.
        super().__init__(*args, **kwargs)
        self.prompt_length = int(self.rollout_config.prompt_length)
        self.response_length = int(self.rollout_config.response_length)
        self.chat = ChatFormat(self.tokenizer)

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        label = _label(kwargs.get("extra_info"))
        session = EpisodeSession(label, chat=self.chat)
        messages = await asyncio.to_thread(session.start)
        raw_prompt = list(kwargs["raw_prompt"])
        if not any(messages[-1]["content"] in str(m.get("content") or "") for m in raw_prompt):
            session.close()
            raise ConfigError(f"the prompt does not carry task {label.task_id!r}'s question: the dataset and its "
                              "labels are out of step (re-export with drgym export verl)")
        prompt_ids = self._encode(self.chat.prompt(raw_prompt))
        if len(prompt_ids) > self.prompt_length:
            session.close()
            raise ConfigError(f"task {label.task_id!r}: the prompt has {len(prompt_ids)} tokens, more than "
                              f"rollout.prompt_length ({self.prompt_length}); raise data.max_prompt_length and "
                              "rollout.prompt_length, or export with a shorter system prompt")
        request_id = uuid4().hex  # one sticky session per episode: the server reuses its prefix cache
        response_ids: list[int] = []
        response_mask: list[int] = []
        logprobs: list[float] | None = None
        timing = {"generate_sequences": 0.0, "tool_calls": 0.0}
        num_preempted = -1
        is_cut = False
        try:
            while True:
                started = time.perf_counter()
                output = await self.server_manager.generate(request_id=request_id, prompt_ids=prompt_ids + response_ids,
                                                            sampling_params=sampling_params)
                timing["generate_sequences"] += time.perf_counter() - started
                if output.num_preempted is not None:
                    num_preempted = max(num_preempted, 0) + output.num_preempted
                action_ids = list(output.token_ids)
                if output.log_probs is not None and logprobs is None:
                    logprobs = [0.0] * len(response_ids)
                response_ids += action_ids
                response_mask += [1] * len(action_ids)
                if logprobs is not None:
                    logprobs += list(output.log_probs) if output.log_probs is not None else [0.0] * len(action_ids)
                if len(response_ids) > self.response_length:  # the turn does not fit: its end is cut off in training
                    is_cut = True
                    break
                action_text = self.tokenizer.decode(action_ids, skip_special_tokens=True)
                ended_with_eos = bool(action_ids) and action_ids[-1] == self.tokenizer.eos_token_id
                started = time.perf_counter()
                result = await asyncio.to_thread(session.step, action_text, ended_with_eos=ended_with_eos)
                timing["tool_calls"] += time.perf_counter() - started
                if result.done:
                    break
                feedback_ids = self._encode(result.feedback)
                response_ids += feedback_ids
                response_mask += [0] * len(feedback_ids)
                if logprobs is not None:
                    logprobs += [0.0] * len(feedback_ids)
                if len(response_ids) >= self.response_length:  # no room for another turn
                    is_cut = True
                    break
        finally:
            session.close()
        reward = session.reward if session.done else 0.0
        logs = {**fixed_logs(session.logs()), "cut_by_response_length": float(is_cut)}
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=response_ids[: self.response_length],
            response_mask=response_mask[: self.response_length],
            response_logprobs=logprobs[: self.response_length] if logprobs is not None else None,
            reward_score=reward,
            num_turns=1 + 2 * session.turns,  # the prompt, then an assistant turn and an observation per step
            metrics=AgentLoopMetrics(num_preempted=num_preempted, **timing),
            extra_fields={"turn_scores": [], "tool_rewards": [], "reward_extra_info": logs,
                          "drgym_task_id": label.task_id},
        )
