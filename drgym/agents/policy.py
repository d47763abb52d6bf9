"""The policy protocol and the simplest policies: any callable, and a random tool user."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from drgym.core.protocol import format_answer, format_tool_call

__all__ = ["CallablePolicy", "Policy", "RandomPolicy"]

Message = dict[str, Any]


@runtime_checkable
class Policy(Protocol):
    """Maps the episode so far (OpenAI chat messages) to the next assistant turn: raw text or a message dict."""

    def act(self, messages: list[Message]) -> str | Message: ...


class CallablePolicy:
    """Wraps any function ``messages -> str | dict`` as a policy."""

    def __init__(self, fn: Callable[[list[Message]], str | Message], *, name: str | None = None) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")

    def act(self, messages: list[Message]) -> str | Message:
        return self.fn(messages)


class RandomPolicy:
    """Valid but aimless: random searches with words of the question, random page reads, and an answer drawn
    from the numbers and names it has seen, after a random number of turns."""

    def __init__(self, *, seed: int = 0, max_turns: int = 6) -> None:
        self.rng = random.Random(seed)
        self.max_turns = max_turns

    def act(self, messages: list[Message]) -> str:
        question = messages[1]["content"] if len(messages) > 1 else ""
        seen = " ".join(str(m.get("content") or "") for m in messages[2:])
        turns = sum(m["role"] == "assistant" for m in messages)
        words = [w.strip("?,.") for w in question.split() if len(w) > 3]
        if turns >= self.rng.randint(1, self.max_turns):
            candidates = re.findall(r"\b\d[\d,.]*\b|\b[A-Z][a-z]+(?: [A-Z][a-z]+)?", seen) or words or ["unknown"]
            return format_answer(self.rng.choice(candidates))
        urls = [u for u in seen.split() if u.startswith("https://")]
        if urls and self.rng.random() < 0.4:
            call = {"name": "batch_web_surfer", "arguments": {"urls": [self.rng.choice(urls).rstrip(".,)")]}}
        else:
            query = " ".join(self.rng.sample(words, min(3, len(words)))) if words else "report"
            call = {"name": "batch_web_surfer", "arguments": {"queries": [query]}}
        return format_tool_call(call["name"], call["arguments"])
