"""Task families at the frontier of deep research, each a generator over a world's graph whose answers are
verified against it: constraint puzzles, computation, aggregation, temporal questions (deep_search) and
research requests with intent (deep_research)."""

from __future__ import annotations

import random
from collections.abc import Callable

from drgym.tasks.families.aggregate import aggregate_task
from drgym.tasks.families.compute import compute_task
from drgym.tasks.families.puzzles import PuzzleKnobs, puzzle_task
from drgym.tasks.families.temporal import temporal_task
from drgym.tasks.schema import Task
from drgym.tasks.world import World

__all__ = ["FAMILIES", "PuzzleKnobs", "family_tasks"]

FAMILIES: dict[str, Callable[[World, random.Random, str], Task | None]] = {
    "puzzle": puzzle_task,
    "compute": compute_task,
    "aggregate": aggregate_task,
    "temporal": temporal_task,
}
"""The deep_search families (the deep_research family `intent` is built with the world's statements)."""


def family_tasks(world: World, family: str, count: int, *, seed: int, prefix: str = "",
                 seen_questions: set[str] | None = None) -> list[Task]:
    """`count` tasks of one family (fewer only if the world cannot give that many), ids ``<prefix><family>-NNNN``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}")
    rng = random.Random(f"drgym-family-{family}-{world.seed}-{seed}")
    seen = seen_questions if seen_questions is not None else set()
    tasks: list[Task] = []
    for _attempt in range(count * 50):
        if len(tasks) >= count:
            break
        task = FAMILIES[family](world, rng, f"{prefix}{family}-{len(tasks):04d}")
        if task is not None and task.question not in seen:
            seen.add(task.question)
            tasks.append(task)
    return tasks
