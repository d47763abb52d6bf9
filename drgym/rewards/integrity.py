"""Report-level integrity checks that no rubric names: copying, irrelevant content and padding.

A rubric judge credits facts wherever they appear, so a policy can earn it by pasting the pages it read, by
naming every entity next to every term, or by burying a correct report in filler. These checks run on the
visible text before the rubrics and feed the grade in two ways:

* **copying**: a sentence (or table row) of at least ``MIN_COPY_WORDS`` words is *copied* when at least
  ``COPY_COVERAGE`` of its words lie in word 4-grams that one corpus paragraph also has; candidate paragraphs
  come from the search index (the sentence as the query, ``COPY_CANDIDATES`` hits), so every page of the
  corpus counts, not only those the agent opened. A sentence that states one fact in the plainest words
  (at most ``MAX_FACT_WORDS`` beyond the task's names, figures and attribute words) is not copying, whoever
  wrote it first: "X is headquartered in Y." has no other wording. Quotations are allowed up to a budget
  (``max(COPY_BUDGET_WORDS, COPY_BUDGET_SHARE × words)``); beyond it, copied sentences satisfy no rubric
  and the ``integrity:copying`` fault fires.
* **relevance**: a prose sentence is off-task when it names none of the task's entities and values; more
  than ``MAX_OFF_TASK_SHARE`` of the words (and over ``MIN_OFF_TASK_WORDS``) off-task fires ``integrity:relevance`` (rubrics without machine
  checks name no entities, so they skip this check).
* **length**: more than ``words_needed(rubrics)`` words (a budget per positive rubric) fires
  ``integrity:length``; the judge reads at most ``MAX_JUDGED_WORDS`` words (a reader stops reading).

The deterministic judge adds two from its machine checks: ``integrity:contradiction`` (a claim and its opposite:
a value asserted and refuted, a rival named as "the largest", "grew" and "declined") and ``integrity:outdated`` (a superseded value stated as current).
Each fired fault costs ``PENALTY_SHARE`` of the task's positive rubric weight (see `drgym.rewards.scoring`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from drgym.rewards.checks import CITATION_MARKS, attach_citations, count_words, split_sentences
from drgym.rewards.rubric import (
    CitationCheck,
    CoverageCheck,
    FactCheck,
    FaultCheck,
    MentionCheck,
    Rubric,
)
from drgym.rewards.scoring import RubricVerdict

__all__ = ["COPY_BUDGET_SHARE", "COPY_BUDGET_WORDS", "CHECK_FAULTS", "COPY_COVERAGE", "INTEGRITY_CHECKS", "IntegrityReport", "MAX_JUDGED_WORDS",
           "MAX_OFF_TASK_SHARE", "PENALTY_SHARE", "TaskVocabulary", "audit_report", "integrity_verdicts",
           "task_vocabulary", "words_needed"]

MIN_COPY_WORDS = 6
COPY_COVERAGE = 0.7
COPY_CANDIDATES = 5
COPY_BUDGET_WORDS = 30
COPY_BUDGET_SHARE = 0.1
MAX_OFF_TASK_SHARE = 0.25
MIN_OFF_TASK_WORDS = 80
WORDS_PER_RUBRIC = 30
MIN_WORDS_ALLOWED = 400
MAX_JUDGED_WORDS = 6_000
PENALTY_SHARE = 0.3
INTEGRITY_CHECKS = ("copying", "relevance", "length")
"""The faults `audit_report` looks for."""
CHECK_FAULTS = ("contradiction", "outdated")
"""The faults the deterministic judge's machine checks find (`drgym.rewards.checks.CheckResult.fault`)."""

_WORD = re.compile(r"\w+")
_FIGURE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
_NON_DIGIT = re.compile(r"\D")
_BLOCK_BREAK = re.compile(r"\n\s*\n")


@lru_cache(maxsize=16384)
def _digits(text: str) -> str:
    """A rubric value's digits (kept: a task's values recur in every report graded on it)."""
    return _NON_DIGIT.sub("", text)


@lru_cache(maxsize=4096)
def _words_of(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


@lru_cache(maxsize=4096)
def _words_of_lowered(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text))


@lru_cache(maxsize=1024)
def _any_name(names: tuple[str, ...]) -> re.Pattern | None:
    """A pattern that finds any of `names` as a substring (one scan instead of one per name), None for no names."""
    return re.compile("|".join(map(re.escape, names))) if names else None


