"""Scoring: `score_verdicts` against the formula written out plainly, on random rubric sets, and the verdict object."""

from __future__ import annotations

import dataclasses
import pickle
import random

import pytest

from drgym.rewards.rubric import Rubric
from drgym.rewards.scoring import RubricVerdict, score_verdicts

VERDICTS = ("satisfied", "partially", "not_satisfied", "incomplete")


def _formula(rubrics, verdicts, mode, integrity, penalty_share):
    """The module docstring's rules, one pass per rule: the reference the single-pass scorer must equal."""
    by_id = {v.rubric_id: v.verdict for v in verdicts}
    for rubric in rubrics:  # a conclusion counts only on the facts it rests on, in rubric order
        unmet = [i for i in rubric.requires if i in by_id and by_id[i] != "satisfied"]
        if rubric.weight > 0 and unmet and by_id[rubric.id] in ("satisfied", "partially"):
            by_id[rubric.id] = "not_satisfied"
    mandatory = [r for r in rubrics if abs(r.weight) >= 4 and r.weight > 0]
    passed = sum(by_id[r.id] == "satisfied" for r in mandatory)
    faults = [r for r in rubrics if abs(r.weight) >= 4 and r.weight < 0 and by_id[r.id] == "satisfied"]
    committed = [v for v in integrity if v.verdict == "satisfied"]
    if mode == "mandatory":
        score = 1.0 if passed == len(mandatory) and not faults and not committed else 0.0
    else:
        credit = {"satisfied": 1.0} if mode == "binary" else {"satisfied": 1.0, "partially": 0.5}
        positive = sum(r.weight for r in rubrics if r.weight > 0)
        earned = sum(r.weight * credit.get(by_id[r.id], 0.0) for r in rubrics)
        score = (earned / positive if positive else 0.0) - penalty_share * len(committed)
    return (score, [by_id[r.id] for r in rubrics], passed / len(mandatory) if mandatory else 1.0,
            [r.id for r in rubrics if by_id[r.id] == "incomplete"])


@pytest.mark.parametrize("mode", ["binary", "ternary", "mandatory"])
def test_score_verdicts_equals_the_formula_on_random_rubric_sets(mode):
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 12)
        rubrics = [Rubric(id=f"r{i}", criterion=f"Criterion {i}", weight=rng.choice([-5, -4, -2, -1, 1, 2, 3, 4, 5]),
                          axis=rng.choice(["general", "explicit"]),
                          requires=rng.sample([f"r{j}" for j in range(i)], k=min(i, rng.randint(0, 2))))
                   for i in range(n)]
        verdicts = [RubricVerdict(r.id, rng.choice(VERDICTS), ["quote"], weight=r.weight if rng.random() < 0.7 else 0,
                                  axis=r.axis) for r in reversed(rubrics)]
        integrity = [RubricVerdict(f"integrity:{k}", rng.choice(["satisfied", "not_satisfied"]), weight=-2,
                                   axis="integrity") for k in range(rng.randint(0, 3))]
        grade = score_verdicts(rubrics, verdicts, mode=mode, integrity=integrity, penalty_share=0.25)
        score, by_rubric, mandatory_rate, incomplete = _formula(rubrics, verdicts, mode, integrity, 0.25)
        assert grade.score == score and grade.mandatory_pass_rate == mandatory_rate and grade.incomplete == incomplete
        assert [v.verdict for v in grade.verdicts[:n]] == by_rubric and grade.verdicts[n:] == integrity
        # every rubric's verdict carries its rubric's weight and axis
        assert [(v.rubric_id, v.weight, v.axis) for v in grade.verdicts[:n]] == [(r.id, r.weight, r.axis) for r in rubrics]


def test_a_missing_verdict_and_an_unknown_mode_are_errors():
    rubrics = [Rubric(id="a", criterion="A", weight=2), Rubric(id="b", criterion="B", weight=1)]
    with pytest.raises(ValueError, match="no verdict for rubrics"):
        score_verdicts(rubrics, [RubricVerdict("a", "satisfied")])
    with pytest.raises(KeyError):
        score_verdicts(rubrics, [RubricVerdict("a", "satisfied"), RubricVerdict("b", "satisfied")], mode="fuzzy")


def test_a_verdict_is_an_immutable_value():
    verdict = RubricVerdict("a", "satisfied", weight=3, axis="explicit")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.weight = 1  # type: ignore[misc]
    assert verdict.evidence == [] and RubricVerdict("b", "satisfied").evidence is not verdict.evidence
    assert dataclasses.replace(verdict, weight=1) == RubricVerdict("a", "satisfied", [], "", 1, "explicit")
    assert pickle.loads(pickle.dumps(verdict)) == verdict
    assert dataclasses.asdict(verdict) == {"rubric_id": "a", "verdict": "satisfied", "evidence": [], "reasoning": "",
                                           "weight": 3, "axis": "explicit"}
