"""Judges grade a report against rubrics: `DeterministicJudge` evaluates machine checks; `LLMJudge`
(rewards/llm_judge.py) asks a model. Both return a `Grade` and apply the same report guards."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from drgym.rewards.checks import ReportAnalysis, evaluate_check
from drgym.rewards.guards import clean_report
from drgym.rewards.integrity import (
    CHECK_FAULTS,
    INTEGRITY_CHECKS,
    PENALTY_SHARE,
    ParagraphSource,
    TaskVocabulary,
    audit_report,
    integrity_verdicts,
    task_vocabulary,
)
from drgym.rewards.rubric import CitationCheck, Rubric
from drgym.rewards.scoring import Grade, RubricVerdict, ScoringMode, score_verdicts

__all__ = ["DeterministicJudge"]

_KEPT_VOCABULARIES = 4096


class DeterministicJudge:
    """Grades rubrics that carry a machine `check`; a rubric without one is recorded as incomplete.

    Identical input gives a bit-identical grade.

    Args:
        mode: how verdicts become a score (see `drgym.rewards.scoring`).
    """

    def __init__(self, *, mode: ScoringMode = "binary") -> None:
        self.mode = mode
        # what each task's rubrics name, kept per rubric objects (held, so their ids stay theirs)
        self._vocabularies: dict[tuple[int, ...], tuple[tuple[Rubric, ...], TaskVocabulary]] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_vocabularies": {}}  # a copy sent to a worker rebuilds what it needs

    def _vocabulary(self, rubrics: Sequence[Rubric]) -> TaskVocabulary:
        key = tuple(map(id, rubrics))
        entry = self._vocabularies.get(key)
        if entry is None:
            if len(self._vocabularies) >= _KEPT_VOCABULARIES:
                self._vocabularies.pop(next(iter(self._vocabularies)))
            entry = self._vocabularies[key] = (tuple(rubrics), task_vocabulary(rubrics))
        return entry[1]

    def grade(self, rubrics: Sequence[Rubric], report: str, *,
              retrieved_urls: Collection[str] | None = None, sources: ParagraphSource | None = None) -> Grade:
        """Grades `report`.

        Args:
            rubrics: the task's rubrics.
            report: the submitted text.
            retrieved_urls: pages the agent actually opened or saw in the episode; when given, a citation of any
                other page is fabricated and supports nothing.
            sources: the corpus's search index; when given, sentences that reproduce corpus paragraphs beyond a
                quotation budget satisfy no rubric and fire the copying fault (`drgym.rewards.integrity`).
        """
        audit = audit_report(clean_report(report, [r.criterion for r in rubrics]), rubrics, source=sources,
                             vocabulary=self._vocabulary(rubrics))
        analysis = ReportAnalysis(audit.judged_text)  # read once, shared by every check
        verdicts = []
        for rubric in rubrics:
            if rubric.check is None:
                verdicts.append(RubricVerdict(rubric.id, "incomplete", reasoning="no machine check",
                                              weight=rubric.weight, axis=rubric.axis))
                continue
            check = rubric.check
            if isinstance(check, CitationCheck) and retrieved_urls is not None:
                usable = [url for url in check.urls if url in retrieved_urls]
                if not usable:
                    verdicts.append(RubricVerdict(rubric.id, "not_satisfied",
                                                  reasoning="no supporting page was retrieved in the episode",
                                                  weight=rubric.weight, axis=rubric.axis))
                    continue
                check = check.model_copy(update={"urls": usable})
            result = evaluate_check(check, analysis)
            verdicts.append(RubricVerdict(rubric.id, result.verdict, [result.evidence], weight=rubric.weight,
                                          axis=rubric.axis))
            if result.fault and result.fault not in audit.faults:
                audit.faults[result.fault] = f"{rubric.id}: {result.evidence}"
        return score_verdicts(rubrics, verdicts, mode=self.mode, penalty_share=PENALTY_SHARE,
                              integrity=integrity_verdicts(audit, rubrics, checks=(*INTEGRITY_CHECKS, *CHECK_FAULTS)))
