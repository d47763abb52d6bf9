"""Rewards: rubric schema, deterministic checks and the ResearchRubrics score."""

from drgym.rewards.checks import CheckResult, evaluate_check
from drgym.rewards.judges import DeterministicJudge
from drgym.rewards.rubric import Rubric
from drgym.rewards.scoring import Grade, RubricVerdict, score_verdicts

__all__ = ["CheckResult", "DeterministicJudge", "Grade", "Rubric", "RubricVerdict", "evaluate_check", "score_verdicts"]
