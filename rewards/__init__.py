"""Rewards: rubric schema, deterministic checks and the ResearchRubrics score."""

from drgym.rewards.checks import CheckResult, ReportScore, evaluate_check, score_report
from drgym.rewards.rubric import Rubric

__all__ = ["CheckResult", "ReportScore", "Rubric", "evaluate_check", "score_report"]
