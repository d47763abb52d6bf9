"""Constraint puzzles (BrowseComp / InfoSeek style): an unnamed entity pinned down by several constraints.

Each constraint alone matches many entities of the asked kind (at least `min_candidates`); together they match
exactly one, checked against the graph. The candidate count of every constraint is stored in ``meta``.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from drgym.tasks.families.constraints import Constraint, describe, matches, nice, pages_to_verify, reach
from drgym.tasks.schema import Task
from drgym.tasks.world import ATTRIBUTES, RELATIONS_BY_SOURCE, Entity, World

__all__ = ["KIND_WORD", "PuzzleKnobs", "candidate_constraints", "overlaps", "puzzle_task"]

KIND_WORD = {"organisation": "company", "person": "person", "place": "city", "product": "product",
             "compound": "compound", "regulation": "regulation", "event": "event"}


@dataclass(frozen=True)
class PuzzleKnobs:
    """How hard a puzzle is."""

    min_constraints: int = 3
    max_constraints: int = 5
    min_candidates: int = 4
    """Entities of the asked kind each constraint matches on its own, at least."""
    max_depth: int = 2
    """Relations a constraint may follow from the entity ("its chief executive's place of birth": 2)."""
    max_pages: int = 200
    """Pages that checking every constraint for every entity of the kind reads, at most (`pages_to_verify`):
    keeps a puzzle within the default budget of 60 tool calls of 5 pages each."""


def _paths(world: World, entity: Entity, depth: int) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = [()]
    frontier: list[tuple[tuple[str, ...], Entity]] = [((), entity)]
    for _ in range(depth):
        frontier = [((*path, relation.key), world.entities[end.relations[relation.key]])
                    for path, end in frontier for relation in RELATIONS_BY_SOURCE[end.kind]]
        paths += [path for path, _ in frontier]
    return paths


def _bound(rng: random.Random, value: float, attribute, op: str) -> tuple[str, float, float]:
    """(op, low, high) around `value`, written with the attribute's decimals (the text states the bound exactly)."""
    op, low, high = _raw_bound(rng, value, attribute, op)
    if op == "between" and low <= 0 < attribute.lo:
        op, low, high = "lt", high, 0.0
    return op, round(low, attribute.decimals), round(high, attribute.decimals)


def _raw_bound(rng: random.Random, value: float, attribute, op: str) -> tuple[str, float, float]:
    if attribute.is_year:
        if op == "between":
            return op, value - rng.randint(2, 12), value + rng.randint(2, 12)
        return (op, value - rng.randint(3, 20), 0.0) if op == "gt" else (op, value + rng.randint(3, 20), 0.0)
    span = attribute.hi - attribute.lo
    if op == "between":
        return op, nice(value - abs(value) * rng.uniform(0.2, 0.6) - 0.02 * span, up=False), \
            nice(value + abs(value) * rng.uniform(0.2, 0.8) + 0.02 * span, up=True)
    if op == "gt":
        return op, nice(value - abs(value) * rng.uniform(0.1, 0.7) - 0.01 * span, up=False), 0.0
    return op, nice(value + abs(value) * rng.uniform(0.1, 1.5) + 0.01 * span, up=True), 0.0


def candidate_constraints(world: World, target: Entity, rng: random.Random, *, max_depth: int,
                          with_names: bool = True) -> list[Constraint]:
    """Constraints `target` satisfies: sectors, attribute bounds and names along its relation paths (up to
    `max_depth` hops), and comparisons with other entities of its kind."""
    found: list[Constraint] = []
    for path in _paths(world, target, max_depth):
        end = reach(world, target, path)
        if end.category:
            found.append(Constraint("sector", path, value=end.category))
        if path and with_names:
            found.append(Constraint("is", path, value=end.name))
        for attribute in ATTRIBUTES[end.kind]:
            value = end.current(attribute.key)[1]
            op, low, high = _bound(rng, value, attribute, rng.choice(("gt", "lt", "between")))
            found.append(Constraint("range", path, attribute.key, op, low, high))
    peers = [e for e in world.by_kind(target.kind) if e.id != target.id and not e.twin_of]
    for attribute in ATTRIBUTES[target.kind]:
        if not peers:
            break
        reference = rng.choice(peers)
        mine, theirs = target.current(attribute.key)[1], reference.current(attribute.key)[1]
        if abs(mine - theirs) > 0.05 * max(abs(mine), abs(theirs), 1):
            found.append(Constraint("compare", (), attribute.key, "gt" if mine > theirs else "lt",
                                    value=reference.name))
    return found


def overlaps(one: Constraint, other: Constraint) -> bool:
    """Same constraint, or one names an entity the other then tests (its name already decides the test)."""
    if one == other:
        return True
    for named, tested in ((one, other), (other, one)):
        if named.test == "is" and tested.path[:len(named.path)] == named.path:
            return True
    return False


def puzzle_task(world: World, rng: random.Random, task_id: str, knobs: PuzzleKnobs = PuzzleKnobs()) -> Task | None:
    """A puzzle whose answer is one entity, or None when this draw found no unique set of constraints."""
    kind = rng.choice(sorted({e.kind for e in world.entities.values()}))
    pool = world.by_kind(kind)
    targets = [e for e in pool if not e.twin_of]
    if len(pool) < 3 * knobs.min_candidates or not targets:
        return None
    target = rng.choice(targets)
    options = []
    for constraint in candidate_constraints(world, target, rng, max_depth=knobs.max_depth):
        matched = frozenset(e.id for e in pool if matches(world, e, constraint))
        if target.id in matched and knobs.min_candidates <= len(matched) <= 0.7 * len(pool):
            options.append((constraint, matched))
    rng.shuffle(options)
    options.sort(key=lambda option: -len(option[0].path))  # nested constraints first: the multi-hop part
    chosen: list[tuple[Constraint, frozenset[str]]] = []
    remaining = frozenset(e.id for e in pool)
    for constraint, matched in options:
        if remaining == {target.id}:
            break
        if any(overlaps(constraint, c) for c, _ in chosen):
            continue
        if len(remaining & matched) < len(remaining) and len(chosen) < knobs.max_constraints:
            if sum(len(c.path) > 0 for c, _ in chosen) >= 2 and constraint.path:
                continue  # at most two nested constraints, so the rest pins the entity from other sides
            chosen.append((constraint, matched))
            remaining &= matched
    if remaining != {target.id}:
        return None
    for constraint, matched in options:  # pad to the minimum with further true constraints
        if len(chosen) >= knobs.min_constraints:
            break
        if not any(overlaps(constraint, c) for c, _ in chosen):
            chosen.append((constraint, matched))
    if len(chosen) < knobs.min_constraints:
        return None
    pages = pages_to_verify(world, pool, [c for c, _ in chosen])
    if pages > knobs.max_pages:
        return None
    rng.shuffle(chosen)
    lines = "\n".join(f"- {describe(c)}" for c, _ in chosen)
    question = (f"Identify the {KIND_WORD[kind]} that meets every one of these conditions (figures are the latest "
                f"from authoritative sources):\n{lines}\nAnswer with its name.")
    return Task(id=task_id, kind="deep_search", question=question, answers=target.names,
                meta={"family": "puzzle", "target": target.id, "world_seed": world.seed,
                      "constraints": [dataclasses.asdict(c) for c, _ in chosen],
                      "candidates": [len(m) for _, m in chosen], "pool": len(pool),
                      "depth": max(len(c.path) for c, _ in chosen), "pages_to_verify": pages})
