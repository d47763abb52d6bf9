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

# Thousands grouped by commas, by (narrow no-break) spaces or, with two groups or more, by dots (1.985.524);
# a figure after "±" or before "%" is a margin, not a value.
_NUMBER = re.compile(
    r"(?<![\w.±])([-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-−]?\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?![\d.,])|"
    r"[-−]?\d{1,3}(?:\.\d{3}){2,}(?![\d,])|[-−]?\d+(?:\.\d+)?)(?!\d)(?!\s?%)"
    r"(?:\s*(thousand|million|billion|mn|bn|[kKMB])\b)?")
_SCALES = {"thousand": 1e3, "k": 1e3, "K": 1e3, "million": 1e6, "mn": 1e6, "M": 1e6, "billion": 1e9, "bn": 1e9,
           "B": 1e9}
# A sentence with one of these does not state its values as fact: negation (with contractions), rejection,
# and hedging or attribution to hearsay ("some say", "reportedly").
_REFUTATION = re.compile(
    r"\b(not|no|none|nor|neither|never|nothing|nobody|cannot|hardly|barely|scarcely|no longer|"
    r"(?:is|was|are|were|do|does|did|has|have|had|ca|could|would|should|wo|must|need|might|ai)n'?t|"
    r"incorrect\w*|wrong\w*|fals\w*|untrue|inaccura\w*|erroneous\w*|outdated|out of date|obsolete|superseded|"
    r"unsupported|unreliable|unverified|unconfirmed|disputed|dubious|doubt\w*|questionable|contradict\w*|"
    r"debunk\w*|misreport\w*|mistaken\w*|fabricat\w*|fake|bogus|hoax|myth|rumou?r\w*|contrary|den(?:y|ies|ied)|"
    r"reportedly|allegedly|supposedly|purportedly|apparently|arguably|seemingly|seems?|appears? to|"
    r"some (?:say|said|claim|claimed|believe|think|sources?)|it is (?:said|claimed|thought|believed|rumou?red)|"
    r"is (?:thought|believed|estimated|rumou?red|said)|claim(?:s|ed)?|"
    r"maybe|perhaps|possibly|probabl\w*|likely|unlikely|might|may have|may be|could be|uncertain|unclear)\b",
    re.IGNORECASE)
# Words that place a superseded value in the past even without its year.
_PAST_MARKER = re.compile(r"\b(previously|formerly|earlier|used to|once|prior|back in|historically|until|"
                          r"from\b[^.;]{0,60}\bto)\b",
                          re.IGNORECASE)
_CITATION_AFTER_STOP = re.compile(r"([.!?])((?:[ \t]*(?:\\cite\{[^}\n]{0,2000}\}|\[\d{1,3}\]))+)")
BARE_YEAR = re.compile(r"(1[89]|20)\d\d")
"""A year written as four bare digits (no comma or decimals): a date, not a figure."""
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
    fault: str = ""
    """An integrity fault this result is evidence of (`drgym.rewards.integrity`): ``contradiction`` (the claim
    and its opposite: a value asserted and refuted, a rival named in the role, a trend and its opposite) or
    ``outdated`` (a superseded value stated as current, alone or in a list of candidates)."""


def parse_numbers(text: str) -> list[Number]:
    """Every number in `text` with its written precision and scale word."""
    numbers = []
    for match in _NUMBER.finditer(text):
        digits = re.sub(r"[,\s\u00a0\u202f\u2009]", "", match.group(1)).replace("−", "-")
        if digits.count(".") > 1:  # 1.985.524: dots group thousands
            digits = digits.replace(".", "")
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
    """The unit with citations and urls blanked out (same length), so "org-00069" in a url is no figure."""
    sentences: tuple[tuple[int, int], ...]
    lower: str = ""
    raw: str = ""
    """The unit as written, citations included."""
    header: str = ""
    """For a table row: its table's first row, lowercased (the column names)."""


CITATION_MARKS = re.compile(r"\\cite\{[^}\n]{0,2000}\}|\[\d{1,3}\]|(?:https?|local)://[^\s,;)\]}>]+")
"""Every citation a report can write: ``\\cite{…}``, ``[n]`` markers and inline urls."""


def _blank_citations(text: str) -> str:
    return CITATION_MARKS.sub(lambda m: " " * len(m.group(0)), text)


