"""Constraints on entities, evaluated against the graph and written as one line of text each.

A `Constraint` follows a path of relations from an entity ("its chief executive's place of birth") and tests
what it reaches: a sector, an attribute's latest value against a bound, the name of the entity reached, or an
attribute compared with a named entity's. `describe` writes the line a question shows; `parse_constraint` reads
it back (the one definition of this small language, which the scripted solver reads questions with).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from drgym.tasks.render import RELATION_LABELS
from drgym.tasks.world import ATTRIBUTES, Attribute, Entity, World, format_value

__all__ = ["ATTRIBUTE_BY_LABEL", "Constraint", "describe", "matches", "nice", "pages_to_verify", "parse_constraint",
           "reach"]

Test = Literal["sector", "range", "is", "compare"]
Op = Literal["gt", "lt", "between"]

ATTRIBUTE_BY_LABEL: dict[str, Attribute] = {a.label: a for attributes in ATTRIBUTES.values() for a in attributes}
_RELATION_BY_LABEL = {label: key for key, label in RELATION_LABELS.items()}
_LABELS = "|".join(sorted(map(re.escape, ATTRIBUTE_BY_LABEL), key=len, reverse=True))
_WORDS = {("gt", False): "more than", ("lt", False): "less than", ("gt", True): "after", ("lt", True): "before"}
_COMPARE_WORDS = {("gt", False): "greater than", ("lt", False): "smaller than", ("gt", True): "later than",
                  ("lt", True): "earlier than"}
_VALUE = r"-?[\d,]+(?:\.\d+)?"


@dataclass(frozen=True)
class Constraint:
    """A test of what a path of relations from an entity reaches."""

    test: Test
    path: tuple[str, ...] = ()
    """Relation keys followed from the entity (empty: the entity itself)."""
    attribute: str = ""
    """The attribute tested (range, compare)."""
    op: Op = "gt"
    low: float = 0.0
    """The bound of gt and lt, the lower bound of between (inclusive)."""
    high: float = 0.0
    """The upper bound of between (inclusive)."""
    value: str = ""
    """The sector (sector), the entity's name (is) or the reference entity's name (compare)."""


def reach(world: World, entity: Entity, path: tuple[str, ...]) -> Entity | None:
    for key in path:
        try:
            object_id = entity.relation(key)
        except KeyError:
            return None
        entity = world.entities[object_id]
    return entity


def matches(world: World, entity: Entity, constraint: Constraint) -> bool:
    """Whether `entity` satisfies `constraint` in the graph (latest values)."""
    end = reach(world, entity, constraint.path)
    if end is None:
        return False
    if constraint.test == "sector":
        return end.category == constraint.value
    if constraint.test == "is":
        return end.name == constraint.value
    if constraint.attribute not in end.attributes:
        return False
    value = end.current(constraint.attribute)[1]
    if constraint.test == "compare":
        reference = world.named(constraint.value)
        if reference is None or constraint.attribute not in reference.attributes:
            return False
        bound = reference.current(constraint.attribute)[1]
        return value > bound if constraint.op == "gt" else value < bound
    if constraint.op == "between":
        return constraint.low <= value <= constraint.high
    return value > constraint.low if constraint.op == "gt" else value < constraint.low


def pages_to_verify(world: World, pool: list[Entity], constraints: list[Constraint]) -> int:
    """Register entries and archive records that checking every constraint for every entity of `pool` reads: an
    upper bound on the pages a researcher needs (checking the cheapest constraints first needs fewer)."""
    pages: set[tuple[str, str]] = set()
    for entity in pool:
        for constraint in constraints:
            if constraint.test == "sector" and not constraint.path:
                continue  # the register index lists each company's sector
            current = entity
            pages.add(("entry", current.id))
            for key in constraint.path:
                current = world.entities[current.relations[key]]
                pages.add(("entry", current.id))
            if constraint.test in ("range", "compare") and _attribute(constraint.attribute).deep:
                pages.add(("archive", current.id))
    return len(pages)


def _subject(path: tuple[str, ...]) -> str:
    return "it" if not path else "its " + "'s ".join(RELATION_LABELS[key] for key in path)


def _of(label: str, path: tuple[str, ...]) -> str:
    return f"its {label}" if not path else f"the {label} of {_subject(path)}"


def describe(constraint: Constraint, kind: str = "") -> str:
    """The line a question shows for `constraint` ("its workforce is more than 5,000 employees")."""
    if constraint.test == "sector":
        return f"{_subject(constraint.path)} operates in the {constraint.value} sector"
    if constraint.test == "is":
        return f"{_subject(constraint.path)} is {constraint.value}"
    attribute = _attribute(constraint.attribute)
    if constraint.test == "compare":
        words = _COMPARE_WORDS[(constraint.op, attribute.is_year)]
        return f"{_of(attribute.label, constraint.path)} is {words} that of {constraint.value}"
    if constraint.op == "between":
        low, high = format_value(constraint.low, attribute), format_value(constraint.high, attribute)
        low = low.removesuffix(f" {attribute.unit}") if attribute.unit else low
        return f"{_of(attribute.label, constraint.path)} is between {low} and {high}"
    bound = format_value(constraint.low, attribute)
    return f"{_of(attribute.label, constraint.path)} is {_WORDS[(constraint.op, attribute.is_year)]} {bound}"


def _attribute(key: str) -> Attribute:
    return next(a for attributes in ATTRIBUTES.values() for a in attributes if a.key == key)


_SUBJECT = r"it|its .+?"
_SECTOR = re.compile(rf"(?P<subject>{_SUBJECT}) operates in the (?P<sector>.+) sector")
_RANGE = re.compile(rf"(?:its (?P<label>{_LABELS})|the (?P<label2>{_LABELS}) of (?P<subject>{_SUBJECT})) is "
                    rf"(?:(?P<word>more than|less than|after|before) (?P<bound>{_VALUE})|between (?P<low>{_VALUE}) and "
                    rf"(?P<high>{_VALUE}))(?: .*)?")
_COMPARE = re.compile(rf"(?:its (?P<label>{_LABELS})|the (?P<label2>{_LABELS}) of (?P<subject>{_SUBJECT})) is "
                      r"(?P<word>greater than|smaller than|later than|earlier than) that of (?P<name>.+)")
_IS = re.compile(r"(?P<subject>its .+?) is (?P<name>.+)")


def _path(subject: str | None) -> tuple[str, ...] | None:
    if not subject or subject == "it":
        return ()
    keys = []
    for label in subject.removeprefix("its ").split("'s "):
        if label not in _RELATION_BY_LABEL:
            return None
        keys.append(_RELATION_BY_LABEL[label])
    return tuple(keys)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def parse_constraint(line: str) -> Constraint | None:
    """Reads a line `describe` wrote; None when it is not one."""
    line = line.strip().rstrip(".;")
    if match := _COMPARE.fullmatch(line):
        path = _path(match.group("subject"))
        if path is None:
            return None
        attribute = ATTRIBUTE_BY_LABEL[match.group("label") or match.group("label2")]
        op = "gt" if match.group("word") in ("greater than", "later than") else "lt"
        return Constraint("compare", path, attribute.key, op, value=match.group("name"))
    if match := _RANGE.fullmatch(line):
        path = _path(match.group("subject"))
        if path is None:
            return None
        attribute = ATTRIBUTE_BY_LABEL[match.group("label") or match.group("label2")]
        if match.group("word"):
            op = "gt" if match.group("word") in ("more than", "after") else "lt"
            return Constraint("range", path, attribute.key, op, _number(match.group("bound")))
        return Constraint("range", path, attribute.key, "between", _number(match.group("low")),
                          _number(match.group("high")))
    if match := _SECTOR.fullmatch(line):
        path = _path(match.group("subject"))
        return None if path is None else Constraint("sector", path, value=match.group("sector"))
    if match := _IS.fullmatch(line):
        path = _path(match.group("subject"))
        return None if not path else Constraint("is", path, value=match.group("name"))
    return None


def nice(value: float, *, up: bool) -> float:
    """`value` rounded outward to two significant figures (a bound a person would write)."""
    if value == 0:
        return 0.0
    magnitude = 10 ** (math.floor(math.log10(abs(value))) - 1)
    return (math.ceil if up else math.floor)(value / magnitude) * magnitude
