"""drgym for verifiers (willccbb/verifiers, the environments prime-rl trains on): a ``MultiTurnEnv`` over drgym
episodes, with drgym's judge as its rubric.

verifiers' rollout loop asks the model for a turn, then ``env_response(messages, state)`` for the environment's
reply, until a stop condition holds; the rubric then scores the finished state. `DrgymVerifiersEnv` opens the drgym
episode named by the row's ``info["label"]`` in ``setup_state``, hands each assistant message to the drgym env (raw
text in drgym's text tool-call protocol, or an assistant message with native ``tool_calls``, which drgym accepts
too), and answers with the observation as a user message (``<tool_response>`` blocks). When the drgym episode ends,
its observation is the final environment response and the rubric's ``drgym_reward`` is the env judge's score
(weight 1); the verdict pass rate and tool calls are logged as metrics (weight 0). An episode cut by verifiers'
``max_turns`` before drgym's budget ends it scores 0.0.

This is verifiers' classic API (``vf.MultiTurnEnv``, ``vf.Rubric``, ``load_environment``), in verifiers 0.3.x
(``verifiers.legacy``); verifiers 0.4 removed it for its ``verifiers.v1`` taskset/harness stack.

    >>> env = load_environment(tasks="procedural:easy")                       # doctest: +SKIP
    >>> env.evaluate_sync(client, "my-model", num_examples=8)                 # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from drgym.errors import ConfigError, NoTasksError
from drgym.train.episodes import EpisodeLabel, EpisodeSession, fixed_logs, iter_prompt_rows

try:
    import verifiers as vf

    _ = vf.MultiTurnEnv  # verifiers 0.4 has no classic API: fail here with the hint below
except (ImportError, AttributeError) as e:  # pragma: no cover - exercised only without verifiers 0.3
    raise ImportError("drgym's verifiers environment needs verifiers' classic MultiTurnEnv API (verifiers 0.3.x): "
                      "pip install 'drgym[verifiers]' (or pip install 'verifiers>=0.3.1,<0.4')") from e

__all__ = ["DrgymVerifiersEnv", "load_environment", "verifiers_dataset"]

logger = logging.getLogger(__name__)


def verifiers_dataset(tasks: str, *, split: str = "train", seeds: int = 1, web: str | None = None,
                      env_kwargs: dict[str, Any] | None = None,
                      kinds: tuple[str, ...] = ("deep_search", "deep_research"), for_eval: bool = False) -> Any:
    """A ``datasets.Dataset`` of the suite's episodes for verifiers: ``prompt`` (system and question messages),
    ``answer`` (the first accepted answer of a deep_search task, else '') and ``info`` (the episode label,
    task id, kind and seed)."""
    from datasets import Dataset

    rows = [{"prompt": row.prompt, "answer": row.answers[0] if row.answers else "",
             "info": {"label": row.label.to_json(), "task_id": row.label.task_id, "kind": row.kind,
                      "seed": row.label.seed}}
            for row in iter_prompt_rows(tasks, split=split, seeds=seeds, web=web, env_kwargs=env_kwargs, kinds=kinds,
                                        for_eval=for_eval)]
    if not rows:
        raise NoTasksError(f"no episodes in {tasks!r} for kinds {list(kinds)} in split {split!r}")
    return Dataset.from_list(rows)


def _text(message: Any) -> str:
    content = message.get("content") if hasattr(message, "get") else getattr(message, "content", None)
    if isinstance(content, list):  # content parts: the text parts, in order
        return "".join(str(part.get("text") or "") for part in content if hasattr(part, "get"))
    return str(content or "")


def _action(message: Any) -> str | dict[str, Any]:
    """What the drgym env receives: the raw text, or an assistant message with native tool calls."""
    tool_calls = message.get("tool_calls") if hasattr(message, "get") else None
    if not tool_calls:
        return _text(message)
    return {"role": "assistant", "content": _text(message),
            "tool_calls": [{"id": call.get("id"), "type": "function",
                            "function": {"name": call.get("name"), "arguments": call.get("arguments")}}
                           for call in tool_calls]}


class DrgymVerifiersEnv(vf.MultiTurnEnv):
    """drgym episodes as a verifiers multi-turn environment (built by `load_environment`).

    Args:
        dataset: training rows (`verifiers_dataset`).
        eval_dataset: evaluation rows (`verifiers_dataset(..., for_eval=True)`), or None.
        max_turns: verifiers' cap on model turns; keep drgym's budget within it (-1: only drgym's budget).
        **kwargs: passed to ``vf.MultiTurnEnv``.
    """

    def __init__(self, dataset: Any = None, eval_dataset: Any = None, *, max_turns: int = -1, **kwargs: Any) -> None:
        rubric = vf.Rubric(funcs=[self.drgym_reward, self.verdict_pass_rate, self.tool_calls],
                           weights=[1.0, 0.0, 0.0])
        super().__init__(dataset=dataset, eval_dataset=eval_dataset, rubric=rubric, max_turns=max_turns, **kwargs)
        self._sessions: dict[str, EpisodeSession] = {}

    async def setup_state(self, state: Any) -> Any:
        info = state.get("info")
        if not isinstance(info, dict) or not info.get("label"):
            raise ConfigError("the verifiers row has no drgym episode label (info.label): build the dataset with "
                              "drgym.train.verifiers_env.verifiers_dataset")
        session = EpisodeSession(EpisodeLabel.from_json(info["label"]), formats_feedback=False)
        messages = await asyncio.to_thread(session.start)
        if not any(messages[-1]["content"] in _text(m) for m in state["prompt"]):
            session.close()
            raise ConfigError(f"the prompt does not carry task {session.label.task_id!r}'s question: the dataset and "
                              "its labels are out of step (rebuild it with verifiers_dataset)")
        self._sessions[state["trajectory_id"]] = session
        state["drgym_reward"] = 0.0
        state["drgym_logs"] = fixed_logs(session.logs())
        return await super().setup_state(state)

    async def env_response(self, messages: Any, state: Any, **kwargs: Any) -> Any:
        session = self._sessions[state["trajectory_id"]]
        result = await asyncio.to_thread(session.step, _action(messages[-1]))
        state["drgym_logs"] = fixed_logs(result.logs)
        reply = [vf.UserMessage(content=result.observation)]
        if result.done:
            state["drgym_reward"] = result.reward
            state["final_env_response"] = reply
        return reply

    @vf.cleanup
    async def close_episode(self, state: Any) -> None:
        session = self._sessions.pop(state.get("trajectory_id"), None)
        if session is not None:
            session.close()

    async def drgym_reward(self, state: Any, **kwargs: Any) -> float:
        """The drgym env judge's score of the episode (0.0 for an episode cut before it ended)."""
        return float(state.get("drgym_reward") or 0.0)

    async def verdict_pass_rate(self, state: Any, **kwargs: Any) -> float:
        return float((state.get("drgym_logs") or {}).get("verdict_pass_rate", 0.0))

    async def tool_calls(self, state: Any, **kwargs: Any) -> float:
        return float((state.get("drgym_logs") or {}).get("budget_tool_calls", 0.0))


def load_environment(tasks: str = "procedural:easy", *, seeds: int = 1, web: str | None = None,
                     env_kwargs: dict[str, Any] | None = None,
                     kinds: tuple[str, ...] = ("deep_search", "deep_research"), eval_split: str | None = "heldout",
                     max_turns: int = -1, **kwargs: Any) -> DrgymVerifiersEnv:
    """verifiers' entry point: the train split of `tasks` as the dataset and `eval_split` (held-out tasks by
    default, None for none) as the evaluation set; `env_kwargs` go to ``gymnasium.make`` (budget, judge, ...)."""
    dataset = verifiers_dataset(tasks, seeds=seeds, web=web, env_kwargs=env_kwargs, kinds=kinds)
    eval_dataset = None
    if eval_split is not None:
        try:
            eval_dataset = verifiers_dataset(tasks, split=eval_split, seeds=1, web=web, env_kwargs=env_kwargs,
                                             kinds=kinds, for_eval=True)
        except NoTasksError:
            logger.warning("no %s tasks in %r: the environment has no evaluation set", eval_split, tasks)
    return DrgymVerifiersEnv(dataset=dataset, eval_dataset=eval_dataset, max_turns=max_turns, **kwargs)
