"""Turning per-rubric verdicts into a task score, and the grade object judges return.

ResearchRubrics' formula: S = Σ w·m / Σ_{w>0} w. The verdict → m mapping is selectable:

* ``binary`` (the seed's reward, default): m = 1 only for "satisfied";
* ``ternary``: m = 1 satisfied, 0.5 partially, 0 not;
* ``mandatory``: all-or-nothing: S = 1 when every mandatory (|w| ≥ 4) positive rubric is satisfied and no
  mandatory fault is, else 0.

A rubric whose grading is incomplete (an LLM judge that never produced a valid verdict) counts as m = 0 and is
reported in `Grade.incomplete`; it is never silently a 0 or a 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from drgym.rewards.rubric import Rubric

__all__ = ["Grade", "RubricVerdict", "ScoringMode", "score_verdicts"]

ScoringMode = Literal["binary", "ternary", "mandatory"]
Verdict = Literal["satisfied", "partially", "not_satisfied", "incomplete"]


@dataclass(frozen=True, init=False)
class RubricVerdict:
    rubric_id: str
    verdict: Verdict
    evidence: list[str] = field(default_factory=list)
    """Report text that decided the verdict (verified quotes for the LLM judge)."""
    reasoning: str = ""
    weight: int = 0
    axis: str = ""

    def __init__(self, rubric_id: str, verdict: Verdict, evidence: list[str] | None = None, reasoning: str = "",
                 weight: int = 0, axis: str = "") -> None:
        # the fields in one update of the instance's dict, where a frozen dataclass's own __init__ makes a call per
        # field: a judge makes a verdict per rubric of every report it grades
        self.__dict__.update(rubric_id=rubric_id, verdict=verdict, evidence=[] if evidence is None else evidence,
                             reasoning=reasoning, weight=weight, axis=axis)


@dataclass(frozen=True)
class Grade:
    score: float
    verdicts: list[RubricVerdict]
    mandatory_pass_rate: float
    """Share of mandatory positive rubrics satisfied (1.0 when there are none)."""
    incomplete: list[str]
    """Ids of rubrics without a valid verdict."""
    mode: ScoringMode = "binary"

    @property
    def is_complete(self) -> bool:
        return not self.incomplete

    def by_id(self) -> dict[str, RubricVerdict]:
        return {v.rubric_id: v for v in self.verdicts}


_CREDIT = {"binary": {"satisfied": 1.0}, "ternary": {"satisfied": 1.0, "partially": 0.5}}


def _weighted(verdict: RubricVerdict, rubric: Rubric) -> RubricVerdict:
    """The verdict with its rubric's weight and axis (as it is, when a judge already gave them)."""
    if verdict.weight == rubric.weight and verdict.axis == rubric.axis:
        return verdict
    return RubricVerdict(rubric.id, verdict.verdict, verdict.evidence, verdict.reasoning, rubric.weight, rubric.axis)


def score_verdicts(rubrics: Sequence[Rubric], verdicts: Sequence[RubricVerdict], *,
                   mode: ScoringMode = "binary", integrity: Sequence[RubricVerdict] = (),
                   penalty_share: float = 0.0) -> Grade:
    """The grade of `verdicts` on `rubrics`.

    `integrity` holds the judge's own report-level faults (copying, relevance, length; see
    `drgym.rewards.integrity`): each one "satisfied" (committed) costs `penalty_share` of the score's scale
    (the positive weight), and in ``mandatory`` mode any of them scores 0.
    """
    by_id = {v.rubric_id: v for v in verdicts}
    missing = [r.id for r in rubrics if r.id not in by_id]
    if missing:
        raise ValueError(f"no verdict for rubrics {missing}")
    for rubric in rubrics:  # a conclusion counts only on the facts it rests on (judged before this rule applies)
        if not rubric.requires or rubric.weight <= 0:
            continue
        unmet = [i for i in rubric.requires if i in by_id and by_id[i].verdict != "satisfied"]
        if unmet and by_id[rubric.id].verdict in ("satisfied", "partially"):
            by_id[rubric.id] = RubricVerdict(rubric.id, "not_satisfied", by_id[rubric.id].evidence,
                                             f"rests on {', '.join(unmet)}, which the report does not state",
                                             rubric.weight, rubric.axis)
    credit = {} if mode == "mandatory" else _CREDIT[mode]
    positive, earned, mandatory, passed, fault = 0, 0, 0, 0, False
    incomplete, ordered = [], []
    for rubric in rubrics:  # one pass: a judge scores every report it grades
        verdict, weight = by_id[rubric.id], rubric.weight
        if weight > 0:
            positive += weight
            if rubric.is_mandatory:
                mandatory += 1
                passed += verdict.verdict == "satisfied"
        elif rubric.is_mandatory and verdict.verdict == "satisfied":  # a mandatory fault committed
            fault = True
        if verdict.verdict == "incomplete":
            incomplete.append(rubric.id)
        earned += weight * credit.get(verdict.verdict, 0.0)
        ordered.append(_weighted(verdict, rubric))
    mandatory_rate = passed / mandatory if mandatory else 1.0
    committed = sum(v.verdict == "satisfied" for v in integrity)
    if mode == "mandatory":
        score = 1.0 if passed == mandatory and not fault and not committed else 0.0
    else:
        score = (earned / positive if positive else 0.0) - penalty_share * committed
    ordered += integrity
    return Grade(score=score, verdicts=ordered, mandatory_pass_rate=mandatory_rate, incomplete=incomplete, mode=mode)
