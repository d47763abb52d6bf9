"""Tools are typed methods: the signature and Google-style docstring of `run` are the tool description the
agent sees, and the JSON schema its arguments are validated against."""

from __future__ import annotations

import inspect
import json
import re
import typing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import ConfigDict, Field, ValidationError, create_model

__all__ = ["EpisodeState", "Tool", "ToolError"]


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

    @cached_property
    def _docstring(self) -> tuple[str, dict[str, str]]:
        doc = inspect.getdoc(type(self).run) or ""
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
        return summary, described

    @cached_property
    def arguments_model(self):
        hints = typing.get_type_hints(type(self).run)
        _, described = self._docstring
        fields = {}
        for parameter in list(inspect.signature(type(self).run).parameters.values())[2:]:
            default = ... if parameter.default is inspect.Parameter.empty else parameter.default
            fields[parameter.name] = (hints[parameter.name],
                                      Field(default, description=described.get(parameter.name)))
        return create_model(f"{self.name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)

    @cached_property
    def schema(self) -> dict[str, Any]:
        """The tool as an OpenAI function schema."""
        summary, _ = self._docstring
        parameters = self.arguments_model.model_json_schema()
        parameters.pop("title", None)
        for prop in parameters.get("properties", {}).values():
            prop.pop("title", None)
        return {"type": "function", "function": {"name": self.name, "description": summary,
                                                 "parameters": parameters}}

    def hermes_line(self) -> str:
        return json.dumps(self.schema, ensure_ascii=False)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments as typed values; raises ToolError saying what is wrong and the expected form."""
        try:
            model = self.arguments_model.model_validate(arguments)
        except ValidationError as e:
            problems = []
            for error in e.errors():
                where = ".".join(str(part) for part in error["loc"]) or "arguments"
                problems.append(f"argument {where!r}: {error['msg']}")
            expected = json.dumps(self.schema["function"]["parameters"].get("properties", {}), ensure_ascii=False)
            raise ToolError(f"invalid arguments for {self.name}: {'; '.join(problems)}. Expected arguments: "
                            f"{expected}") from None
        return {name: getattr(model, name) for name in type(model).model_fields}
