"""The tool registry: a name for each tool an environment can offer, and how to build it for one environment.

Built-in tools are registered here; `register_tool` adds one of your own, which environments then offer by name
(``gymnasium.make("drgym/DeepResearch-v1", tools=["batch_web_surfer", "file", "my_tool"])``). A tool is a `Tool`
subclass (its ``run`` signature and docstring are the description and JSON schema the agent sees).
"""

from __future__ import annotations

import difflib
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from drgym.envs.tools.base import Tool, prepare_descriptions
from drgym.envs.tools.file import FileTool
from drgym.envs.tools.image import AnalyzeImage, VisionBackend
from drgym.envs.tools.shell import ShellTool
from drgym.envs.tools.todo import Todo
from drgym.envs.tools.web_surfer import BatchWebSurfer
from drgym.errors import ConfigError

__all__ = ["DEFAULT_TOOLS", "ToolContext", "build_tools", "prepare_built_in_tools", "register_tool", "registered_tools"]

logger = logging.getLogger(__name__)

DEFAULT_TOOLS = ("batch_web_surfer", "todo", "file", "analyze_image")
"""Offered when an env is built without `tools`, plus ``shell`` where bubblewrap and tmux are installed."""


@dataclass(frozen=True)
class ToolContext:
    """What an environment gives a tool factory."""

    web: Any
    """The env's web (`drgym.web.protocol.Web`): search, pages, images."""
    vision: VisionBackend | None = None
    """The analyze_image back-end; None: offline captions and alt text."""
    unsearchable: tuple[str, ...] = ()
    """Url fragments search never returns (link-walk tasks)."""


ToolFactory = Callable[[ToolContext], Tool]

_FACTORIES: dict[str, ToolFactory] = {
    "batch_web_surfer": lambda context: BatchWebSurfer(context.web, unsearchable=context.unsearchable),
    "todo": lambda context: Todo(),
    "file": lambda context: FileTool(),
    "shell": lambda context: ShellTool(),
    "analyze_image": lambda context: AnalyzeImage(context.web.corpus, context.vision),
}


def prepare_built_in_tools() -> None:
    """Builds the built-in tools' argument models and schemas now, once for every environment of this process and
    of the processes forked from it (`prepare_descriptions`)."""
    prepare_descriptions([BatchWebSurfer, Todo, FileTool, ShellTool, AnalyzeImage])


def register_tool(name: str, factory: ToolFactory, *, replace: bool = False) -> None:
    """Makes `name` a tool environments can offer; `factory(context)` builds it for one environment.

    Raises:
        ConfigError: `name` is taken (pass ``replace=True`` to swap a tool on purpose) or not a valid name.
    """
    if not name.replace("_", "").isalnum() or len(name) > 64:
        raise ConfigError(f"tool name {name!r}: use letters, digits and underscores (at most 64 characters)")
    if name in _FACTORIES and not replace:
        raise ConfigError(f"a tool named {name!r} is registered already; pass replace=True to replace it")
    _FACTORIES[name] = factory


def registered_tools() -> list[str]:
    return list(_FACTORIES)


def build_tools(names: Sequence[str] | None, context: ToolContext) -> dict[str, Tool]:
    """The named tools, built for one environment (None: `DEFAULT_TOOLS`, plus the shell where it can run)."""
    if names is None:
        names = list(DEFAULT_TOOLS)
        if shutil.which("bwrap") and shutil.which("tmux"):
            names.append("shell")
        else:
            logger.warning("the shell tool is left out: it needs bubblewrap and tmux "
                           "(sudo apt-get install bubblewrap tmux)")
    if isinstance(names, str):
        raise ConfigError(f"tools must be a list of tool names, got the string {names!r}")
    tools: dict[str, Tool] = {}
    for name in names:
        if name not in _FACTORIES:
            close = difflib.get_close_matches(str(name), _FACTORIES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown tool {name!r}.{hint} Available: {', '.join(_FACTORIES)}")
        tool = _FACTORIES[name](context)
        if not isinstance(tool, Tool):
            raise ConfigError(f"the factory of tool {name!r} returned {type(tool).__name__}, not a drgym Tool")
        tools[name] = tool
    return tools
