"""Tool-error injection: a seeded fraction of web tool calls fail the way real back-ends do, so agents learn
to recover (the seed injects 5-10 % tool errors)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drgym.errors import ConfigError

__all__ = ["NOISY_TOOLS", "NoiseConfig", "inject"]

NOISY_TOOLS = frozenset({"batch_web_surfer", "analyze_image"})
KINDS = ("timeout", "server_error", "empty_result", "truncated")


@dataclass(frozen=True)
class NoiseConfig:
    rate: float = 0.0
    """Share of calls to web tools that fail, in [0, 1)."""
    kinds: tuple[str, ...] = KINDS
    """Which failures to draw from: timeout, server_error, empty_result, truncated."""

    def __post_init__(self) -> None:
        if not 0 <= self.rate < 1:
            raise ConfigError(f"noise rate must be in [0, 1), got {self.rate!r}")
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not self.kinds:
            raise ConfigError(f"noise kinds must be a non-empty subset of {KINDS}, got {self.kinds!r}")


def inject(config: NoiseConfig, tool_name: str, rng: np.random.Generator) -> str | None:
    """The failure kind to apply to this call, or None. Draws from `rng` only for noisy tools."""
    if config.rate == 0 or tool_name not in NOISY_TOOLS:
        return None
    if rng.random() >= config.rate:
        return None
    return str(config.kinds[int(rng.integers(len(config.kinds)))])


def failure_text(kind: str, tool_name: str, output: str, rng: np.random.Generator) -> str:
    """The observation of a failed call; `output` is the real result (used by 'truncated')."""
    if kind == "timeout":
        return f"error: {tool_name} timed out after 30 s; the call can be retried."
    if kind == "server_error":
        return f"error: {tool_name} back-end answered HTTP 503 Service Unavailable; the call can be retried."
    if kind == "empty_result":
        return "no results (the back-end returned an empty response); the call can be retried."
    cut = max(1, int(len(output) * rng.uniform(0.3, 0.6)))
    return output[:cut] + "\n[connection reset: the result was truncated; the call can be retried]"
