"""The environments' tools, one module per tool; `base` holds the `Tool` class they share."""

from drgym.envs.tools.base import EpisodeState, Tool, ToolError
from drgym.envs.tools.file import FileTool
from drgym.envs.tools.image import AnalyzeImage
from drgym.envs.tools.registry import DEFAULT_TOOLS, ToolContext, build_tools, register_tool, registered_tools
from drgym.envs.tools.shell import ShellTool
from drgym.envs.tools.todo import Todo
from drgym.envs.tools.web_surfer import BatchWebSurfer

__all__ = ["DEFAULT_TOOLS", "AnalyzeImage", "BatchWebSurfer", "EpisodeState", "FileTool", "ShellTool", "Todo", "Tool",
           "ToolContext", "ToolError", "build_tools", "register_tool", "registered_tools"]
