"""Answer matching for deep_search: normalised exact match, numeric tolerance with scale words, aliases.

An answer is correct when it names one accepted answer and nothing else: an answer that lists several
candidates ("305,681 or 290,000", "Ann Lee / Bo Kim") is wrong, whatever else it contains.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from drgym.rewards.checks import parse_numbers

__all__ = ["AnswerMatch", "match_answer", "normalize_answer", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation})
_DISJUNCTION = re.compile(r"(\bor\b|\band\b|\beither\b|/|;|,|\|)")
_MAX_EXTRA_TOKENS = 4


@dataclass(frozen=True)
class AnswerMatch:
    is_correct: bool
    reason: str
    f1: float
    """Best token F1 against any accepted answer (for analysis; not the reward)."""


def normalize_answer(text: str) -> str:
    """Lowercase, punctuation and articles removed, whitespace collapsed (SQuAD-style)."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if not predicted or not wanted or common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def _is_year(value: float) -> bool:
    return value.is_integer() and 1800 <= value <= 2100


def match_answer(answer: str, accepted: Sequence[str], *, tolerance: float = 0.01) -> AnswerMatch:
    """Grades `answer` against the accepted answers (the canonical one first).

    Figures match within a relative `tolerance` (1 %: "1.13 million" for 1,131,507); years match exactly.
    """
    f1 = max((token_f1(answer, gold) for gold in accepted), default=0.0)
    if not answer.strip():
        return AnswerMatch(False, "empty answer", f1)
    gold_numbers = [n.value for gold in accepted for n in parse_numbers(gold)[:1]]
    if gold_numbers and all(parse_numbers(gold) and len(normalize_answer(gold).split()) <= 3 for gold in accepted):
        target = gold_numbers[0]
        stated = [n for n in parse_numbers(answer)]
        if not _is_year(target):  # "In 2024 it had 305,681" states one figure; the year is context
            stated = [n for n in stated if not _is_year(n.value)] or stated
        distinct = {round(n.value, 6) for n in stated}
        if not stated:
            return AnswerMatch(False, "no number in the answer", f1)
        if len(distinct) > 1:
            return AnswerMatch(False, f"lists several candidate values: {sorted(distinct)}", f1)
        value = stated[0].value
        if _is_year(target):  # a relative tolerance would let "1974" pass for 1956: years match exactly
            if value == target:
                return AnswerMatch(True, f"{value:g} matches the year {target:g}", f1)
            return AnswerMatch(False, f"{value:g} is not the year {target:g}", f1)
        if abs(value - target) <= tolerance * abs(target) + 1e-9:
            return AnswerMatch(True, f"{value:g} matches {target:g}", f1)
        return AnswerMatch(False, f"{value:g} is not {target:g}", f1)
    normalized = normalize_answer(answer)
    for gold in accepted:
        wanted = normalize_answer(gold)
        if not wanted:
            continue
        if normalized == wanted:
            return AnswerMatch(True, f"exact match with {gold!r}", f1)
        found = re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", normalized)
        if found:
            rest = (normalized[:found.start()] + " " + normalized[found.end():]).split()
            if _DISJUNCTION.search(answer.lower().replace(gold.lower(), " ")) and rest:
                return AnswerMatch(False, "lists several candidates", f1)
            if len(rest) <= _MAX_EXTRA_TOKENS:  # "It is X." names X; a paragraph around X hedges
                return AnswerMatch(True, f"names {gold!r}", f1)
            return AnswerMatch(False, f"names {gold!r} among {len(rest)} other words", f1)
    return AnswerMatch(False, "names none of the accepted answers", f1)
