"""The two task kinds and the environment that plays each: one table, read by registration, exports, synthesis,
evaluation and the CLI."""

from __future__ import annotations

__all__ = ["ENV_IDS", "TASK_KINDS", "env_id_for"]

TASK_KINDS = ("deep_search", "deep_research")
ENV_IDS = {"deep_search": "drgym/DeepSearch-v1", "deep_research": "drgym/DeepResearch-v1"}
"""Task kind -> Gymnasium id of its environment."""
ENTRY_POINTS = {"drgym/DeepSearch-v1": "drgym.envs.research_env:DeepSearchEnv",
                "drgym/DeepResearch-v1": "drgym.envs.research_env:DeepResearchEnv"}


def env_id_for(kind: str) -> str:
    """The environment id for a task kind; a ValueError names the kinds there are."""
    try:
        return ENV_IDS[kind]
    except KeyError:
        raise ValueError(f"unknown task kind {kind!r}: expected one of {', '.join(TASK_KINDS)}") from None