class ParagraphSource(Protocol):
    """Anything that finds corpus paragraphs for a text (`drgym.web.SearchIndex`)."""

    def search(self, query: str, k: int = 10) -> list: ...


@dataclass
class IntegrityReport:
    """What the integrity checks found in one report."""

    words: int = 0
    words_allowed: int = 0
    copied_words: int = 0
    copy_budget: int = 0
    off_task_words: int = 0
    copied: list[str] = field(default_factory=list)
    """Copied sentences, as written."""
    faults: dict[str, str] = field(default_factory=dict)
    """Fired faults (``copying``, ``relevance``, ``length``) with the evidence."""
    judged_text: str = ""
    """The text the rubrics are checked on: the first `MAX_JUDGED_WORDS` words, without copied sentences
    when copying is over budget."""


def words_needed(rubrics: Sequence[Rubric]) -> int:
    """The most words a report on these rubrics needs (beyond it, length is padding)."""
    return max(MIN_WORDS_ALLOWED, WORDS_PER_RUBRIC * sum(r.weight > 0 for r in rubrics))


@dataclass(frozen=True)
class TaskVocabulary:
    """What a task's rubrics name, for the relevance and copying checks (`task_vocabulary`)."""

    names: tuple[str, ...]
    """The entities' and values' names, lowercased, longest first."""
    figures: frozenset[str]
    """The figures the task knows, digits only."""
    words: frozenset[str]
    """The words of its names, attributes and terms."""


def task_vocabulary(rubrics: Sequence[Rubric]) -> TaskVocabulary:
    """The `TaskVocabulary` of a task's rubrics (a judge may keep it for the task's later reports)."""
    names, figures, words = _task_vocabulary(rubrics)
    return TaskVocabulary(tuple(names), frozenset(figures), frozenset(words))


def _task_vocabulary(rubrics: Sequence[Rubric]) -> tuple[list[str], set[str], set[str]]:
    """Names of the task's entities and values, the figures it knows (digits only), and the words of its
    attributes and terms."""
    names: list[str] = []
    figures: set[str] = set()
    words: set[str] = set()
    for rubric in rubrics:
        check = rubric.check
        if isinstance(check, (FactCheck, CitationCheck, FaultCheck)):
            names += check.entity
            if check.numeric:
                figures.add(_digits(check.value))
            else:
                names.append(check.value)
            if isinstance(check, FactCheck):
                names += check.value_aliases
                words.update(*map(_words_of, check.label_terms))
                figures.update(map(_digits, check.wrong_values))
                figures.update(_digits(v) for v, _ in check.superseded)
        elif isinstance(check, CoverageCheck):
            names += [name for entity in check.entities for name in entity]
        elif isinstance(check, MentionCheck):
            names += check.entity + [name for rival in check.rivals for name in rival]
            words.update(*map(_words_of, check.terms + check.topic_terms))
    names = sorted({n.lower() for n in names if n.strip()}, key=len, reverse=True)
    words.update(*map(_words_of_lowered, names))
    return names, figures, words


# Function words and the words facts are stated with: a sentence of one fact needs nothing else.
_PLAIN = frozenset("""
a an the of in on at as by for to from with and or is was are were be been has had have its it this that
these those who which there their per about some than also
chief executive headquartered headquarters head office based located mayor made maker manufactured
issued organised organized held hosted born works employed synthesised synthesized first key compound city
recorded reported reports stood amounted totalled totaled record latest current year annual usd million billion
""".split())
MAX_FACT_WORDS = 4
"""A copied sentence with at most this many words beyond the task's names, figures, attribute words and
plain function words states one fact in the plainest form there is: that is not copying."""


def _states_one_fact(words: list[str], vocabulary: set[str]) -> bool:
    extra = [w for w in words if w not in vocabulary and w not in _PLAIN and not w.isdigit()]
    return len(extra) <= MAX_FACT_WORDS


def _units(text: str) -> list[tuple[str, bool]]:
    """Sentences of prose and whole table rows, each with whether it is a table row or heading."""
    units = []
    for line_block in _BLOCK_BREAK.split(text):
        for line in line_block.split("\n"):
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith(("|", "#")):
                units.append((stripped, True))
                continue
            units.extend((sentence, False) for sentence in split_sentences(stripped) if sentence.strip())
    return units


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + 4]) for i in range(len(words) - 3)}