def attach_citations(text: str) -> str:
    """Moves citation markers written after a sentence's full stop ("… 12.3. \\cite{u}") before it, where they
    belong to that sentence rather than starting the next one."""
    return _CITATION_AFTER_STOP.sub(r"\2\1", text)


@lru_cache(maxsize=64)
def _read(report: str) -> tuple[tuple[_Unit, ...], dict[str, str]]:
    report = attach_citations(_HTML_COMMENT.sub(" ", report))
    references = {number: url for number, url in _REF_LINE.findall(report)}
    units = []
    for block in re.split(r"\n\s*\n", report):
        lines = block.split("\n")
        table_rows = [line for line in lines if line.lstrip().startswith("|")]
        prose = "\n".join(line for line in lines if not line.lstrip().startswith("|"))
        header = table_rows[0].lower() if table_rows else ""
        for text in [*table_rows, prose]:
            if not text.strip():
                continue
            bounds, start = [], 0
            for match in _SENTENCE_END.finditer(text):
                bounds.append((start, match.start()))
                start = match.end()
            bounds.append((start, len(text)))
            masked = _blank_citations(text)
            units.append(_Unit(masked, tuple(bounds), masked.lower(), text, header if text in table_rows else ""))
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


def in_unit(number: Number, unit_scale: float) -> Number:
    """A figure written with a scale word ("$12.2 million", "7.34 billion") in a unit that is itself scaled
    (USD million): 12.2 and 7,340."""
    if unit_scale <= 1 or number.scale < unit_scale:
        return number
    return Number(number.start, number.end, number.value / unit_scale, number.decimals, number.scale / unit_scale)


def _value_spans(text: str, value: str, numeric: bool, tolerance: float,
                 aliases: Sequence[str] = (), unit_scale: float = 1.0) -> list[tuple[int, int]]:
    if numeric:
        target = _target(value)
        if target is None:
            return []
        # a bare four-digit year ("For 2023, …") is a date, not the figure 2,016 or 2,020.0
        value_is_year = bool(BARE_YEAR.fullmatch(value.strip()))
        return [(n.start, n.end) for n in _unit_numbers(text)
                if (_number_matches(n, target, tolerance) or _number_matches(in_unit(n, unit_scale), target, tolerance))
                and (value_is_year or not BARE_YEAR.fullmatch(text[n.start:n.end]))]
    return _mentions(text, [value, *aliases])


def _occurrences(report: str, entity: Sequence[str], value: str, *, numeric: bool, tolerance: float, window: int,
                 context: Sequence[str] = (), aliases: Sequence[str] = (), label_terms: Sequence[str] = (),
                 unit_scale: float = 1.0
                 ) -> tuple[list[tuple[_Unit, tuple[int, int]]], list[tuple[_Unit, tuple[int, int]]]]:
    """Where the value is written near the entity: (stated as fact, refuted or hedged), as (unit, sentence)."""
    units, _ = _read(report)
    stated, refuted = [], []
    for unit, mentions in zip(units, _entity_mentions(report, tuple(entity))):
        if not mentions:
            continue
        for start, end in _value_spans(unit.text, value, numeric, tolerance, aliases, unit_scale):
            if not any(abs(start - m_end) <= window or abs(m_start - end) <= window for m_start, m_end in mentions):
                continue
            sentence = _sentence_of(unit, start)
            sentence_text = unit.text[sentence[0]:sentence[1]]
            without_value = sentence_text.replace(unit.text[start:end], " ")
            if label_terms and not _names_attribute(unit, sentence, start, label_terms):
                continue
            if _REFUTATION.search(without_value):
                # a refutation speaks of this entity only when it names it in the same sentence
                if any(sentence[0] <= m_start < sentence[1] for m_start, _ in mentions):
                    refuted.append((unit, sentence))
                continue
            nearby = unit.text[max(0, start - window):end + window].lower()
            if context and not all(word.lower() in nearby for word in context):
                continue
            stated.append((unit, sentence))
    return stated, refuted


