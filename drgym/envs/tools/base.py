"""Tools are typed methods: the signature and Google-style docstring of `run` are the tool description the
agent sees, and the JSON schema its arguments are validated against."""

from __future__ import annotations

import inspect
import json
import os
import re
import time
import typing
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import ConfigDict, Field, ValidationError, create_model

from drgym.core.clipping import preview

__all__ = ["DEFAULT_WORKSPACE_QUOTA_MB", "EpisodeState", "MAX_WORKSPACE_ENTRIES", "Tool", "ToolError",
           "prepare_descriptions", "workspace_usage"]

DEFAULT_WORKSPACE_QUOTA_MB = 256
"""Disk an episode's workspace may use (files and folders, as allocated on disk)."""
MAX_WORKSPACE_ENTRIES = 100_000
"""Files and folders a workspace may hold; counted with the quota, so a swarm of empty files is refused too."""
MAX_PROBLEMS_SHOWN = 5


class ToolError(Exception):
    """A tool call the agent can fix: its message goes back to the agent as the observation."""


@dataclass
class EpisodeState:
    """What the tools of one episode share."""

    workspace: Path
    rng: np.random.Generator
    todos: list[dict[str, Any]] = field(default_factory=list)
    visited_urls: list[str] = field(default_factory=list)
    """Pages opened with browse, in order."""
    seen_urls: set[str] = field(default_factory=set)
    """Pages returned by search."""
    last_result: str = ""
    """The previous tool result (for file save_result)."""
    seen_image_hashes: dict[str, str] = field(default_factory=dict)
    deadline: float | None = None
    """`time.monotonic()` when the episode's `max_seconds` runs out; None = no time limit."""
    quota_bytes: int = DEFAULT_WORKSPACE_QUOTA_MB * 2**20
    """Disk the workspace may use."""

    def seconds_left(self) -> float | None:
        """Time left before the deadline (0 when spent), or None without a time limit."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())


def workspace_usage(workspace: Path, *, stop_bytes: int | None = None) -> tuple[int, int]:
    """(bytes allocated on disk, entries) under `workspace`, without following symbolic links.

    Counting stops early past `stop_bytes` or `MAX_WORKSPACE_ENTRIES` (the answer is then "over"), so a full
    workspace is never walked in full on every check.
    """
    used, entries = 0, 0
    stack = [os.fspath(workspace)]
    while stack:
        try:
            iterator = os.scandir(stack.pop())
        except OSError:  # removed while walking, or unreadable: nothing to count
            continue
        with iterator:
            for entry in iterator:
                entries += 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                used += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                if entries > MAX_WORKSPACE_ENTRIES or (stop_bytes is not None and used > stop_bytes):
                    return used, entries
    return used, entries


class Tool:
    """Base class: subclasses set `name` and define ``run(self, state, *, arg: type = default, ...) -> str``."""

    name: ClassVar[str]

    def run(self, state: EpisodeState, **arguments: Any) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def reset(self, state: EpisodeState) -> None:
        """Called at the start of every episode."""

    def close(self) -> None:
        """Called when the environment closes."""

    # -- description and schema, from `run` -----------------------------------------------------------

    @property
    def arguments_model(self):
        """The pydantic model of the arguments, shared by every tool of this class and name."""
        return _description(type(self), self.name)[0]

    @cached_property
    def schema(self) -> dict[str, Any]:
        """The tool as an OpenAI function schema (this tool's own copy: changing it changes no other tool)."""
        # parsed from the shared JSON text: a deep copy of the shared dict would write the reference count of each
        # of its objects, and so copy their pages in every process forked after it was built
        return json.loads(_description(type(self), self.name)[2])

    def hermes_line(self) -> str:
        if "schema" not in self.__dict__:  # nobody has this tool's copy (or changed it): the shared text is the same
            return _description(type(self), self.name)[2]
        return json.dumps(self.schema, ensure_ascii=False)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments as typed values; raises ToolError saying what is wrong and the expected form."""
        try:
            model = self.arguments_model.model_validate(arguments)
        except ValidationError as e:
            problems = []
            errors = e.errors(include_input=False, include_url=False)
            for error in errors[:MAX_PROBLEMS_SHOWN]:  # an argument name is agent input: previewed, never echoed
                where = ".".join(str(part) if isinstance(part, int) else part for part in error["loc"]) or "arguments"
                problems.append(f"argument {preview(where, 60)}: {error['msg']}")
            if len(errors) > MAX_PROBLEMS_SHOWN:
                problems.append(f"and {len(errors) - MAX_PROBLEMS_SHOWN:,} more problems")
            expected = json.dumps(self.schema["function"]["parameters"].get("properties", {}), ensure_ascii=False)
            raise ToolError(f"invalid arguments for {self.name}: {'; '.join(problems)}. Expected arguments: "
                            f"{expected}") from None
        return {name: getattr(model, name) for name in type(model).model_fields}


_DESCRIPTIONS: weakref.WeakKeyDictionary[type, dict[str, tuple]] = weakref.WeakKeyDictionary()
"""Per tool class and name: the arguments model and the schema, built once per process.
Building the models runs through much of pydantic (8 ms for the built-in tools): in a forked rollout worker that
copied ~3.5 MiB of the pages it shared with its zygote, so the zygote builds them for all its workers
(`prepare_descriptions`)."""


def _description(tool_class: type[Tool], name: str) -> tuple[Any, dict[str, Any], str]:
    """(arguments model, schema, schema as JSON text) of the tools of `tool_class` named `name`, from its ``run``
    method."""
    by_name = _DESCRIPTIONS.setdefault(tool_class, {})
    if name not in by_name:
        doc = inspect.getdoc(tool_class.run) or ""
        summary = doc.split("\n\nArgs:")[0].strip()
        described: dict[str, str] = {}
        args_block = re.search(r"Args:\n(.*?)(?:\n\S|\Z)", doc, re.DOTALL)
        if args_block:
            current = None
            for line in args_block.group(1).splitlines():
                match = re.match(r"\s{4}(\w+):\s*(.*)", line)
                if match:
                    current = match.group(1)
                    described[current] = match.group(2).strip()
                elif current and line.strip():
                    described[current] += " " + line.strip()
        hints = typing.get_type_hints(tool_class.run)
        fields: dict[str, Any] = {}
        for parameter in list(inspect.signature(tool_class.run).parameters.values())[2:]:
            default = ... if parameter.default is inspect.Parameter.empty else parameter.default
            fields[parameter.name] = (hints[parameter.name], Field(default, description=described.get(parameter.name)))
        model = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        parameters = model.model_json_schema()
        parameters.pop("title", None)
        for prop in parameters.get("properties", {}).values():
            prop.pop("title", None)
        schema = {"type": "function", "function": {"name": name, "description": summary, "parameters": parameters}}
        by_name[name] = (model, schema, json.dumps(schema, ensure_ascii=False))
    return by_name[name]


def prepare_descriptions(tool_classes: Iterable[type[Tool]]) -> None:
    """Builds the arguments models and schemas of `tool_classes` now (by their class `name`): a process that
    forks workers builds them once for all of them."""
    for tool_class in tool_classes:
        _description(tool_class, tool_class.name)
