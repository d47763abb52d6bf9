"""Computation questions (DrBencher style): find the values, then compute — growth rates, differences, ratios,
sums, unit conversions and intervals, the gold figure computed by code over the graph. Some growth and difference
questions need a figure that only a chart states (`chart_compute_task`).

The tolerance comes from the inputs' precision: each input as written is exact to half a unit of its last
digit, and that error, carried through the formula (first-order), is added to half a unit of the decimal
places the question asks for. The answer is ``numeric_answer(value, tolerance=…)``: correct within it.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping

from drgym.rewards.answer import numeric_answer
from drgym.tasks.families.describe import entity_phrase
from drgym.tasks.schema import Task
from drgym.tasks.world import ATTRIBUTES, Attribute, Entity, World, format_value

__all__ = ["CONVERSIONS", "OPERATIONS", "chart_compute_task", "compute_task"]

OPERATIONS = ("growth", "difference", "ratio", "sum", "convert", "interval")
CONVERSIONS: dict[str, tuple[str, float, float, int]] = {
    # attribute -> (unit asked for, factor, offset, decimal places asked)
    "area_km2": ("square miles", 1 / 2.589988110336, 0.0, 2),
    "melting_point_c": ("degrees Fahrenheit", 1.8, 32.0, 2),
    "revenue_musd": ("USD billion", 0.001, 0.0, 4),
    "max_fine_musd": ("USD billion", 0.001, 0.0, 4),
    "molar_mass": ("kg/mol", 0.001, 0.0, 5),
}
_INTERVALS = (("product", "launch_year", "maker", "founded", "launched", "its manufacturer was founded"),
              ("event", "first_held", "organiser", "founded", "first held", "its organiser was founded"),
              ("regulation", "enacted", "issuer", "founded", "enacted", "its issuing body was founded"))


def _half_unit(attribute: Attribute) -> float:
    return 0.5 * 10 ** -attribute.decimals


def _attribute(kind: str, key: str) -> Attribute:
    return next(a for a in ATTRIBUTES[kind] if a.key == key)


def _input(entity: Entity, attribute: Attribute, year: int, value: float) -> dict:
    return {"entity": entity.id, "name": entity.name, "attribute": attribute.key, "year": year,
            "value": format_value(value, attribute, with_unit=False)}


def chart_compute_task(world: World, rng: random.Random, task_id: str,
                       chart_only: Mapping[tuple[str, str], Collection[int]]) -> Task | None:
    """A growth or difference question with at least one input that only a chart states (its caption, read with
    analyze_image), or None when this draw does not fit.

    Args:
        chart_only: (entity id, attribute key) → the years whose figure no text states, only a chart
            (statements of status ``chart``; `drgym.tasks.render.RenderKnobs.chart_only_history`).
    """
    charted = sorted((key, years) for key, years in chart_only.items() if years)
    if not charted:
        return None
    (entity_id, key), years = rng.choice(charted)
    entity = world.entities[entity_id]
    attribute = _attribute(entity.kind, key)
    history = entity.attributes[key]
    year = rng.choice(sorted(years))
    needed = next(point for point in history if point[0] == year)
    other = rng.choice([point for point in history if point[0] != year])
    operation = rng.choice(("growth", "difference"))
    builder = _growth_between if operation == "growth" else _difference_between
    built = builder(world, rng, entity, attribute, *sorted([needed, other]))
    if built is None:
        return None
    question, value, tolerance, decimals, percent, inputs, hops = built
    chart_inputs = [i["year"] for i in inputs if i["year"] in years]
    return Task(id=task_id, kind="deep_search", question=question,
                answers=[numeric_answer(value, decimals=decimals + 2, tolerance=round(tolerance, decimals + 3),
                                        percent=percent)],
                meta={"family": "compute", "operation": operation, "value": value, "tolerance": tolerance,
                      "inputs": inputs, "hops": hops, "world_seed": world.seed, "source": "chart",
                      "chart_years": chart_inputs})


def compute_task(world: World, rng: random.Random, task_id: str, *, operation: str | None = None) -> Task | None:
    """A question whose answer is computed from values the web states, or None when this draw does not fit."""
    operation = operation or rng.choice(OPERATIONS)
    entities = [e for e in world.entities.values() if not e.twin_of]
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
    built = _BUILDERS[operation](world, rng, entities)
    if built is None:
        return None
    question, value, tolerance, decimals, percent, inputs, hops = built
    return Task(id=task_id, kind="deep_search", question=question,
                answers=[numeric_answer(value, decimals=decimals + 2, tolerance=round(tolerance, decimals + 3),
                                        percent=percent)],
                meta={"family": "compute", "operation": operation, "value": value, "tolerance": tolerance,
                      "inputs": inputs, "hops": hops, "world_seed": world.seed})


def _dated(entities: list[Entity]) -> list[tuple[Entity, Attribute]]:
    return [(e, a) for e in entities for a in ATTRIBUTES[e.kind] if a.dated and len(e.attributes[a.key]) >= 2]


def _growth(world: World, rng: random.Random, entities: list[Entity]):
    entity, attribute = rng.choice(_dated(entities))
    return _growth_between(world, rng, entity, attribute, *sorted(rng.sample(entity.attributes[attribute.key], 2)))


def _growth_between(world: World, rng: random.Random, entity: Entity, attribute: Attribute,
                    first: tuple[int, float], second: tuple[int, float]):
    (y1, v1), (y2, v2) = first, second
    if v1 == 0:
        return None
    phrase, hops = entity_phrase(world, entity, rng)
    value = 100 * (v2 - v1) / v1
    h = _half_unit(attribute)
    tolerance = 0.05 + 100 * h / abs(v1) + 100 * abs(v2) * h / v1 ** 2
    question = (f"By what percentage did the {attribute.label} of {phrase} change from {y1} to {y2}? Give the "
                "percentage to one decimal place, negative for a fall.")
    return question, value, tolerance, 1, True, [_input(entity, attribute, y1, v1), _input(entity, attribute, y2, v2)], hops


def _difference(world: World, rng: random.Random, entities: list[Entity]):
    entity, attribute = rng.choice(_dated(entities))
    return _difference_between(world, rng, entity, attribute, *sorted(rng.sample(entity.attributes[attribute.key], 2)))


def _difference_between(world: World, rng: random.Random, entity: Entity, attribute: Attribute,
                        first: tuple[int, float], second: tuple[int, float]):
    (y1, v1), (y2, v2) = first, second
    phrase, hops = entity_phrase(world, entity, rng)
    value = round(v2 - v1, attribute.decimals)
    tolerance = _half_unit(attribute)
    question = (f"By how much did the {attribute.label} of {phrase} change from {y1} to {y2} (the {y2} figure minus "
                f"the {y1} figure)? Give the difference in {attribute.unit}.")
    return (question, value, tolerance, attribute.decimals, False,
            [_input(entity, attribute, y1, v1), _input(entity, attribute, y2, v2)], hops)


def _numeric_attributes(kind: str) -> list[Attribute]:
    return [a for a in ATTRIBUTES[kind] if not a.is_year]


def _ratio(world: World, rng: random.Random, entities: list[Entity]):
    kind = rng.choice(sorted({e.kind for e in entities if _numeric_attributes(e.kind)}))
    attribute = rng.choice(_numeric_attributes(kind))
    peers = [e for e in entities if e.kind == kind]
    if len(peers) < 2:
        return None
    a, b = rng.sample(peers, 2)
    (_, va), (_, vb) = a.current(attribute.key), b.current(attribute.key)
    if va < vb:
        a, b, va, vb = b, a, vb, va
    if vb <= 0 or va / vb > 1000 or va == vb:
        return None
    (phrase_a, hops_a), (phrase_b, hops_b) = entity_phrase(world, a, rng), entity_phrase(world, b, rng)
    h = _half_unit(attribute)
    tolerance = 0.005 + h / vb + va * h / vb ** 2
    question = (f"What is the ratio of the {attribute.label} of {phrase_a} to the {attribute.label} of {phrase_b}, "
                "using the latest authoritative figures? Give it to two decimal places.")
    inputs = [_input(a, attribute, *a.current(attribute.key)), _input(b, attribute, *b.current(attribute.key))]
    return question, va / vb, tolerance, 2, False, inputs, max(hops_a, hops_b)


def _sum(world: World, rng: random.Random, entities: list[Entity]):
    kind = rng.choice(sorted({e.kind for e in entities if _numeric_attributes(e.kind)}))
    attribute = rng.choice(_numeric_attributes(kind))
    peers = [e for e in entities if e.kind == kind]
    if len(peers) < 4:
        return None
    chosen = rng.sample(peers, rng.randint(2, 4))
    phrases = [entity_phrase(world, e, rng, describe_rate=0.25) for e in chosen]
    names = ", ".join(p for p, _ in phrases[:-1]) + f" and {phrases[-1][0]}"
    value = round(sum(e.current(attribute.key)[1] for e in chosen), attribute.decimals)
    tolerance = len(chosen) * _half_unit(attribute)
    unit = f", in {attribute.unit}" if attribute.unit else ""
    question = f"What is the combined {attribute.label} of {names}, using the latest authoritative figures{unit}?"
    inputs = [_input(e, attribute, *e.current(attribute.key)) for e in chosen]
    return question, value, tolerance, attribute.decimals, False, inputs, max(h for _, h in phrases)


def _convert(world: World, rng: random.Random, entities: list[Entity]):
    key = rng.choice(sorted(CONVERSIONS))
    unit, factor, offset, decimals = CONVERSIONS[key]
    holders = [e for e in entities if key in e.attributes]
    if not holders:
        return None
    entity = rng.choice(holders)
    attribute = _attribute(entity.kind, key)
    year, value = entity.current(key)
    phrase, hops = entity_phrase(world, entity, rng)
    tolerance = 0.5 * 10 ** -decimals + abs(factor) * _half_unit(attribute)
    latest = "latest " if attribute.dated else ""
    question = (f"What is the {latest}{attribute.label} of {phrase} in {unit}? Give it to {decimals} decimal places.")
    return question, value * factor + offset, tolerance, decimals, False, [_input(entity, attribute, year, value)], hops


def _interval(world: World, rng: random.Random, entities: list[Entity]):
    kind, key, relation, other_key, verb, clause = rng.choice(_INTERVALS)
    holders = [e for e in entities if e.kind == kind]
    if not holders:
        return None
    entity = rng.choice(holders)
    other = world.target(entity, relation)
    mine, theirs = entity.current(key)[1], other.current(other_key)[1]
    if mine <= theirs:
        return None
    question = (f"How many years after {clause} was {'the ' + kind} {entity.name} {verb}? Answer with the number of "
                "years.")
    inputs = [_input(entity, _attribute(kind, key), *entity.current(key)),
              _input(other, _attribute(other.kind, other_key), *other.current(other_key))]
    return question, mine - theirs, 0.0, 0, False, inputs, 1


_BUILDERS = {"growth": _growth, "difference": _difference, "ratio": _ratio, "sum": _sum, "convert": _convert,
             "interval": _interval}