def _names_attribute(unit: _Unit, sentence: tuple[int, int], position: int, terms: Sequence[str]) -> bool:
    """Whether the attribute is named for the figure at `position`: in its sentence, or for a table row in the
    header of the figure's column."""
    if not unit.header:
        return any(term in unit.lower[sentence[0]:sentence[1]] for term in terms)
    column = unit.text.count("|", 0, position)
    cells = unit.header.split("|")
    if column < len(cells) and any(term in cells[column] for term in terms):
        return True
    # a row of one metric ("| 2022 | annual revenue of X | 59.4 |") names it in its own cells
    return not any(term in unit.header for term in terms) and any(term in unit.lower for term in terms)


def _stated(report: str, entity: Sequence[str], value: str, *, numeric: bool, tolerance: float, window: int,
            context: Sequence[str] = (), aliases: Sequence[str] = (),
            label_terms: Sequence[str] = (), unit_scale: float = 1.0) -> list[tuple[_Unit, tuple[int, int]]]:
    """(unit, sentence bounds) of every place the value is stated as fact near the entity."""
    return _occurrences(report, entity, value, numeric=numeric, tolerance=tolerance, window=window,
                        context=context, aliases=aliases, label_terms=label_terms, unit_scale=unit_scale)[0]


def _stated_as_current(report: str, entity: Sequence[str], value: str, years: set[int], *, tolerance: float,
                       window: int, label_terms: Sequence[str] = (),
                       unit_scale: float = 1.0) -> list[tuple[_Unit, tuple[int, int]]]:
    """Places a superseded value is stated as fact without one of its `years` or a past marker in the sentence (and, with
    `label_terms`, where the attribute is named)."""
    found = []
    for unit, (start, end) in _stated(report, entity, value, numeric=True, tolerance=tolerance, window=window,
                                      label_terms=label_terms, unit_scale=unit_scale):
        sentence = unit.text[start:end]
        if not any(str(year) in sentence for year in years) and not _PAST_MARKER.search(sentence):
            found.append((unit, (start, end)))
    return found


def _citations(unit: _Unit, sentence: tuple[int, int], references: dict[str, str]) -> set[str]:
    text = unit.raw[sentence[0]:sentence[1]]
    urls = {url.strip() for group in _CITE.findall(text) for url in group.split(",") if url.strip()}
    urls |= {url.rstrip(".") for url in _INLINE_URL.findall(_CITE.sub(" ", text))}
    urls |= {references[n] for n in _REF_MARK.findall(text) if n in references}
    return urls


_NOT_CLAIMED = re.compile(r"\b(ahead of|than|followed by|compared (with|to)|unlike|versus|vs|behind|beats?|"
                          r"outpac\w+|surpass\w+|trails?|trailing)\b[^.;]{0,40}$", re.IGNORECASE)
# A sentence holds several claims when clauses are joined like this; a term claims only within its clause.
_CLAUSE_BREAK = re.compile(r";|,\s*(?:while|whereas|but|although|though|yet)\b|\s(?:while|whereas)\s", re.IGNORECASE)


def _clause_of(unit: _Unit, position: int) -> tuple[int, int]:
    """The clause of the sentence around `position` ("X has the most staff, while Y has the highest revenue")."""
    start, end = _sentence_of(unit, position)
    for match in _CLAUSE_BREAK.finditer(unit.text, start, end):
        if match.end() <= position:
            start = match.end()
        elif match.start() >= position:
            end = match.start()
            break
    return start, end


