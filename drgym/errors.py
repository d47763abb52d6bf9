"""drgym's exception hierarchy: every expected failure is a `DrgymError` with a message that names the fix."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CorpusError",
    "DependencyNotInstalled",
    "DrgymError",
    "IngestError",
    "JudgeError",
    "PolicyError",
    "SearchIndexError",
    "TaskFileError",
    "TrainingError",
    "UnknownSuiteError",
]


class DrgymError(Exception):
    """Base class of every error drgym raises on purpose."""


class ConfigError(DrgymError):
    """A configuration value is missing, malformed or inconsistent."""


class NoTasksError(ConfigError):
    """A task set holds no task of the kind an environment plays (e.g. a DeepSearch env over report tasks)."""


class CorpusError(DrgymError):
    """A corpus on disk is missing, unreadable or of the wrong format."""


class IngestError(DrgymError):
    """An ingest source cannot be read at all (single bad records are reported and skipped instead)."""


class JudgeError(DrgymError):
    """A judge cannot grade at all: its endpoint is unreachable or refuses the request."""


class PolicyError(DrgymError):
    """A policy cannot act: its endpoint is unreachable, refuses the request, or answers nonsense."""


class SearchIndexError(DrgymError):
    """A search index is missing, stale or cannot be built."""


class TaskFileError(DrgymError):
    """A task file has a malformed line or field; the message names the file, line and field."""


class TrainingError(DrgymError):
    """Training cannot go on: a loss or gradient is not finite; the message names the step and what to change."""


class UnknownSuiteError(DrgymError):
    """A named task suite does not exist."""


class DependencyNotInstalled(DrgymError):
    """An optional dependency is needed for this feature; the message names the extra to install."""


class LiveWebError(DrgymError):
    """A live-web search or fetch failed (bad key, quota, unreachable, too large, not a page, robots.txt, or a
    replayed request missing from the cassette); the agent sees it as a tool error."""


class EndpointError(DrgymError):
    """An OpenAI-compatible endpoint failed: unreachable, a refused request, a reply that is not a chat completion,
    or transient failures (timeouts, 429/5xx) past the retries; `transient` tells which."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
