"""Deterministic evaluation of rubric `check` specs against a report, and the ResearchRubrics score.

Reading a report: it is cut into units (paragraphs, and each table row on its own), units into sentences. A
value is *stated* for an entity when it occurs within ``window`` characters of a mention of the entity in the
same unit, in a sentence with no refutation cue ("not", "incorrect", "outdated", …): a report may quote a
wrong figure to reject it. Numbers match with a relative tolerance, or by rounding ("1.23 million" states
1,234,567). Citations are ``\\cite{url, …}``, ``[n]`` markers resolved through a reference list, and inline urls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from drgym.rewards.rubric import (
    CitationCheck,
    CoverageCheck,
    FactCheck,
    FaultCheck,
    MentionCheck,
    StructureCheck,
)

__all__ = ["CheckResult", "Verdict", "evaluate_check", "parse_numbers"]

Verdict = Literal["satisfied", "partially", "not_satisfied"]

_NUMBER = re.compile(
    r"(?<![\w.])([-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-−]?\d+(?:\.\d+)?)(?:\s*(thousand|million|billion|bn|[kKMB])\b)?")
_SCALES = {"thousand": 1e3, "k": 1e3, "K": 1e3, "million": 1e6, "M": 1e6, "billion": 1e9, "bn": 1e9, "B": 1e9}
_REFUTATION = re.compile(
    r"\b(not|no|never|incorrect|wrong|false|inaccurate|erroneous|outdated|out of date|unsupported|unreliable|"
    r"disputed|contradict\w*|debunk\w*|misreport\w*|mistaken|rumou?r\w*)\b", re.IGNORECASE)
_CITE = re.compile(r"\\cite\{([^}]*)\}")
_INLINE_URL = re.compile(r"(?:https?|local)://[^\s,;)\]}>]+")
_REF_MARK = re.compile(r"\[(\d{1,3})\]")
_REF_LINE = re.compile(r"^\s*\[(\d{1,3})\]:?\s.*?((?:https?|local)://[^\s,;)\]}>]+)", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[\\|])")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True)
class Number:
    start: int
    end: int
    value: float
    decimals: int
    scale: float


@dataclass(frozen=True)
class CheckResult:
    verdict: Verdict
    evidence: str
    """The report text that decided the verdict, or why nothing did."""


def parse_numbers(text: str) -> list[Number]:
    """Every number in `text` with its written precision and scale word."""
    numbers = []
    for match in _NUMBER.finditer(text):
        digits = match.group(1).replace(",", "").replace("−", "-")
        scale = _SCALES.get(match.group(2) or "", 1.0)
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        numbers.append(Number(match.start(), match.end(), float(digits) * scale, decimals, scale))
    return numbers


def _number_matches(number: Number, target: float, tolerance: float) -> bool:
    if abs(number.value - target) <= tolerance * abs(target) + 1e-9:
        return True
    if number.scale > 1:  # "1.23 million" states 1,234,567 when rounding agrees, with ≥ 2 significant digits
        stated = number.value / number.scale
        significant = len(f"{abs(stated):.{number.decimals}f}".replace(".", "").lstrip("0"))
        return significant >= 2 and round(target / number.scale, number.decimals) == round(stated, number.decimals)
    return False


@lru_cache(maxsize=4096)
def _target(value: str) -> float | None:
    numbers = parse_numbers(value)
    return numbers[0].value if numbers else None


@dataclass(frozen=True)
class _Unit:
    text: str
    sentences: tuple[tuple[int, int], ...]
    lower: str = ""


@lru_cache(maxsize=64)
def _read(report: str) -> tuple[tuple[_Unit, ...], dict[str, str]]:
    report = _HTML_COMMENT.sub(" ", report)
    references = {number: url for number, url in _REF_LINE.findall(report)}
    units = []
    for block in re.split(r"\n\s*\n", report):
        lines = block.split("\n")
        table_rows = [line for line in lines if line.lstrip().startswith("|")]
        prose = "\n".join(line for line in lines if not line.lstrip().startswith("|"))
        for text in [*table_rows, prose]:
            if not text.strip():
                continue
            bounds, start = [], 0
            for match in _SENTENCE_END.finditer(text):
                bounds.append((start, match.start()))
                start = match.end()
            bounds.append((start, len(text)))
            units.append(_Unit(text, tuple(bounds), text.lower()))
    return tuple(units), references


def _mentions(text: str, names: Sequence[str], lower: str | None = None) -> list[tuple[int, int]]:
    """Case-insensitive whole-word occurrences of any of `names` (plain string search: this is the hot path)."""
    lower = text.lower() if lower is None else lower
    spans = []
    for name in names:
        needle = name.lower()
        if not needle:
            continue
        at = lower.find(needle)
        while at != -1:
            end = at + len(needle)
            before_ok = at == 0 or not (lower[at - 1].isalnum() or lower[at - 1] == "_")
            after_ok = end == len(lower) or not (lower[end].isalnum() or lower[end] == "_")
            if before_ok and after_ok:
                spans.append((at, end))
            at = lower.find(needle, at + 1)
    return spans


@lru_cache(maxsize=1024)
def _entity_mentions(report: str, names: tuple[str, ...]) -> tuple[list[tuple[int, int]], ...]:
    """Mentions of an entity in each unit of a report (rubrics of one entity share them)."""
    units, _ = _read(report)
    return tuple(_mentions(unit.text, names, unit.lower) for unit in units)


@lru_cache(maxsize=65536)
def _unit_numbers(text: str) -> tuple[Number, ...]:
    return tuple(parse_numbers(text))


def _sentence_of(unit: _Unit, position: int) -> tuple[int, int]:
    for start, end in unit.sentences:
        if start <= position <= end:
            return start, end
    return unit.sentences[-1]


def _value_spans(text: str, value: str, numeric: bool, tolerance: float,
                 aliases: Sequence[str] = ()) -> list[tuple[int, int]]:
    if numeric:
        target = _target(value)
        if target is None:
            return []
        return [(n.start, n.end) for n in _unit_numbers(text) if _number_matches(n, target, tolerance)]
    return _mentions(text, [value, *aliases])


def _stated(report: str, entity: Sequence[str], value: str, *, numeric: bool, tolerance: float, window: int,
            context: Sequence[str] = (), aliases: Sequence[str] = ()) -> list[tuple[_Unit, tuple[int, int]]]:
    """(unit, sentence bounds) of every place the value is stated as fact near the entity."""
    units, _ = _read(report)
    found = []
    for unit, mentions in zip(units, _entity_mentions(report, tuple(entity))):
        if not mentions:
            continue
        for start, end in _value_spans(unit.text, value, numeric, tolerance, aliases):
            if not any(abs(start - m_end) <= window or abs(m_start - end) <= window for m_start, m_end in mentions):
                continue
            sentence = _sentence_of(unit, start)
            sentence_text = unit.text[sentence[0]:sentence[1]]
            without_value = sentence_text.replace(unit.text[start:end], " ")
            if _REFUTATION.search(without_value):
                continue
            nearby = unit.text[max(0, start - window):end + window].lower()
            if context and not all(word.lower() in nearby for word in context):
                continue
            found.append((unit, sentence))
    return found


def _citations(unit: _Unit, sentence: tuple[int, int], references: dict[str, str]) -> set[str]:
    text = unit.text[sentence[0]:sentence[1]]
    urls = {url.strip() for group in _CITE.findall(text) for url in group.split(",") if url.strip()}
    urls |= {url.rstrip(".") for url in _INLINE_URL.findall(_CITE.sub(" ", text))}
    urls |= {references[n] for n in _REF_MARK.findall(text) if n in references}
    return urls


def evaluate_check(check, report: str) -> CheckResult:
    """The verdict of one check spec on `report`; identical input gives an identical result."""
    if isinstance(check, FactCheck):
        stated = _stated(report, check.entity, check.value, numeric=check.numeric, tolerance=check.tolerance,
                         window=check.window, context=check.context, aliases=check.value_aliases)
        for wrong in check.wrong_values:
            contradicting = _stated(report, check.entity, wrong, numeric=check.numeric, tolerance=check.tolerance,
                                    window=check.window)
            if contradicting:
                unit, (start, end) = contradicting[0]
                return CheckResult("not_satisfied", f"states the wrong value {wrong}: {unit.text[start:end]!r}")
        if stated:
            unit, (start, end) = stated[0]
            return CheckResult("satisfied", unit.text[start:end])
        return CheckResult("not_satisfied", f"no sentence states {check.value} for {check.entity[0]}")
    if isinstance(check, FaultCheck):
        stated = _stated(report, check.entity, check.value, numeric=check.numeric, tolerance=check.tolerance,
                         window=check.window)
        if stated:
            unit, (start, end) = stated[0]
            return CheckResult("satisfied", unit.text[start:end])
        return CheckResult("not_satisfied", f"does not state {check.value} for {check.entity[0]}")
    if isinstance(check, CitationCheck):
        _, references = _read(report)
        stated = _stated(report, check.entity, check.value, numeric=check.numeric, tolerance=check.tolerance,
                         window=check.window)
        wanted = set(check.urls)
        for unit, sentence in stated:
            cited = _citations(unit, sentence, references)
            if cited & wanted:
                return CheckResult("satisfied", unit.text[sentence[0]:sentence[1]])
        if stated:
            return CheckResult("partially", f"states {check.value} without citing a supporting page")
        return CheckResult("not_satisfied", f"no sentence states {check.value} for {check.entity[0]}")
    if isinstance(check, CoverageCheck):
        units, _ = _read(report)
        covered = [names[0] for names in check.entities if any(_mentions(u.text, names, u.lower) for u in units)]
        fraction = len(covered) / len(check.entities)
        verdict: Verdict = "satisfied" if fraction >= check.min_fraction else "partially" if covered else "not_satisfied"
        return CheckResult(verdict, f"mentions {len(covered)} of {len(check.entities)}: {', '.join(covered)}")
    if isinstance(check, MentionCheck):
        units, _ = _read(report)
        for unit in units:
            for m_start, _m_end in _mentions(unit.text, check.entity):
                for t_start, _t_end in _mentions(unit.text, check.terms):
                    if abs(t_start - m_start) <= check.window:
                        sentence = _sentence_of(unit, m_start)
                        return CheckResult("satisfied", unit.text[sentence[0]:sentence[1]])
        return CheckResult("not_satisfied", f"{check.entity[0]} is never named near {check.terms[0]!r}")
    if isinstance(check, StructureCheck):
        body = _HTML_COMMENT.sub(" ", report)
        sections = len(re.findall(r"^#{1,6}\s+\S", body, re.MULTILINE))
        has_table = bool(re.search(r"^\s*\|.*\|\s*\n\s*\|\s*:?-{3,}", body, re.MULTILINE))
        words = len(re.findall(r"\w+", body))
        problems = []
        if sections < check.min_sections:
            problems.append(f"{sections} section headings, {check.min_sections} needed")
        if check.needs_table and not has_table:
            problems.append("no table")
        if words < check.min_words:
            problems.append(f"{words} words, at least {check.min_words} needed")
        if check.max_words is not None and words > check.max_words:
            problems.append(f"{words} words, at most {check.max_words} allowed")
        summary = f"{sections} sections, table: {has_table}, {words} words"
        return CheckResult("not_satisfied" if problems else "satisfied", "; ".join(problems) or summary)
    raise TypeError(f"unknown check type {type(check).__name__}")
