"""What a tool call produced, as a value: the env decides on `is_error`, never on the wording of the text."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ToolResult"]


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call (or of an action that ran no tool).

    The agent reads `text`; the env and the records read the fields. State changes a call asks for (pages
    read, the last result kept for ``save_result``) apply only when `is_error` is false and no injected failure
    replaced the result.
    """

    name: str
    """The tool's name, or "error", "answer" or "budget" for what the env itself says."""
    text: str
    """What the agent sees (errors start with "error: ", the form models are trained on)."""
    call_id: str | None = None
    """The tool-call id of a native (OpenAI-style) call; None for text-form calls."""
    is_error: bool = False
    """The call was refused or failed: unknown tool, bad arguments, a tool error, an injected failure."""
    noise: str | None = None
    """The kind of injected failure that replaced the result (see envs/noise.py), if any."""

    @classmethod
    def error(cls, text: str, *, name: str = "error", call_id: str | None = None,
              noise: str | None = None) -> ToolResult:
        """A failed call; `text` is the explanation without the "error: " prefix."""
        return cls(name=name, text=f"error: {text}", call_id=call_id, is_error=True, noise=noise)
