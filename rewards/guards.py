"""What judges do to a report before and after grading, so that text in the report cannot buy a verdict.

Before: hidden HTML comments and zero-width characters are removed (a reader never sees them), repeated
paragraphs and sentences are collapsed (padding earns nothing), and sentences that paste a rubric's criterion
back are dropped. After (LLM judge): an evidence quote counts only if it occurs in the report, is at least four
words long, does not talk about grading ("verdict", "criteria", "ignore previous instructions", …) and is not
the criterion itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

__all__ = ["clean_report", "normalize_text", "usable_quote"]

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_GRADING_TALK = re.compile(
    r"\b(verdicts?|criteri(on|a)|rubrics?|grad(er|ing|ed)|judg(e|es|ing)|satisf(ied|ies|y)|scor(e|ed|ing)|"
    r"instructions?|ignore (all|any|the|previous)|system prompt|evaluator|assessor)\b|^\s*(system|assistant|user)\s*:",
    re.IGNORECASE)
MIN_QUOTE_WORDS = 4


def normalize_text(text: str) -> str:
    """Lowercase, unified quotes and dashes, whitespace collapsed: the form quotes are compared in."""
    text = _INVISIBLE.sub("", text).lower()
    text = text.translate(str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-"}))
    return " ".join(text.split())


_WORD = re.compile(r"\w+")


def _tokens(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _pastes(sentence: str, criteria: Sequence[str]) -> bool:
    """A sentence that copies a criterion: its leading verb ("States", "Cites", …) and 80 % of its words.

    A report stating a fact shares the criterion's entity and value but not its rubric phrasing.
    """
    words = _tokens(sentence)
    if len(words) < 4:
        return False
    for criterion in criteria:
        verb, wanted = _criterion_tokens(criterion)
        if wanted and verb in words and len(words & wanted) / len(wanted) >= 0.8:
            return True
    return False


@lru_cache(maxsize=8192)
def _criterion_tokens(criterion: str) -> tuple[str, frozenset[str]]:
    return (criterion.split()[0].lower() if criterion.split() else ""), frozenset(_tokens(criterion))


def clean_report(report: str, criteria: Sequence[str] = ()) -> str:
    """The report as a reader sees it, without padding or pasted criteria."""
    text = _INVISIBLE.sub("", _HTML_COMMENT.sub(" ", report))
    seen_blocks: set[str] = set()
    seen_sentences: set[str] = set()
    kept_blocks = []
    for block in re.split(r"\n\s*\n", text):
        key = normalize_text(block)
        if not key or key in seen_blocks:
            continue
        seen_blocks.add(key)
        if block.lstrip().startswith(("|", "#")):  # table rows and headings are kept whole
            kept_blocks.append(block)
            continue
        sentences = []
        for sentence in _SENTENCE.split(block):
            normalized = normalize_text(sentence)
            if not normalized or normalized in seen_sentences or _pastes(sentence, criteria):
                continue
            seen_sentences.add(normalized)
            sentences.append(sentence)
        if sentences:
            kept_blocks.append(" ".join(sentences))
    return "\n\n".join(kept_blocks)


def usable_quote(quote: str, report: str, criterion: str) -> bool:
    """Whether an evidence quote may support a verdict."""
    normalized = normalize_text(quote).strip(" .\"'")
    if len(normalized.split()) < MIN_QUOTE_WORDS:
        return False
    if normalized not in normalize_text(report):
        return False
    if _GRADING_TALK.search(quote):
        return False
    return not _pastes(quote, [criterion])
