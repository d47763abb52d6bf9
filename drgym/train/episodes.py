"""A drgym episode as a token-level RL trainer sees it: a prompt, then text actions answered by chat-formatted
environment feedback, and a reward at the end. Shared by the OpenRLHF adapter and the CPU reference trainer.

The RL prompt dataset (`export_prompts`, ``drgym rl-data``) has one row per (task, seed):
``{"prompt": [system, user messages], "label": "<JSON>"}``; the label names the environment, the task source
(suite or task file), the task id, the seed and the env settings, so any worker can rebuild the episode.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drgym.core.kinds import ENV_IDS
from drgym.errors import ConfigError, NoTasksError
from drgym.tasks.splits import select_split, task_split
from drgym.train.chat import ChatFormat

__all__ = ["EXTRA_LOG_DEFAULTS", "EnvPool", "EpisodeLabel", "EpisodeSession", "PromptRow", "StepResult",
           "default_pool", "export_prompts", "fixed_logs", "iter_prompt_rows"]

logger = logging.getLogger(__name__)

TOKENIZER_ENV = "DRGYM_AGENT_TOKENIZER"


@dataclass(frozen=True)
class EpisodeLabel:
    """Everything needed to rebuild an episode on any worker (serialised as the prompt row's label)."""

    task_id: str
    tasks: str
    """A suite name (procedural:easy) or a task-file path."""
    env_id: str = "drgym/DeepSearch-v1"
    web: str | None = None
    seed: int = 0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """JSON-able gymnasium.make arguments: budget, tools, judge, judge_config, noise."""
    tokenizer: str | None = None
    """The chat template's tokenizer (an absolute path or a Hugging Face id); else $DRGYM_AGENT_TOKENIZER."""
    purpose: str = "train"
    """``train``, or ``eval`` for an evaluation prompt (only those may name held-out tasks)."""

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items()}, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | dict) -> EpisodeLabel:
        try:
            data = json.loads(text) if isinstance(text, str) else dict(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"the episode label is not JSON ({e}): {str(text)[:120]!r}") from None
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"the episode label has unknown fields {sorted(unknown)}")
        for required in ("task_id", "tasks"):
            if not data.get(required):
                raise ConfigError(f"the episode label misses {required!r}: {str(text)[:120]!r}")
        return cls(**data)


EXTRA_LOG_DEFAULTS: dict[str, float] = {
    "turns": 0.0,
    "done": 0.0,
    "budget_exhausted": 0.0,
    "budget_tool_calls": 0.0,
    "budget_input_tokens": 0.0,
    "budget_output_tokens": 0.0,
    "budget_cost_usd": 0.0,
    "verdict_pass_rate": 0.0,  # ungraded (cut off by the context limit): nothing passed
    "graded": 0.0,  # 1.0 when the episode's answer (or draft) was graded
}
"""The per-episode logs a trainer receives, each with its value for an episode that lacks it (trainers batch logs
per key, so every episode must give the same keys)."""

# Trainers log their own per-sample `truncated` (generation hit max_tokens); a log of that name would replace it.
_RENAMED = {"truncated": "budget_exhausted"}


def fixed_logs(logs: dict[str, float]) -> dict[str, float]:
    """An episode's logs (`EpisodeSession.logs`) with exactly the keys of `EXTRA_LOG_DEFAULTS`."""
    renamed = {_RENAMED.get(key, key): value for key, value in logs.items()}
    unknown = sorted(set(renamed) - set(EXTRA_LOG_DEFAULTS))
    if unknown:
        raise ValueError(f"episode logs {unknown} are not in EXTRA_LOG_DEFAULTS: add each with its value for the "
                         "episodes that lack it (trainers need the same keys from every episode)")
    return {**EXTRA_LOG_DEFAULTS, **renamed, "graded": float("verdict_pass_rate" in logs)}


@dataclass
class StepResult:
    feedback: str
    """Chat-template text: end of the assistant turn, the observation, the next turn's opening ('' at the end)."""
    reward: float
    done: bool
    observation: str
    logs: dict[str, float]


