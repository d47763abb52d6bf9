"""What every rubric judge offers the environment: one `grade` signature, so the env never asks which judge it
holds (the deterministic judge, the LLM judge, or a user's own)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol, runtime_checkable

from drgym.rewards.integrity import ParagraphSource
from drgym.rewards.rubric import Rubric
from drgym.rewards.scoring import Grade

__all__ = ["Judge"]


@runtime_checkable
class Judge(Protocol):
    """A rubric judge.

    ``grade(rubrics, report, retrieved_urls=..., sources=...)``: `retrieved_urls` are the pages the agent opened
    or saw (a citation of any other page supports nothing); `sources` is the corpus index for copy detection.
    """

    def grade(self, rubrics: Sequence[Rubric], report: str, *, retrieved_urls: Collection[str] | None = None,
              sources: ParagraphSource | None = None) -> Grade: ...
