"""The difficulty filter: drop the tasks a (weaker) policy already solves, as the seed filters out "simple
problems". It reads trajectories as plain records, so tasks/ needs nothing from agents/."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drgym.core.records import EpisodeRecord
from drgym.tasks.schema import TaskSet

__all__ = ["FilterReport", "drop_solved"]


@dataclass(frozen=True)
class FilterReport:
    kept: int
    dropped: int
    never_tried: int
    """Kept tasks the trajectories never attempted."""


def drop_solved(tasks: TaskSet, records: Iterable[EpisodeRecord], *,
                threshold: float = 1.0) -> tuple[TaskSet, FilterReport]:
    """Keeps the tasks with no finished episode whose reward reaches `threshold`."""
    solved, tried = set(), set()
    for record in records:
        if not record.is_ok:
            continue
        tried.add(record.task_id)
        if record.reward >= threshold:
            solved.add(record.task_id)
    kept = [t for t in tasks if t.id not in solved]
    report = FilterReport(kept=len(kept), dropped=len(tasks) - len(kept),
                          never_tried=sum(1 for t in kept if t.id not in tried))
    return TaskSet(kept, name=f"{tasks.name}-unsolved"), report