class EnvPool:
    """Environments kept per configuration and reused across episodes (a world loads once, not per episode).

    A trainer that owns its loop passes its own (``with EnvPool() as pool: EpisodeSession(label, pool=pool)``);
    sessions without one share the process's `default_pool`, created on first use and closed at exit: OpenRLHF,
    SkyRL and veRL create one agent object per episode and leave no other place to keep a loaded world.
    """

    def __init__(self) -> None:
        self._free: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(label: EpisodeLabel) -> str:
        return json.dumps([label.env_id, label.tasks, label.web, label.env_kwargs], sort_keys=True, default=str)

    def take(self, label: EpisodeLabel) -> Any:
        key = self.key(label)
        with self._lock:
            if self._free.get(key):
                return self._free[key].pop()
        import gymnasium as gym

        import drgym  # noqa: F401 - registers the environments

        kwargs = dict(label.env_kwargs)
        if label.web:
            kwargs["web"] = label.web
        return gym.make(label.env_id, tasks=label.tasks, **kwargs)

    def give(self, label: EpisodeLabel, env: Any) -> None:
        with self._lock:
            self._free.setdefault(self.key(label), []).append(env)

    def close(self) -> None:
        """Closes the kept environments, and with them their temporary workspaces (run at exit)."""
        with self._lock:
            envs = [env for free in self._free.values() for env in free]
            self._free.clear()
        for env in envs:
            env.close()

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.cache
def default_pool() -> EnvPool:
    """The process's shared pool (for sessions given none), closed at interpreter exit."""
    pool = EnvPool()
    atexit.register(pool.close)
    return pool


def _chat_format(tokenizer: str | None) -> ChatFormat:
    path = tokenizer or os.environ.get(TOKENIZER_ENV)
    if not path:
        raise ConfigError(f"no tokenizer for the chat template: put 'tokenizer' in the label (drgym rl-data "
                          f"--tokenizer PATH) or set ${TOKENIZER_ENV}")
    return _chat_format_at(path)


@functools.lru_cache(maxsize=8)
def _chat_format_at(path: str) -> ChatFormat:
    """One loaded tokenizer per path and process (every episode of a run uses the same one)."""
    return ChatFormat(path)


class EpisodeSession:
    """One episode: `start()` resets the env and returns the prompt messages, `step(action_text)` runs a turn.

    Args:
        label: the episode (an `EpisodeLabel`, or its JSON).
        chat: the chat format for feedback text (default: from the label's tokenizer).
        allow_heldout: training refuses held-out tasks unless this is set.
        formats_feedback: False for trainers that take the observation as a chat message and apply their own
            template (SkyRL, verifiers, veRL): `StepResult.feedback` is then '' and no tokenizer is needed.
        pool: where the environment is taken from and given back to (default: `default_pool()`).
    """

    def __init__(self, label: EpisodeLabel | str | dict, *, chat: ChatFormat | None = None,
                 allow_heldout: bool = False, formats_feedback: bool = True, pool: EnvPool | None = None) -> None:
        self.label = label if isinstance(label, EpisodeLabel) else EpisodeLabel.from_json(label)
        if not allow_heldout and self.label.purpose != "eval" and task_split(self.label.task_id) == "heldout":
            raise ConfigError(f"task {self.label.task_id!r} is in the held-out split: training does not use it "
                              "(evaluation prompts are exported with `drgym rl-data --split heldout --eval`)")
        self.chat = chat
        self.formats_feedback = formats_feedback
        self.pool = pool if pool is not None else default_pool()
        self.env: Any = None
        self.turns = 0
        self.reward = 0.0
        self.done = False
        self.info: dict[str, Any] = {}

    def start(self) -> list[dict[str, Any]]:
        self.env = self.pool.take(self.label)
        _, self.info = self.env.reset(seed=self.label.seed, options={"task_id": self.label.task_id})
        return self.info["messages"]

    def step(self, action_text: str, *, ended_with_eos: bool = True) -> StepResult:
        if self.env is None or self.done:
            raise ConfigError("EpisodeSession.step before start() or after the episode ended")
        observation, reward, terminated, truncated, self.info = self.env.step(action_text)
        self.turns += 1
        self.done = terminated or truncated
        self.reward = float(reward)
        if self.done or not self.formats_feedback:
            feedback = ""
        else:
            feedback = (self.chat or _chat_format(self.label.tokenizer)).feedback(observation,
                                                                                  ended_with_eos=ended_with_eos)
        if self.done:
            self.close()
        return StepResult(feedback=feedback, reward=self.reward if self.done else 0.0, done=self.done,
                          observation=observation, logs=self.logs())

    def logs(self) -> dict[str, float]:
        usage = self.info.get("usage") or {}
        logs = {"turns": float(self.turns), "done": float(self.done),
                "truncated": float(bool(self.info.get("truncated_by")))}
        for key in ("tool_calls", "input_tokens", "output_tokens", "cost_usd"):
            if isinstance(usage.get(key), int | float):
                logs[f"budget_{key}"] = float(usage[key])
        verdicts = self.info.get("verdicts") or []
        if verdicts:  # requirements met, out of the requirements (a fault or integrity check "satisfied" is no pass)
            wanted = [v for v in verdicts if (v.get("weight") or 1) > 0]
            logs["verdict_pass_rate"] = sum(v.get("verdict") == "satisfied" for v in wanted) / max(1, len(wanted))
        return logs

    def close(self) -> None:
        if self.env is not None:
            self.pool.give(self.label, self.env)
            self.env = None

    def __del__(self) -> None:  # an episode cut off by the trainer's length limit still returns its env
        try:
            self.close()
        except Exception:
            pass