def _is_copied(words: list[str], source: ParagraphSource) -> bool:
    hits = source.search(" ".join(words), k=COPY_CANDIDATES)
    for hit in hits:
        paragraph = _shingles(_WORD.findall(hit.text.lower()))
        covered = [False] * len(words)
        for i in range(len(words) - 3):
            if tuple(words[i:i + 4]) in paragraph:
                covered[i:i + 4] = [True] * 4
        if sum(covered) >= COPY_COVERAGE * len(words):
            return True
    return False


def audit_report(visible: str, rubrics: Sequence[Rubric], *, source: ParagraphSource | None = None,
                 vocabulary: TaskVocabulary | None = None) -> IntegrityReport:
    """Runs the integrity checks on a report's visible text (see the module docstring); `vocabulary` is
    `task_vocabulary(rubrics)` when the caller has it already."""
    result = IntegrityReport()
    result.words = count_words(visible)
    result.words_allowed = words_needed(rubrics)
    text = attach_citations(visible)
    if result.words > MAX_JUDGED_WORDS:  # cut at a word boundary: the judge reads no further
        last = next(itertools.islice(_WORD.finditer(text), MAX_JUDGED_WORDS - 1, None), None)
        text = text[:last.end()] if last is not None else text
    if result.words > result.words_allowed:
        result.faults["length"] = (f"{result.words:,} words where the task needs at most "
                                   f"{result.words_allowed:,}")
    if vocabulary is None:
        vocabulary = task_vocabulary(rubrics)
    names, figures = vocabulary.names, vocabulary.figures
    any_name = _any_name(names)
    units = _units(text)
    copied_units: list[str] = []
    prose_words = 0
    for unit, is_row in units:
        if is_row and source is None:  # a table row or heading counts only for copy detection
            continue
        # only a backslash, a bracket or "://" starts a citation
        has_citation = "\\" in unit or "[" in unit or "://" in unit
        claim = CITATION_MARKS.sub(" ", unit) if has_citation else unit
        lowered = claim.lower()
        words = _WORD.findall(lowered) if source is not None else None  # only copy detection reads the words
        if not is_row:
            prose_words += count_words(unit)
            names_task = any_name is not None and any_name.search(lowered) is not None
            # the report's figures are not cached: a policy writes them (a cache of them could be made to grow)
            if not names_task and not any(_NON_DIGIT.sub("", f) in figures for f in _FIGURE.findall(claim)):
                result.off_task_words += len(words) if words is not None else count_words(lowered)
        if (words is not None and len(words) >= MIN_COPY_WORDS and not _states_one_fact(words, vocabulary.words)
                and _is_copied(words, source)):
            result.copied_words += len(words)
            copied_units.append(unit)
    result.copy_budget = max(COPY_BUDGET_WORDS, int(COPY_BUDGET_SHARE * result.words))
    if result.copied_words > result.copy_budget:
        result.copied = copied_units
        result.faults["copying"] = (f"{result.copied_words:,} words in {len(copied_units)} sentences reproduce "
                                    f"corpus paragraphs (quotation budget {result.copy_budget:,}): "
                                    f"{copied_units[0][:160]!r}")
        text = re.sub("|".join(re.escape(u) for u in sorted(set(copied_units), key=len, reverse=True)), " ", text)
    if (names or figures) and result.off_task_words > max(MIN_OFF_TASK_WORDS, MAX_OFF_TASK_SHARE * prose_words):
        result.faults["relevance"] = (f"{result.off_task_words:,} of {prose_words:,} words of prose name none of "
                                      "the entities or figures the task asks about")
    result.judged_text = text
    return result


def integrity_verdicts(audit: IntegrityReport, rubrics: Sequence[Rubric], *,
                       checks: Sequence[str] = INTEGRITY_CHECKS) -> list[RubricVerdict]:
    """The judge's report-level faults that ran (`checks`) as verdicts (axis ``integrity``), fired or not."""
    positive = sum(r.weight for r in rubrics if r.weight > 0)
    weight = -max(1, round(PENALTY_SHARE * positive))
    return [RubricVerdict(f"integrity:{name}", "satisfied" if name in audit.faults else "not_satisfied",
                          [audit.faults[name]] if name in audit.faults else [], weight=weight, axis="integrity")
            for name in checks]
