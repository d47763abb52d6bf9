"""The bottom layer every other layer speaks: the action protocol (parsing and formatting tool calls and answers),
typed tool results, and text clipping. It imports nothing from drgym but `drgym.errors`."""

from drgym.core.protocol import (
    ACTION_FORMAT,
    ParsedAction,
    ToolCall,
    format_answer,
    format_tool_call,
    parse_action,
)
from drgym.core.results import ToolResult

__all__ = ["ACTION_FORMAT", "ParsedAction", "ToolCall", "ToolResult", "format_answer", "format_tool_call",
           "parse_action"]