@dataclass(frozen=True)
class PromptRow:
    """One (task, seed) of a suite: the episode's label and its opening messages (system, question)."""

    kind: str
    label: EpisodeLabel
    prompt: list[dict[str, str]]
    answers: tuple[str, ...] = ()
    """The accepted answers of a deep_search task (informational: the env's judge gives the reward)."""


def iter_prompt_rows(tasks: str, *, split: str = "train", seeds: int = 1, web: str | None = None,
                     env_kwargs: dict[str, Any] | None = None, tokenizer: str | None = None,
                     kinds: tuple[str, ...] = ("deep_search", "deep_research"),
                     for_eval: bool = False) -> Iterator[PromptRow]:
    """The RL prompt rows of a suite or task file, one per (task, seed), read off a real reset of each episode.

    Training uses the 'train' split and refuses 'heldout'; `for_eval` gives evaluation rows (labels with purpose
    'eval'), which may hold held-out tasks. Shared by `export_prompts` and the peer-trainer dataset exports.
    """
    if split == "heldout" and not for_eval:
        raise ConfigError("the held-out split is for evaluation only: rl-data exports 'train' (or 'all' with care), "
                          "or held-out evaluation prompts with for_eval=True (`--eval`)")
    if split == "all" and not for_eval:
        logger.warning("split 'all' puts held-out tasks into training prompts: a held-out evaluation of the trained "
                       "policy is then no longer held out")
    unknown = [kind for kind in kinds if kind not in ENV_IDS]
    if unknown:
        raise ConfigError(f"unknown task kinds {unknown}: expected some of {sorted(ENV_IDS)}")
    import gymnasium as gym

    import drgym  # noqa: F401

    env_kwargs = dict(env_kwargs or {})
    for kind in kinds:
        try:
            env = gym.make(ENV_IDS[kind], tasks=tasks, **({"web": web} if web else {}), **env_kwargs)
        except NoTasksError:  # a suite without tasks of this kind exports none
            continue
        try:
            for task in select_split(env.unwrapped.tasks, split):
                for seed in range(seeds):
                    _, info = env.reset(seed=seed, options={"task_id": task.id})
                    label = EpisodeLabel(task_id=task.id, tasks=tasks, env_id=ENV_IDS[kind], web=web, seed=seed,
                                         env_kwargs=env_kwargs, tokenizer=tokenizer,
                                         purpose="eval" if for_eval else "train")
                    prompt = [{"role": m["role"], "content": m["content"]} for m in info["messages"]]
                    yield PromptRow(kind=kind, label=label, prompt=prompt, answers=tuple(task.answers or ()))
        finally:
            env.close()


def export_prompts(tasks: str, out: str | Path, *, split: str = "train", seeds: int = 1, web: str | None = None,
                   env_kwargs: dict[str, Any] | None = None, tokenizer: str | None = None,
                   kinds: tuple[str, ...] = ("deep_search", "deep_research"), for_eval: bool = False) -> int:
    """Writes the RL prompt dataset for a suite or task file; returns the number of rows.

    Training uses the 'train' split and refuses 'heldout'; `for_eval` writes evaluation prompts (labels with
    purpose 'eval', e.g. for OpenRLHF's eval dataset), which may hold held-out tasks.
    """
    rows = iter_prompt_rows(tasks, split=split, seeds=seeds, web=web, env_kwargs=env_kwargs, tokenizer=tokenizer,
                            kinds=kinds, for_eval=for_eval)
    first = next(rows, None)  # errors in the arguments surface before the file is created
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with out.open("w", encoding="utf-8") as handle:
        for row in ([first] if first is not None else []):
            handle.write(_jsonl_row(row))
            written += 1
        for row in rows:
            handle.write(_jsonl_row(row))
            written += 1
    return written


def _jsonl_row(row: PromptRow) -> str:
    return json.dumps({"prompt": row.prompt, "label": row.label.to_json(), "task_id": row.label.task_id,
                       "kind": row.kind}, ensure_ascii=False) + "\n"
