"""Rubrics (ResearchRubrics-compatible) and their machine-checkable specs for the deterministic judge.

A rubric has a `criterion` (text), an integer `weight` in −5…5 (|w| ≥ 4: mandatory; negative: a fault
that costs when present), an `axis`, and optionally a `check` the deterministic judge evaluates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Check", "CitationCheck", "CoverageCheck", "FactCheck", "FaultCheck", "MentionCheck", "Rubric",
           "StructureCheck"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FactCheck(_Spec):
    """The report states `value` near a mention of the entity, in a sentence that does not refute it, and states
    none of `wrong_values` there as fact."""

    type: Literal["fact"] = "fact"
    entity: list[str] = Field(min_length=1)
    """The entity's name and aliases."""
    value: str
    """As written in the world, e.g. ``"12,345"`` or an entity name."""
    numeric: bool = True
    value_aliases: list[str] = []
    """Other names of a non-numeric value (an entity's aliases)."""
    tolerance: float = 0.01
    """Relative tolerance of a numeric match."""
    wrong_values: list[str] = []
    """Known-wrong values (fabricated on low-trust pages) that must not be stated as fact near the entity."""
    context: list[str] = []
    """Words that must also appear near the entity (e.g. the year of a historical value)."""
    superseded: list[tuple[str, int]] = []
    """Older values with the year they held: stated in a sentence without that year (or "previously",
    "formerly", …), an old value is stated as current, which is as wrong as a fabricated one. An old value
    within twice the tolerance of `value` cannot be told from it and is ignored."""
    unit_scale: float = 1.0
    """The scale of the value's unit (1e6 for "USD million"): "$12.2 million" states 12.2."""
    label_terms: list[str] = []
    """Words that name the attribute ("revenue", "turnover"). When given, the value counts as stated only in a
    sentence that names the attribute, or in a table row whose header does: a figure beside a name says
    nothing about which fact it is. A superseded value likewise counts only where the attribute is named."""
    window: int = 300
    """Characters around the entity mention that count as near."""
    rivals: list[list[str]] = []
    """Other candidates for a name value, each as its names (the other options' makers, a company's earlier
    headquarters). With rivals, a name counts as said of the entity only where it is stated near it (with the
    `context`), not introduced as where things came from ("from A", "formerly A", "A until 2019"), and, with
    `peers`, where the entity is the nearest subject. A rival said of the entity fails the fact: the report names
    candidates instead of committing to one."""
    peers: list[list[str]] = []
    """The other subjects of the same question (the other products compared), each as its names: a value or a
    rival is said of the subject mentioned nearest to it ("A is made by M1, B by M2": M2 is said of B)."""
    decoys: list[list[str]] = []
    """Names of the value's kind that nothing true about the question puts near the entity (other cities of the
    world for a headquarters), each as its names. A report that names one near the entity lists candidates instead
    of committing to one, whatever it says of them ("A for years, B, C, ..."): the fact is not satisfied, and
    naming two or more is a contradiction fault. Without them a list of every city of the world beside each
    company stated every headquarters."""


class CitationCheck(_Spec):
    """A sentence stating `value` near the entity cites one of `urls` (``\\cite{url}``, ``[n]`` or an inline url)."""

    type: Literal["citation"] = "citation"
    entity: list[str] = Field(min_length=1)
    value: str
    numeric: bool = True
    tolerance: float = 0.01
    urls: list[str] = Field(min_length=1)
    unit_scale: float = 1.0
    """The scale of the value's unit (1e6 for "USD million"): "$12.2 million" states 12.2."""
    window: int = 300


class CoverageCheck(_Spec):
    """At least `min_fraction` of the entities (each a list of name and aliases) are mentioned."""

    type: Literal["coverage"] = "coverage"
    entities: list[list[str]] = Field(min_length=1)
    min_fraction: float = 1.0
    decoys: list[list[str]] = []
    """Names of the entities' kind that do not belong (other makers' products): a report naming one is listing
    candidates, not covering the entities (not satisfied; two or more, a contradiction fault)."""


class MentionCheck(_Spec):
    """An analysis claim: the entity is named near one of `terms` (the largest company next to "largest"), no
    rival is named in that role, and no contrary term is said of the entity."""

    type: Literal["mention"] = "mention"
    entity: list[str] = Field(min_length=1)
    terms: list[str] = Field(min_length=1)
    rivals: list[list[str]] = []
    """The other candidates for the role (each a name and aliases): naming one as e.g. "largest" fails."""
    contrary_terms: list[str] = []
    """Terms of the opposite claim ("declined" for a growth): saying one of the entity fails."""
    topic_terms: list[str] = []
    """When given, a claim counts only in a clause that names the topic ("revenue"): "the largest workforce"
    or "its workforce declined" is another claim."""
    window: int = 200


class StructureCheck(_Spec):
    """Section headings, a table and a length within bounds."""

    type: Literal["structure"] = "structure"
    min_sections: int = 0
    needs_table: bool = False
    min_words: int = 0
    max_words: int | None = None


class FaultCheck(_Spec):
    """Satisfied when the report commits the fault: states the known-wrong `value` near the entity as fact."""

    type: Literal["fault"] = "fault"
    entity: list[str] = Field(min_length=1)
    value: str
    numeric: bool = True
    tolerance: float = 0.01
    unit_scale: float = 1.0
    """The scale of the value's unit (1e6 for "USD million"): "$12.2 million" states 12.2."""
    window: int = 300


Check = Annotated[FactCheck | CitationCheck | CoverageCheck | MentionCheck | StructureCheck | FaultCheck,
                  Field(discriminator="type")]


class Rubric(BaseModel):
    """One checklist item of a task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    criterion: str
    weight: int = Field(ge=-5, le=5)
    axis: str = "general"
    check: Check | None = None
    requires: list[str] = []
    """Ids of the rubrics this one rests on (the facts a verdict or recommendation follows from): it counts only
    when every one of them is satisfied, so a conclusion guessed without the facts earns nothing."""

    @field_validator("weight")
    @classmethod
    def _nonzero(cls, weight: int) -> int:
        if weight == 0:
            raise ValueError("weight must be non-zero: positive for a requirement, negative for a fault")
        return weight

    @property
    def is_mandatory(self) -> bool:
        return abs(self.weight) >= 4
