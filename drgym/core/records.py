"""The episode record: one JSON line per finished episode in a trajectory file, written by rollouts and read by
SFT export, the difficulty filter, evaluation, costs and replay.

The schema is declared once here (pydantic, unknown keys refused) and every record has every field, whatever the
environment or the outcome, so files of both environments and of failed episodes load as one table
(``datasets.load_dataset("json", ...)``). Values a table cannot type the same way in every file are JSON text:
``env_kwargs``, a message's ``tool_calls``, a tool call's ``arguments``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drgym.errors import ConfigError

__all__ = ["RECORD_VERSION", "CitationStats", "EpisodeRecord", "MessageRecord", "StepRecord", "ToolCallRecord",
           "ToolResultRecord", "VerdictRecord", "read_records"]

RECORD_VERSION = 2
"""2: env_kwargs are JSON that rebuilds the env; steps carry per-call results. 1: env_kwargs were repr text."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolCallRecord(_Record):
    """A tool call the environment ran in a step."""

    name: str
    arguments: str
    """The call's arguments as JSON text."""
    noise: str = ""
    """The injected failure that replaced its result ("" for none)."""
    error: bool = False
    """The tool refused or failed the call."""
    seconds: float = 0.0


class ToolResultRecord(_Record):
    """What the agent was shown for one call (or what the environment itself said)."""

    name: str
    tool_call_id: str = ""
    content: str
    is_error: bool = False


class StepRecord(_Record):
    action: str
    """The assistant's text, or its message dict as JSON text."""
    action_format: Literal["text", "message"] = "text"
    observation: str
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    results: list[ToolResultRecord] = Field(default_factory=list)
    budget_note: str = ""
    policy_s: float = 0.0
    env_s: float = 0.0


class MessageRecord(_Record):
    """A chat message in one shape for every message (tables need one type per column)."""

    role: str
    content: str = ""
    tool_calls: str = ""
    """Native tool calls as JSON text ("" for none)."""
    tool_call_id: str = ""
    reasoning_content: str = ""


class VerdictRecord(_Record):
    id: str
    verdict: str
    evidence: str = ""
    weight: int = 0
    axis: str = ""


class CitationStats(_Record):
    precision: float = 0.0
    recall: float = 0.0
    citations: int = 0
    fabricated: int = 0


class EpisodeRecord(_Record):
    """One finished (or failed) episode."""

    episode_id: str
    """Stable over re-runs of the same (env, env_kwargs, seed, index): what a resumed run skips."""
    index: int
    env_id: str
    task_id: str
    kind: str
    seed: int
    policy: str = ""
    env_kwargs: str = "{}"
    """The ``gymnasium.make`` keyword arguments as JSON text (see `drgym.agents.trajectories.rerun_episode`)."""
    record_version: int = RECORD_VERSION
    drgym_version: str = ""
    tools: list[dict[str, Any]] = Field(default_factory=list)
    """The tools' OpenAI schemas as the episode offered them."""
    status: Literal["ok", "failed"] = "failed"
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    verdicts: list[VerdictRecord] = Field(default_factory=list)
    citations: CitationStats = Field(default_factory=CitationStats)
    submission: str = ""
    """The answer or report as the environment graded it ("" when nothing was submitted)."""
    truncated_by: str = ""
    policy_usage: list[dict[str, Any]] = Field(default_factory=list)
    error: str = ""
    traceback: str = ""
    steps: list[StepRecord] = Field(default_factory=list)
    messages: list[MessageRecord] = Field(default_factory=list)
    usage: dict[str, Any] = Field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def is_ok(self) -> bool:
        return self.status == "ok"

    def line(self) -> str:
        """The record as its trajectory-file line (without the newline)."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False)


def read_records(path: str | Path) -> Iterator[EpisodeRecord]:
    """Every complete episode of a trajectory file, checked against the schema, in the order they finished.

    A torn last line (a crash while writing) is skipped, as by `drgym.agents.trajectories.read_trajectories`.

    Raises:
        ConfigError: a complete line is not a record of this schema (the message names the file, line and field).
    """
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.endswith(b"\n"):
                return
            try:
                yield EpisodeRecord.model_validate_json(raw)
            except ValidationError as e:
                first = e.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "the line"
                raise ConfigError(f"{path}:{number}: field {where!r}: {first['msg']} (not a drgym episode record of "
                                  f"version {RECORD_VERSION})") from None
