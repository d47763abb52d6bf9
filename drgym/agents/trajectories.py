"""Trajectory files: one JSON object per finished episode, appended, flushed and fsynced.

A crash can leave at most a torn last line; `read_trajectories` skips it (and `repair` cuts it off before a
resumed run appends), so a file always reads back as whole episodes. The files also load with
``datasets.load_dataset("json", data_files=path)``.

A record holds what is needed to play its episode again: ``env_id``, ``env_kwargs`` (JSON, see
`env_kwargs_to_json`), ``seed``, ``task_id``, ``policy`` and the actions in ``steps``; `rerun_episode` rebuilds the
environment from it, replays the actions and reports the first step whose observation or reward differs.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drgym.core.records import RECORD_VERSION, EpisodeRecord, StepRecord
from drgym.errors import ConfigError

__all__ = ["NOT_JSON", "RECORD_VERSION", "Divergence", "RerunResult", "TrajectoryWriter", "env_kwargs_from_record",
           "env_kwargs_to_json", "read_trajectories", "repair", "rerun_episode"]

NOT_JSON = "__not_json__"
"""Marks a keyword argument that has no JSON form: ``{"__not_json__": {"type": ..., "repr": ..., "reason": ...}}``.
An episode whose ``env_kwargs`` hold one cannot be rebuilt from its record."""
MAX_KWARG_DEPTH = 32
"""Deepest nesting of containers in an env keyword argument that is written as JSON."""
SECRET_FIELDS = frozenset({"api_key"})
"""Fields never written to a trajectory file (an endpoint's key); recorded as not rebuildable."""
# configuration dataclasses the environments also accept as a dict of their fields (ResearchEnv's arguments)
_CONFIG_TYPES = ("Budget", "PriceTable", "NoiseConfig", "LLMJudgeConfig", "VisionBackend")
_MAX_REPR_CHARS = 200
_MAX_DIFF_CHARS = 600


def env_kwargs_to_json(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``gymnasium.make`` as JSON values that rebuild the same environment.

    Strings, numbers, booleans, None, lists and dicts are kept (tuples become lists, paths strings, the
    configuration dataclasses `Budget`, `PriceTable`, `NoiseConfig`, `LLMJudgeConfig` and `VisionBackend` the dict
    of their fields, which the environments accept in their place). Anything else (a `TaskSet` or a world object,
    a judge instance, a tokenizer, a callable), a non-finite float, a dict with non-string keys, nesting deeper
    than `MAX_KWARG_DEPTH` and an ``api_key`` become ``{"__not_json__": {...}}`` with the type, a short repr and
    the reason: the record still says what was passed, and `rerun_episode` refuses it naming the key.
    """
    return _to_json(dict(env_kwargs), 0)


def _not_json(value: Any, reason: str) -> dict[str, Any]:
    text = repr(value) if not isinstance(value, str) else "<not recorded>"
    if len(text) > _MAX_REPR_CHARS:
        text = text[:_MAX_REPR_CHARS] + "…"
    kind = type(value)
    return {NOT_JSON: {"type": f"{kind.__module__}.{kind.__qualname__}", "repr": text, "reason": reason}}


def _to_json(value: Any, depth: int) -> Any:
    if depth > MAX_KWARG_DEPTH:
        return _not_json(value, f"nested deeper than {MAX_KWARG_DEPTH} levels")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _not_json(value, "a non-finite number has no JSON form")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return _not_json(value, "a dict with keys that are not strings has no JSON form")
        return {key: _not_json(item, "secrets are not written to trajectory files") if key in SECRET_FIELDS
                and item is not None else _to_json(item, depth + 1) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and type(value).__name__ in _CONFIG_TYPES \
            and type(value).__module__.startswith("drgym."):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _to_json(fields, depth)
    reason = "a callable has no JSON form" if callable(value) else f"a {type(value).__name__} object has no JSON form"
    return _not_json(value, reason)


def _not_json_paths(value: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """(dotted key, marker) of every value recorded as not JSON."""
    if isinstance(value, dict):
        if set(value) == {NOT_JSON}:
            return [(path, value[NOT_JSON])]
        return [hit for key, item in value.items() for hit in _not_json_paths(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [hit for i, item in enumerate(value) for hit in _not_json_paths(item, f"{path}[{i}]")]
    return []


def env_kwargs_from_record(record: EpisodeRecord | dict[str, Any]) -> dict[str, Any]:
    """The ``gymnasium.make`` keyword arguments of a record, checked to rebuild its environment.

    Raises:
        ConfigError: the record predates JSON ``env_kwargs``, or one of them was recorded as not JSON (the
            message names the key and says what to pass instead).
    """
    if isinstance(record, EpisodeRecord):
        record = record.model_dump(include={"index", "record_version", "env_kwargs", "drgym_version"})
    version = record.get("record_version", 1)
    env_kwargs = record.get("env_kwargs")
    if isinstance(env_kwargs, str) and isinstance(version, int) and version >= RECORD_VERSION:
        try:
            env_kwargs = json.loads(env_kwargs)
        except json.JSONDecodeError as e:
            raise ConfigError(f"episode {record.get('index')!r}: field 'env_kwargs' is not JSON ({e})") from None
    if not isinstance(version, int) or version < RECORD_VERSION:
        raise ConfigError(f"episode {record.get('index')!r} was recorded by drgym {record.get('drgym_version', '?')} "
                          f"(record_version {version!r}), which stored env_kwargs as repr text: its environment "
                          "cannot be rebuilt; record the episode again with this drgym")
    if not isinstance(env_kwargs, dict):
        raise ConfigError(f"episode {record.get('index')!r}: field 'env_kwargs' must hold a JSON object, got "
                          f"{type(env_kwargs).__name__}")
    hits = _not_json_paths(env_kwargs, "env_kwargs")
    if hits:
        key, marker = hits[0]
        raise ConfigError(f"episode {record.get('index')!r} cannot be rebuilt: {key} was a {marker.get('type')} "
                          f"({marker.get('reason')}; recorded as {marker.get('repr')!r}). Roll it out again with a "
                          "JSON value there (a suite name or task file for tasks=, a folder for web=, a dict for "
                          "a config)" + (f"; {len(hits) - 1} more such key(s)" if len(hits) > 1 else ""))
    return env_kwargs


@dataclass(frozen=True)
class Divergence:
    """The first place a re-run differs from its record."""

    step: int
    """1-based step number (0: the reset)."""
    field: str
    """What differs: "observation", "reward", "terminated", "truncated", "prompt" (the reset's messages) or
    "steps" (the re-run ended before the recorded actions did)."""
    recorded: str
    rerun: str
    diff: str
    """A short unified diff of the two (observations), or the two values."""

    def __str__(self) -> str:
        return f"step {self.step}: {self.field} differs\n{self.diff}"


@dataclass(frozen=True)
class RerunResult:
    """What `rerun_episode` found."""

    index: int
    task_id: str
    steps_replayed: int
    """Recorded actions played before the end or the first divergence."""
    steps_recorded: int
    reward: float | None
    """The re-run's reward at its last step (None when no step was played)."""
    divergence: Divergence | None
    """None when every observation, the reward and the episode end matched the record."""

    @property
    def matches(self) -> bool:
        return self.divergence is None


def _short_diff(recorded: str, rerun: str) -> str:
    lines = list(difflib.unified_diff(recorded.splitlines(), rerun.splitlines(), "recorded", "rerun", n=1,
                                      lineterm=""))
    text = "\n".join(lines) if lines else f"recorded: {recorded!r}\nrerun:    {rerun!r}"
    return text if len(text) <= _MAX_DIFF_CHARS else text[:_MAX_DIFF_CHARS] + "\n[…]"


def _recorded_action(step: StepRecord, number: int) -> str | dict[str, Any]:
    action = step.action
    if step.action_format == "message":  # an OpenAI assistant message, stored as JSON text
        try:
            message = json.loads(action)
        except json.JSONDecodeError as e:
            raise ConfigError(f"step {number}: action_format is 'message' but its action is not JSON ({e})") from None
        if not isinstance(message, dict):
            raise ConfigError(f"step {number}: a 'message' action must be a JSON object")
        return message
    return action


def rerun_episode(record: EpisodeRecord | dict[str, Any]) -> RerunResult:
    """Rebuilds the record's environment, resets it with the record's seed and task, and plays its actions.

    Each step's observation, and at the end the reward and how the episode ended, are compared with the record;
    the first difference is reported (step number and a short diff) and the re-run stops there. A failed
    episode is replayed as far as it was recorded.

    Raises:
        ConfigError: the record is not an `EpisodeRecord` (the message names the field), or its environment
            cannot be rebuilt (`env_kwargs_from_record`).
    """
    import gymnasium as gym
    from pydantic import ValidationError

    import drgym.envs  # noqa: F401 - registers the environments

    if not isinstance(record, EpisodeRecord):
        try:
            record = EpisodeRecord.model_validate(record)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the record"
            index = record.get("index") if isinstance(record, dict) else None
            raise ConfigError(f"episode {index!r}: field {where!r}: {first['msg']}; is this a drgym trajectory "
                              "record?") from None
    env_kwargs = env_kwargs_from_record(record)
    steps, index = record.steps, record.index
    try:
        env = gym.make(record.env_id, **env_kwargs)
    except gym.error.Error as e:
        raise ConfigError(f"episode {index!r}: cannot make {record.env_id!r}: {e}") from e

    def result(played: int, reward: float | None, divergence: Divergence | None) -> RerunResult:
        return RerunResult(index=index, task_id=record.task_id, steps_replayed=played,
                           steps_recorded=len(steps), reward=reward, divergence=divergence)

    try:
        _, info = env.reset(seed=record.seed, options={"task_id": record.task_id})
        prompt = [m.get("content") or "" for m in info["messages"]]
        recorded_prompt = [m.content for m in record.messages[:len(prompt)]]
        if record.messages and prompt != recorded_prompt:
            first = next(i for i, (a, b) in enumerate(zip(recorded_prompt + [""] * len(prompt), prompt)) if a != b)
            recorded, rerun = recorded_prompt[first] if first < len(recorded_prompt) else "", prompt[first]
            return result(0, None, Divergence(0, "prompt", recorded, rerun, _short_diff(recorded, rerun)))
        reward: float | None = None
        terminated = truncated = False
        for number, step in enumerate(steps, start=1):
            if terminated or truncated:
                return result(number - 1, reward, Divergence(number, "steps", f"{len(steps)} steps",
                                                             f"ended after {number - 1}",
                                                             f"the re-run ended after step {number - 1}; "
                                                             f"the record has {len(steps)} steps"))
            observation, reward, terminated, truncated, info = env.step(_recorded_action(step, number))
            recorded = step.observation
            if observation != recorded:
                return result(number, float(reward), Divergence(number, "observation", recorded, observation,
                                                                _short_diff(recorded, observation)))
        if record.is_ok and steps:
            for name, value in (("reward", float(reward)), ("terminated", terminated), ("truncated", truncated)):
                expected = getattr(record, name)
                if value != expected:
                    return result(len(steps), float(reward), Divergence(
                        len(steps), name, repr(expected), repr(value), f"recorded: {expected!r}\nrerun:    {value!r}"))
        return result(len(steps), None if reward is None else float(reward), None)
    finally:
        env.close()



def read_trajectories(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every complete episode in the file, in the order they finished."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.endswith(b"\n"):
                return  # a torn last line: the episode never finished writing
            try:
                yield json.loads(raw)
            except json.JSONDecodeError:
                continue


def repair(path: str | Path) -> int:
    """Cuts a torn last line off the file; returns the number of bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut == len(data):
        return 0
    with path.open("r+b") as handle:
        handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())
    return len(data) - cut


class TrajectoryWriter:
    """Appends episodes durably: each line is flushed and fsynced before `write` returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair(self.path)
        self._handle = self.path.open("ab")

    def write(self, record: EpisodeRecord | dict[str, Any]) -> None:
        """Appends `record`, checked against `EpisodeRecord` first (a record of another shape is a bug here)."""
        if not isinstance(record, EpisodeRecord):
            record = EpisodeRecord.model_validate(record)
        line = json.dumps(record.model_dump(mode="python"), ensure_ascii=False, default=str)
        self._handle.write(line.encode("utf-8") + b"\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
