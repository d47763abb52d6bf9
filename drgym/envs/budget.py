"""Budgets the environment enforces: tool calls, turns, tokens, seconds and cost, with a price table."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drgym.errors import ConfigError

__all__ = ["Budget", "BudgetTracker", "PriceTable", "count_tokens_default"]


@dataclass(frozen=True)
class Budget:
    """Limits of one episode; ``None`` = unlimited. Hitting any one truncates the episode."""

    max_tool_calls: int | None = 60
    """Tool calls, each call of a batch counted: every call the action wrote, whether it ran, named an unknown
    tool, had invalid arguments or was refused unrun (malformed JSON, an unclosed tag, a batch over the limit or
    beside an answer, or calls left when a budget ran out mid-batch)."""
    max_turns: int | None = 30
    """Assistant turns (actions), malformed ones included."""
    max_tokens: int | None = None
    """Action plus observation tokens."""
    max_seconds: float | None = None
    """Wall time from reset. It bounds a call while it runs: a tool's timeout is at most the time left (the
    shell stops its command; a vision request is cut), and no call starts once it is spent."""
    max_cost_usd: float | None = None
    """Cost under the price table."""

    def __post_init__(self) -> None:
        for name in ("max_tool_calls", "max_turns", "max_tokens", "max_seconds", "max_cost_usd"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"Budget.{name} must be positive or None (unlimited), got {value!r}")


@dataclass(frozen=True)
class PriceTable:
    """Prices that turn usage into cost."""

    usd_per_1k_input_tokens: float = 0.0
    """Observation tokens (what the policy reads)."""
    usd_per_1k_output_tokens: float = 0.0
    """Action tokens (what the policy writes)."""
    usd_per_tool_call: dict[str, float] = field(default_factory=lambda: {"batch_web_surfer": 0.001})
    """Per call of each tool (a search API's price, say); tools not listed are free."""

    def token_cost(self, input_tokens: float, output_tokens: float) -> float:
        """What reading `input_tokens` and writing `output_tokens` cost: the one token-cost formula of drgym (the
        budget, the endpoint policy's usage and the evaluation's cost model all use it)."""
        return input_tokens / 1000 * self.usd_per_1k_input_tokens + output_tokens / 1000 * self.usd_per_1k_output_tokens

    def tool_cost(self, calls: dict[str, int]) -> float:
        """What the tool calls cost (name -> number of calls; tools not in the table are free)."""
        return sum(n * self.usd_per_tool_call.get(name, 0.0) for name, n in calls.items())


def count_tokens_default(text: str) -> int:
    """About 4 characters per token (the usual English estimate) when no tokenizer is given."""
    return math.ceil(len(text) / 4)


class BudgetTracker:
    """Counts an episode's usage against a `Budget`."""

    def __init__(self, budget: Budget, prices: PriceTable, tokenizer: Any = None, *,
                 started: float | None = None) -> None:
        self.budget = budget
        self.prices = prices
        self.count_tokens = _token_counter(tokenizer)
        self.tool_calls = 0
        self.turns = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.started = time.monotonic() if started is None else started
        """`time.monotonic()` at reset."""

    def charge_action(self, text: str) -> None:
        self.turns += 1
        tokens = self.count_tokens(text)
        self.output_tokens += tokens
        self.cost_usd += self.prices.token_cost(0, tokens)

    def charge_observation(self, text: str) -> None:
        tokens = self.count_tokens(text)
        self.input_tokens += tokens
        self.cost_usd += self.prices.token_cost(tokens, 0)

    def charge_tool(self, name: str) -> None:
        """A call that runs: counted, and priced by the tool's entry in the price table."""
        self.tool_calls += 1
        self.cost_usd += self.prices.tool_cost({name: 1})

    def charge_unrun_calls(self, count: int) -> None:
        """Calls the action wrote that did not run (unknown tool, malformed, refused): counted, not priced,
        since no back-end was paid for them."""
        self.tool_calls += count

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def exhausted(self) -> str | None:
        """The name of the first limit reached, or None."""
        budget = self.budget
        if budget.max_turns is not None and self.turns >= budget.max_turns:
            return "max_turns"
        if budget.max_tool_calls is not None and self.tool_calls >= budget.max_tool_calls:
            return "max_tool_calls"
        if budget.max_tokens is not None and self.input_tokens + self.output_tokens >= budget.max_tokens:
            return "max_tokens"
        if budget.max_cost_usd is not None and self.cost_usd >= budget.max_cost_usd:
            return "max_cost_usd"
        if budget.max_seconds is not None and self.elapsed_s >= budget.max_seconds:
            return "max_seconds"
        return None

    def remaining(self) -> dict[str, float | int | None]:
        """What is left of each limit (None = unlimited). Seconds are whole, so equal steps give equal info."""
        budget = self.budget

        def left(limit, used):
            return None if limit is None else max(0, limit - used)

        return {"tool_calls": left(budget.max_tool_calls, self.tool_calls),
                "turns": left(budget.max_turns, self.turns),
                "tokens": left(budget.max_tokens, self.input_tokens + self.output_tokens),
                "cost_usd": None if budget.max_cost_usd is None else round(max(0.0, budget.max_cost_usd - self.cost_usd), 4),
                "seconds": None if budget.max_seconds is None else int(max(0.0, budget.max_seconds - self.elapsed_s))}

    def usage(self) -> dict[str, float | int]:
        return {"tool_calls": self.tool_calls, "turns": self.turns, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "cost_usd": round(self.cost_usd, 6)}

    def describe(self) -> str:
        """One line for the agent: what is left."""
        parts = [f"{name.replace('_', ' ')} {value}" for name, value in self.remaining().items() if value is not None]
        return "Budget left: " + (", ".join(parts) if parts else "unlimited") + "."


def _token_counter(tokenizer: Any) -> Callable[[str], int]:
    if tokenizer is None:
        return count_tokens_default
    if hasattr(tokenizer, "encode"):
        if _accepts_special(tokenizer):  # Hugging Face: count the text's own tokens, not BOS/EOS
            return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
        return lambda text: len(tokenizer.encode(text))
    if callable(tokenizer):
        return lambda text: int(tokenizer(text))
    raise ConfigError(f"tokenizer must be a Hugging Face tokenizer (with .encode) or a callable text -> int, "
                      f"got {type(tokenizer).__name__}")


def _accepts_special(tokenizer: Any) -> bool:
    try:
        tokenizer.encode("", add_special_tokens=False)
        return True
    except TypeError:
        return False
