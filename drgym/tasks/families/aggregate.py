"""Aggregation questions (broad horizontal search): counts, the largest or smallest, and lists over every entity
of a kind that meets some conditions — sets that span many pages.

Grading: a count is an exact number; the largest/smallest is a name; a list is a set answer correct when its F1
against the gold set reaches `LIST_MIN_F1` (0.8: one slip in five members).
"""

from __future__ import annotations

import dataclasses
import random

from drgym.rewards.answer import numeric_answer, set_answer
from drgym.tasks.families.constraints import describe, matches, pages_to_verify
from drgym.tasks.families.puzzles import KIND_WORD, candidate_constraints, overlaps
from drgym.tasks.render import KIND_PLURAL
from drgym.tasks.schema import Task
from drgym.tasks.world import ATTRIBUTES, World

__all__ = ["AGGREGATIONS", "LIST_MIN_F1", "aggregate_task"]

AGGREGATIONS = ("count", "argmax", "argmin", "list")
LIST_MIN_F1 = 0.8
_MARGIN = 0.03
"""The largest (smallest) value is at least 3 % clear of the next, far outside any reading error."""


def aggregate_task(world: World, rng: random.Random, task_id: str, *, aggregation: str | None = None,
                   max_depth: int = 1, max_pages: int = 200) -> Task | None:
    """A question over the set of entities of one kind meeting 1-2 conditions, or None when this draw does not fit."""
    aggregation = aggregation or rng.choice(AGGREGATIONS)
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    if aggregation == "count":
        # the answer is drawn first and the conditions until they fit it: left to the draws, small sets came up
        # most, and answering "2" to every count question scored 0.26 (a white-box adversary, 961 fresh questions)
        target = rng.randint(*_COUNT_RANGE)
        for _ in range(_COUNT_TRIES):
            task = _aggregate_draw(world, rng, task_id, aggregation, max_depth, max_pages)
            if task is not None and len(task.meta["members"]) == target:
                return task
        return None
    return _aggregate_draw(world, rng, task_id, aggregation, max_depth, max_pages)


_COUNT_RANGE = (2, 12)
"""The answers of count questions, drawn uniformly."""
_COUNT_TRIES = 150
"""Draws of conditions for one count question's answer (the family's caller then draws another answer)."""


def _aggregate_draw(world: World, rng: random.Random, task_id: str, aggregation: str, max_depth: int,
                    max_pages: int) -> Task | None:
    kind = rng.choice(sorted({e.kind for e in world.entities.values()}))
    pool = world.by_kind(kind)
    seed = rng.choice(pool)
    options = [c for c in candidate_constraints(world, seed, rng, max_depth=max_depth) if c.test != "compare"]
    constraints = rng.sample(options, min(len(options), rng.choice((1, 2, 2))))
    if len(constraints) == 2 and overlaps(*constraints):
        constraints = constraints[:1]
    members = [e for e in pool if all(matches(world, e, c) for c in constraints)]
    pages = pages_to_verify(world, pool, constraints)
    if pages > max_pages:  # beyond what the default budget reads (`PuzzleKnobs.max_pages`)
        return None
    lines = "\n".join(f"- {describe(c)}" for c in constraints)
    plural = KIND_PLURAL[kind]
    meta = {"family": "aggregate", "aggregation": aggregation, "world_seed": world.seed,
            "constraints": [dataclasses.asdict(c) for c in constraints], "members": sorted(e.id for e in members),
            "pool": len(pool), "pages_to_verify": pages}
    if len(members) > 0.5 * len(pool):
        return None
    if aggregation == "count":
        if not _COUNT_RANGE[0] <= len(members) <= _COUNT_RANGE[1]:
            return None
        question = (f"How many {plural} meet every one of these conditions (figures are the latest from "
                    f"authoritative sources)?\n{lines}\nAnswer with a number.")
        return Task(id=task_id, kind="deep_search", question=question,
                    answers=[numeric_answer(len(members), decimals=0, tolerance=0)], meta=meta)
    if aggregation == "list":
        if not 2 <= len(members) <= 8:
            return None
        question = (f"List every {KIND_WORD[kind]} that meets all of these conditions (figures are the latest from "
                    f"authoritative sources):\n{lines}\nAnswer with their names, separated by semicolons.")
        return Task(id=task_id, kind="deep_search", question=question,
                    answers=[set_answer([e.names for e in members], min_f1=LIST_MIN_F1)],
                    meta={**meta, "min_f1": LIST_MIN_F1})
    if len(members) < 3:
        return None
    attribute = rng.choice(ATTRIBUTES[kind])
    ranked = sorted(members, key=lambda e: e.current(attribute.key)[1], reverse=aggregation == "argmax")
    first, second = ranked[0].current(attribute.key)[1], ranked[1].current(attribute.key)[1]
    if abs(first - second) <= _MARGIN * max(abs(first), abs(second)) or (attribute.is_year and first == second):
        return None
    extreme = ("latest" if aggregation == "argmax" else "earliest") if attribute.is_year else \
        ("largest" if aggregation == "argmax" else "smallest")
    question = (f"Of the {plural} that meet every one of these conditions, which has the {extreme} {attribute.label} "
                f"(figures are the latest from authoritative sources)?\n{lines}\nAnswer with its name.")
    return Task(id=task_id, kind="deep_search", question=question, answers=ranked[0].names,
                meta={**meta, "attribute": attribute.key})
