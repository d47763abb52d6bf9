"""Temporal questions: who held an office or where a company was based in a given year, values as of a year
(the latest figure reported in or before it), when a change happened, and hops through a past state.

Years asked about lie strictly inside a holder's tenure (never a year of change), so each has one answer.
"""

from __future__ import annotations

import random

from drgym.tasks.families.describe import entity_phrase
from drgym.tasks.schema import Task
from drgym.tasks.world import ATTRIBUTES, Entity, World, format_value

__all__ = ["TEMPORAL_OPERATIONS", "temporal_task"]

TEMPORAL_OPERATIONS = ("holder_in", "value_as_of", "change_year", "past_hop", "value_at_change")
_HOLDER_QUESTIONS = {"ceo": "Who was the chief executive of {org} in {year}?",
                     "headquarters": "In which city was {org} headquartered in {year}?"}
_CHANGE_QUESTIONS = {"ceo": "In which year did {holder} become the chief executive of {org}?",
                     "headquarters": "In which year did {org} move its headquarters to {holder}?"}


def _former_stints(world: World, entity: Entity, key: str) -> list[tuple[str, int, int]]:
    """(holder id, first year asked, last year asked) of each former holder: years strictly inside the tenure."""
    holders = entity.relation_history.get(key, [])
    founded = int(entity.attributes["founded"][0][1])
    stints = []
    for (start, holder), (end, _) in zip(holders, holders[1:]):
        first = max(start, founded, end - 8) + 1
        if first <= end - 1:
            stints.append((holder, first, end - 1))
    return stints


def temporal_task(world: World, rng: random.Random, task_id: str, *, operation: str | None = None) -> Task | None:
    operation = operation or rng.choice(TEMPORAL_OPERATIONS)
    if operation not in TEMPORAL_OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(TEMPORAL_OPERATIONS)}, got {operation!r}")
    changed = sorted((e for e in world.entities.values() if e.relation_history), key=lambda e: e.id)
    meta = {"family": "temporal", "operation": operation, "world_seed": world.seed}
    if operation == "value_as_of":
        return _value_as_of(world, rng, task_id, meta)
    if not changed:
        return None
    org = rng.choice(changed)
    key = rng.choice(sorted(org.relation_history))
    if operation == "holder_in":
        stints = _former_stints(world, org, key)
        if not stints:
            return None
        holder, first, last = rng.choice(stints)
        year = rng.randint(first, last)
        question = _HOLDER_QUESTIONS[key].format(org=org.name, year=year)
        return Task(id=task_id, kind="deep_search", question=question, answers=world.entities[holder].names,
                    meta={**meta, "entity": org.id, "relation": key, "year": year, "hops": 1})
    if operation == "change_year":
        start, holder = rng.choice(org.relation_history[key][1:])
        question = _CHANGE_QUESTIONS[key].format(org=org.name, holder=world.entities[holder].name)
        return Task(id=task_id, kind="deep_search", question=question, answers=[str(start)],
                    meta={**meta, "entity": org.id, "relation": key, "holder": holder, "hops": 1})
    if operation == "past_hop":
        stints = _former_stints(world, org, key)
        if not stints:
            return None
        holder_id, first, last = rng.choice(stints)
        year = rng.randint(first, last)
        holder = world.entities[holder_id]
        attribute = next(a for a in ATTRIBUTES[holder.kind] if not a.deep) if key == "headquarters" else \
            ATTRIBUTES[holder.kind][0]
        _, value = holder.current(attribute.key)
        role = "the city where {org} was headquartered in {year}" if key == "headquarters" else \
            "the person who was chief executive of {org} in {year}"
        latest = "latest " if attribute.dated else ""
        question = f"What is the {latest}{attribute.label} of {role.format(org=org.name, year=year)}?"
        written = format_value(value, attribute, with_unit=False)
        return Task(id=task_id, kind="deep_search", question=question,
                    answers=list(dict.fromkeys([written, written.replace(",", "")])),
                    meta={**meta, "entity": org.id, "relation": key, "year": year, "holder": holder_id, "hops": 2})
    # value_at_change: a figure of the company as of the year its current holder took over
    start = org.relation_history[key][-1][0]
    attribute = rng.choice([a for a in ATTRIBUTES[org.kind] if a.dated])
    point = org.value_as_of(attribute.key, start)
    if point is None or point == org.current(attribute.key):
        return None
    event = "its current chief executive took over" if key == "ceo" else "it moved to its current headquarters"
    question = (f"What was the {attribute.label} of {org.name} as of the year {event}, that is, the latest figure "
                "reported in or before that year?")
    written = format_value(point[1], attribute, with_unit=False)
    return Task(id=task_id, kind="deep_search", question=question,
                answers=list(dict.fromkeys([written, written.replace(",", "")])),
                meta={**meta, "entity": org.id, "relation": key, "year": start, "value_year": point[0], "hops": 2})


def _value_as_of(world: World, rng: random.Random, task_id: str, meta: dict) -> Task | None:
    holders = [(e, a) for e in world.entities.values() if not e.twin_of for a in ATTRIBUTES[e.kind]
               if a.dated and len(e.attributes[a.key]) >= 2]
    entity, attribute = rng.choice(holders)
    history = entity.attributes[attribute.key]
    year = rng.randint(history[0][0], history[-1][0] - 1)
    point = entity.value_as_of(attribute.key, year)
    phrase, hops = entity_phrase(world, entity, rng)
    question = (f"What was the {attribute.label} of {phrase} as of {year}, that is, the latest figure reported in "
                f"or before {year}?")
    written = format_value(point[1], attribute, with_unit=False)
    return Task(id=task_id, kind="deep_search", question=question,
                answers=list(dict.fromkeys([written, written.replace(",", "")])),
                meta={**meta, "entity": entity.id, "attribute": attribute.key, "year": year, "value_year": point[0],
                      "hops": hops + 1})