def _evaluate_mention(check: MentionCheck, report: str) -> CheckResult:
    """An analysis claim: the report commits to the entity in the role (near a term) and to nothing else.

    Every sentence with a term (and no negation or hedge) claims the candidates it names near the term,
    except those introduced as the comparison ("ahead of Y", "than Z"). Satisfied when the entity is claimed
    and no rival is, and no contrary term ("declined" for a growth) is said of the entity. Claiming both the
    entity and a rival (or a term and its contrary) is a contradiction; claiming only a rival is just wrong.
    """
    units, _ = _read(report)
    candidates = [check.entity, *check.rivals]
    contrary = {t.lower() for t in check.contrary_terms}
    claimed: dict[tuple[int, bool], str] = {}  # (candidate index, said with a contrary term) -> sentence
    topics = [t.lower() for t in check.topic_terms]
    for unit in units:
        for t_start, t_end in _mentions(unit.text, [*check.terms, *check.contrary_terms], unit.lower):
            bounds = _clause_of(unit, t_start)
            sentence = unit.text[bounds[0]:bounds[1]]
            if _REFUTATION.search(sentence) or (topics and not any(t in unit.lower[bounds[0]:bounds[1]] for t in topics)):
                continue
            is_contrary = unit.lower[t_start:t_end] in contrary
            for index, names in enumerate(candidates):
                for m_start, m_end in _mentions(unit.text, names, unit.lower):
                    if not (bounds[0] <= m_start <= bounds[1]) or min(abs(m_start - t_end), abs(t_start - m_end)) > check.window:
                        continue
                    if _NOT_CLAIMED.search(unit.text[max(bounds[0], m_start - 60):m_start]):
                        continue
                    claimed.setdefault((index, is_contrary), sentence)
    target = claimed.get((0, False))
    rival = next((sentence for (index, _), sentence in claimed.items() if index > 0), None)
    opposite = claimed.get((0, True))
    if target and (rival or opposite):
        return CheckResult("not_satisfied", f"claims {check.entity[0]} ({target!r}) and the opposite "
                                            f"({(rival or opposite)!r})", fault="contradiction")
    if target:
        return CheckResult("satisfied", target)
    if rival or opposite:
        return CheckResult("not_satisfied", f"claims another candidate: {(rival or opposite)!r}")
    return CheckResult("not_satisfied", f"{check.entity[0]} is never named near {check.terms[0]!r}")


def evaluate_check(check, report: str) -> CheckResult:
    """The verdict of one check spec on `report`; identical input gives an identical result."""
    if isinstance(check, FactCheck):
        stated, refuted = _occurrences(report, check.entity, check.value, numeric=check.numeric,
                                       tolerance=check.tolerance, window=check.window, context=check.context,
                                       aliases=check.value_aliases, label_terms=check.label_terms,
                                       unit_scale=check.unit_scale)
        for wrong in check.wrong_values:
            contradicting = _stated(report, check.entity, wrong, numeric=check.numeric, tolerance=check.tolerance,
                                    window=check.window, unit_scale=check.unit_scale)
            if contradicting:
                unit, (start, end) = contradicting[0]
                return CheckResult("not_satisfied", f"states the wrong value {wrong}: {unit.text[start:end]!r}")
        current = _target(check.value) if check.numeric else None
        for old_value, year in check.superseded:
            old = _target(old_value)
            if current is None or old is None or abs(old - current) <= 2 * check.tolerance * abs(current):
                continue
            # history values within the tolerance of each other are one figure: any of their years dates it
            years = {other_year for other_value, other_year in check.superseded
                     if (other := _target(other_value)) is not None and abs(other - old) <= 2 * check.tolerance * abs(old)}
            as_current = _stated_as_current(report, check.entity, old_value, years | {year},
                                            tolerance=check.tolerance, window=check.window,
                                            label_terms=check.label_terms, unit_scale=check.unit_scale)
            if as_current:
                unit, (start, end) = as_current[0]
                return CheckResult("not_satisfied", f"states the {year} value {old_value} as current: "
                                                    f"{unit.text[start:end]!r}", fault="outdated")
        if stated and refuted:
            unit, (start, end) = refuted[0]
            return CheckResult("not_satisfied", f"both asserts and contradicts {check.value}: "
                                                f"{unit.text[start:end]!r}", fault="contradiction")
        if stated:
            unit, (start, end) = stated[0]
            return CheckResult("satisfied", unit.text[start:end])
        return CheckResult("not_satisfied", f"no sentence states {check.value} for {check.entity[0]}")
    if isinstance(check, FaultCheck):
        stated = _stated(report, check.entity, check.value, numeric=check.numeric, tolerance=check.tolerance,
                         window=check.window, unit_scale=check.unit_scale)
        if stated:
            unit, (start, end) = stated[0]
            return CheckResult("satisfied", unit.text[start:end])
        return CheckResult("not_satisfied", f"does not state {check.value} for {check.entity[0]}")
    if isinstance(check, CitationCheck):
        _, references = _read(report)
        stated = _stated(report, check.entity, check.value, numeric=check.numeric, tolerance=check.tolerance,
                         window=check.window, unit_scale=check.unit_scale)
        wanted = set(check.urls)
        for unit, sentence in stated:
            cited = _citations(unit, sentence, references)
            if cited & wanted:
                return CheckResult("satisfied", unit.raw[sentence[0]:sentence[1]])
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
        return _evaluate_mention(check, report)
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
