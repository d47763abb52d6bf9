"""Deterministic evaluation of rubric `check` specs against a report, and the ResearchRubrics score.

Reading a report: it is cut into units (paragraphs, and each table row on its own), units into sentences. A
value is *stated* for an entity when it occurs within ``window`` characters of a mention of the entity in the
same unit, in a sentence with no refutation cue ("not", "incorrect", "outdated", …): a report may quote a
wrong figure to reject it. Numbers match with a relative tolerance, or by rounding ("1.23 million" states
1,234,567). Citations are ``\\cite{url, …}``, ``[n]`` markers resolved through a reference list, and inline urls.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

from drgym.rewards.rubric import (
    CitationCheck,
    CoverageCheck,
    FactCheck,
    FaultCheck,
    MentionCheck,
    StructureCheck,
)

__all__ = ["CheckResult", "ReportAnalysis", "Verdict", "analyse_report", "evaluate_check", "parse_numbers"]

Verdict = Literal["satisfied", "partially", "not_satisfied"]

# Thousands grouped by commas, by (narrow no-break) spaces or, with two groups or more, by dots (1.985.524);
# a figure after "±" or before "%" is a margin, not a value.
_NUMBER = re.compile(
    r"(?<![\w.±])([-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-−]?\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?![\d.,])|"
    r"[-−]?\d{1,3}(?:\.\d{3}){2,}(?![\d,])|[-−]?\d+(?:\.\d+)?)(?!\d)(?!\.\d)(?!\s?%)"
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
# `_REFUTATION` decided without running it on most text: its single-word alternatives as words (and the
# apostrophe-free contractions), and substrings at least one of which every other alternative's match contains
# (lowercased); text with none of either has no cue. Checked against the regex in tests/rewards/test_checks.py.
_CUE_WORDS = frozenset("""
not no none nor neither never nothing nobody cannot hardly barely scarcely
isnt wasnt arent werent dont doesnt didnt hasnt havent hadnt cant couldnt wouldnt shouldnt wont mustnt neednt mightnt
aint untrue outdated obsolete superseded unsupported unreliable unverified unconfirmed disputed dubious questionable
fake bogus hoax myth contrary deny denies denied reportedly allegedly supposedly purportedly apparently arguably
seemingly seem seems claim claims claimed maybe perhaps possibly likely unlikely might uncertain unclear
""".split())
_CUE_GATES = ("'t", "incorrect", "wrong", "fals", "inaccura", "erroneous", "doubt", "contradict", "debunk",
              "misreport", "mistaken", "fabricat", "rumor", "rumour", "probabl", "out of date", "appear", "some ",
              "is said", "is thought", "is believed", "is estimated", "is rumo", "may have", "may be", "could be")
_GATE_PROBES = tuple((gate, {"'t": "'", "out of date": "date", "some ": "some", "is said": "said",
                             "is thought": "thought", "is believed": "believed", "is estimated": "estimated",
                             "is rumo": "rumo", "may have": "may", "may be": "may", "could be": "could"}.get(gate, gate))
                     for gate in _CUE_GATES)
"""Each gate with a part of it looked for first: a gate with a space in it is slow to look for in prose (spaces are
everywhere), its rarest word is quick to look for and mostly absent; "'t" after its apostrophe."""
_WORD = re.compile(r"\w+")
# \w in ASCII text, character by character: a word character stays, any other becomes a space.
_NON_WORD_TO_SPACE = str.maketrans({chr(code): " " for code in range(128)
                                    if not (chr(code).isalnum() or chr(code) == "_")})


def ascii_words(text: str) -> list[str]:
    """``re.findall(r"\\w+", text)`` for ASCII `text`, a few times faster (one translation, one split)."""
    return text.translate(_NON_WORD_TO_SPACE).split()


def refutes(text: str) -> bool:
    """Whether `text` has a negation, rejection or hedging cue (`_REFUTATION`), in a few microseconds for ASCII text.

    Exactly ``_REFUTATION.search(text) is not None``: a word of `_CUE_WORDS` decides yes; text without any of them
    and without any `_CUE_GATES` substring has no cue (every other alternative's match holds one); the regex decides
    the rest and all non-ASCII text (case-insensitive matching equates a few non-ASCII letters with ASCII ones).
    """
    if not text.isascii():
        return _REFUTATION.search(text) is not None
    return _refutes_ascii(text)


def _refutes_ascii(text: str, *, words: bool = True, gates: tuple[str, ...] = _CUE_GATES) -> bool:
    """`refutes` of ASCII `text` that is part of a larger text known to have cue words only if `words`, and of
    the gate substrings only `gates`."""
    lowered = text.lower()
    if words and not _CUE_WORDS.isdisjoint(ascii_words(lowered)):
        return True
    if any(gate in lowered for gate in gates):
        return _REFUTATION.search(text) is not None
    return False


# Words that place a superseded value in the past even without its year.
_PAST_MARKER = re.compile(r"\b(previously|formerly|earlier|used to|once|prior|back in|historically|until|"
                          r"from\b[^.;]{0,60}\bto)\b",
                          re.IGNORECASE)
_CITATION_AFTER_STOP = re.compile(r"([.!?])((?:[ \t]*(?:\\cite\{[^}\n]{0,2000}\}|\[\d{1,3}\]))+)")
BARE_YEAR = re.compile(r"(1[89]|20)\d\d")
"""A year written as four bare digits (no comma or decimals): a date, not a figure."""


def _is_bare_year(text: str) -> bool:
    """``BARE_YEAR.fullmatch(text)``, without the regex (`str.isdecimal` is what `\\d` matches)."""
    return len(text) == 4 and text[:2] in ("18", "19", "20") and text[2:].isdecimal()
_CITE = re.compile(r"\\cite\{([^}]*)\}")
_INLINE_URL = re.compile(r"(?:https?|local)://[^\s,;)\]}>]+")
_REF_MARK = re.compile(r"\[(\d{1,3})\]")
_REF_LINE = re.compile(r"^\s*\[(\d{1,3})\]:?\s.*?((?:https?|local)://[^\s,;)\]}>]+)", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[\\|])")
# The same breaks (group 1), found from their full stop: a pattern that starts with a character class is tried
# only at those characters, one that starts with a look-behind at every position.
_SENTENCE_STOP = re.compile(r"[.!?](\s+)(?=[A-Z0-9\"'(\[\\|])")
_STOP_SPACE = re.compile(r"[.!?](\s+)")
_SECTION = re.compile(r"^#{1,6}\s+\S", re.MULTILINE)
_TABLE = re.compile(r"^\s*\|.*\|\s*\n\s*\|\s*:?-{3,}", re.MULTILINE)
# \w in ASCII text, byte by byte: word characters become "a", all others a space.
_WORD_BYTES = bytes(ord("a") if (chr(code).isalnum() or chr(code) == "_") else ord(" ") for code in range(128)) + \
    b" " * 128
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_BLOCK_BREAK = re.compile(r"\n\s*\n")


class Number(NamedTuple):
    """A figure as written: its span, its value (scale word applied), its decimals and its scale word's factor."""

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


# A figure's digits hold nothing else `_NUMBER` lets through: group separators (commas, spaces) and the minus sign.
_DIGITS = str.maketrans({",": None, " ": None, "\u00a0": None, "\u202f": None, "\u2009": None, "−": "-"})


# Where a figure may start: `_NUMBER` is tried only there (it would try every position of the text). In ASCII
# text the digits are 0-9, and a range is quicker to test than the digit category.
_NUMBER_START = re.compile(r"[-−\d]")
_ASCII_NUMBER_START = re.compile(r"[-0-9]")


def _number_matches_in(text: str) -> Iterator[re.Match]:
    """`_NUMBER.finditer(text)`: the leftmost match from each position on, tried where a figure can start."""
    position = 0
    starts = _ASCII_NUMBER_START if text.isascii() else _NUMBER_START
    while (start := starts.search(text, position)) is not None:
        match = _NUMBER.match(text, start.start())
        if match is None:
            position = start.start() + 1
            continue
        yield match
        position = match.end()


def parse_numbers(text: str) -> list[Number]:
    """Every number in `text` with its written precision and scale word."""
    numbers = []
    for match in _number_matches_in(text):
        figure, scale_word = match.groups()
        digits = figure.translate(_DIGITS)
        if digits.count(".") > 1:  # 1.985.524: dots group thousands
            digits = digits.replace(".", "")
        scale = _SCALES.get(scale_word or "", 1.0)
        decimals = len(digits) - digits.index(".") - 1 if "." in digits else 0
        start, end = match.span()
        numbers.append(Number(start, end, float(digits) * scale, decimals, scale))
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


class _Unit(NamedTuple):
    """A paragraph or a table row, split into sentences."""

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
    if "\\" not in text and "[" not in text and "://" not in text:  # what every citation mark holds
        return text
    return CITATION_MARKS.sub(lambda m: " " * len(m.group(0)), text)


def attach_citations(text: str) -> str:
    """Moves citation markers written after a sentence's full stop ("… 12.3. \\cite{u}") before it, where they
    belong to that sentence rather than starting the next one."""
    if not _citation_after_stop(text):
        return text
    return _CITATION_AFTER_STOP.sub(_citations_first, text)


def _citation_after_stop(text: str) -> bool:
    """Whether a citation mark follows a full stop (after spaces or tabs): what every match of
    `_CITATION_AFTER_STOP` starts with. Looked for from the marks, which are rare, not from the stops."""
    for mark in ("\\cite{", "["):
        at = text.find(mark)
        while at != -1:
            before = at - 1
            while before >= 0 and text[before] in " \t":
                before -= 1
            if before >= 0 and text[before] in ".!?" and (mark != "[" or text[at + 1:at + 2].isdecimal()):
                return True
            at = text.find(mark, at + 1)
    return False


def _citations_first(match: re.Match) -> str:
    return match.group(2) + match.group(1)


def _read(report: str) -> tuple[tuple[_Unit, ...], dict[str, str]]:
    report = attach_citations(_HTML_COMMENT.sub(" ", report))
    references = {number: url for number, url in _REF_LINE.findall(report)} if "[" in report else {}
    units = []
    for block in _BLOCK_BREAK.split(report):
        lines = block.split("\n")
        table_rows = [line for line in lines if line.lstrip().startswith("|")]
        prose = "\n".join(line for line in lines if not line.lstrip().startswith("|"))
        header = table_rows[0].lower() if table_rows else ""
        for text in [*table_rows, prose]:
            if not text.strip():
                continue
            bounds, start = [], 0
            for match in _SENTENCE_STOP.finditer(text):
                bounds.append((start, match.start(1)))
                start = match.end(1)
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


_Occurrences = tuple[list[tuple[_Unit, tuple[int, int]]], list[tuple[_Unit, tuple[int, int]]]]


class ReportAnalysis:
    """A report read once for all the checks on it; `evaluate_check` takes one in place of the text.

    The report is split into units, sentences and references once; entity mentions, the figures near each
    entity, refutation cues and headings are worked out when a check first asks and shared with every later
    check (a task's rubrics name the same entities and figures many times over). Results are those of reading
    the text afresh for each check.

    Example:
        >>> analysis = analyse_report("Zewo reported revenue of 12.3 USD million in 2023.")
        >>> evaluate_check(FactCheck(entity=["Zewo"], value="12.3"), analysis).verdict
        'satisfied'
    """

    def __init__(self, report: str) -> None:
        self.report = report
        self.units, self.references = _read(report)
        # every unit's lowercased text in one string, so that a name is looked for once, not once per unit
        self._joined = "\n".join(unit.lower for unit in self.units)
        self._offsets = list(itertools.accumulate((len(unit.lower) + 1 for unit in self.units[:-1]), initial=0))
        self._mentions: dict[tuple[str, ...], tuple[Sequence[tuple[int, int]], ...]] = {}
        self._numbers: dict[int, tuple[tuple[Number, bool], ...]] = {}
        self._figures: dict[tuple[str, ...], list[tuple[int, Number, bool]]] = {}
        self._figure_sizes: dict[tuple[tuple[str, ...], float], list[float]] = {}
        self._refuted: dict[tuple[int, int, int, str], bool] = {}
        self._sentence_refuted: dict[tuple[int, int, int], bool] = {}
        self._unit_refuted: dict[int, bool] = {}
        self._cues: tuple[bool, tuple[str, ...]] | None = None
        self._structure: tuple[int, bool, int] | None = None
        self._words: frozenset[str] | None = None

    def words(self) -> frozenset[str]:
        """The report's words, lowercase (read once): a name none of whose mentions can start here is not named."""
        if self._words is None:
            joined = self._joined
            self._words = frozenset(ascii_words(joined) if joined.isascii() else _WORD.findall(joined))
        return self._words

    def mentions(self, names: Sequence[str]) -> tuple[Sequence[tuple[int, int]], ...]:
        """Whole-word mentions of any of `names` in each unit (shared: do not modify)."""
        key = tuple(names)
        found = self._mentions.get(key)
        if found is None:
            if "\n" in "".join(key):  # a name could run across units in the joined text
                found = tuple(_mentions(unit.text, key, unit.lower) for unit in self.units)
            else:  # units without a mention share one empty tuple
                spans: list[Sequence[tuple[int, int]]] = [()] * len(self.units)
                offsets = self._offsets
                for start, end in _mentions(self._joined, key, self._joined):
                    index = bisect_right(offsets, start) - 1
                    if not spans[index]:
                        spans[index] = []
                    spans[index].append((start - offsets[index], end - offsets[index]))  # type: ignore[union-attr]
                found = tuple(spans)
            self._mentions[key] = found
        return found

    def numbers(self, index: int) -> tuple[tuple[Number, bool], ...]:
        """The figures of unit `index`, each with whether it is written as a bare year."""
        found = self._numbers.get(index)
        if found is None:
            text = self.units[index].text
            found = self._numbers[index] = tuple((number, _is_bare_year(text[number.start:number.end]))
                                                 for number in parse_numbers(text))
        return found

    def figures(self, entity: Sequence[str]) -> list[tuple[int, Number, bool]]:
        """(unit index, figure, whether a bare year) of every figure in a unit that mentions the entity, in order."""
        key = tuple(entity)
        found = self._figures.get(key)
        if found is None:
            found = self._figures[key] = [(index, number, is_bare_year)
                                          for index, mentions in enumerate(self.mentions(key)) if mentions
                                          for number, is_bare_year in self.numbers(index)]
        return found

    def figure_count(self, entity: Sequence[str], unit_scale: float, tolerance: float, low: float,
                     high: float) -> int:
        """How many figures of a size from `low` to `high` (not bare years, beyond twice `tolerance` of each other)
        the units that mention the entity hold: an upper bound of the figures of that size any fact of the entity
        states."""
        key = (tuple(entity), unit_scale)
        values = self._figure_sizes.get(key)
        if values is None:
            values = self._figure_sizes[key] = sorted(abs(in_unit(number, unit_scale).value)
                                                      for _, number, is_bare_year in self.figures(entity)
                                                      if not is_bare_year)
        return _clusters(values[bisect_left(values, low):bisect_right(values, high)], tolerance)

    def refutes_without(self, index: int, sentence: tuple[int, int], value: str) -> bool:
        """Whether sentence `sentence` of unit `index` refutes or hedges once every `value` in it is blanked.

        A sentence without a cue gains none when a value with no letter or digit on either side is blanked (cue
        words begin and end with letters, and their spaces stand between letters), so one look at the sentence
        decides all the values found in it.
        """
        key = (index, sentence[0], sentence[1], value)
        found = self._refuted.get(key)
        if found is None:
            text = self.units[index].text[sentence[0]:sentence[1]]
            if not self.refutes_in(index, sentence) and _stands_alone(text, value):
                found = False
            else:  # the blanked sentence is not kept: a policy writes it, and could write it long
                found = refutes(text.replace(value, " "))
            self._refuted[key] = found
        return found

    def refutes_in(self, index: int, span: tuple[int, int]) -> bool:
        """Whether `span` of unit `index` (a sentence or a clause: it starts and ends beside a space or a stop)
        refutes or hedges; a unit with no cue at all answers for all of its sentences."""
        has_cue = self._unit_refuted.get(index)
        if has_cue is None:
            has_cue = self._unit_refuted[index] = self._refutes_part(self.units[index].text)
        if not has_cue:
            return False
        key = (index, *span)
        has_cue = self._sentence_refuted.get(key)
        if has_cue is None:
            has_cue = self._sentence_refuted[key] = self._refutes_part(self.units[index].text[span[0]:span[1]])
        return has_cue

    def _refutes_part(self, text: str) -> bool:
        """`refutes` of a unit or a part of one. When every unit is ASCII, the whole report is looked at once for
        cue words and gate substrings: a part holds only what the whole does (all of it, in a report without
        cues)."""
        if self._cues is None:
            if all(unit.text.isascii() for unit in self.units):
                joined = self._joined
                self._cues = (not _CUE_WORDS.isdisjoint(self.words()),
                              tuple(gate for gate, probe in _GATE_PROBES if probe in joined and gate in joined))
            else:
                self._cues = (True, _CUE_GATES)
        words, gates = self._cues
        if not words and not gates:
            return False
        return _refutes_ascii(text, words=words, gates=gates) if text.isascii() else refutes(text)

    def structure(self) -> tuple[int, bool, int]:
        """Section headings, whether there is a table, and words, of the whole report."""
        if self._structure is None:
            body = _HTML_COMMENT.sub(" ", self.report)
            self._structure = (_count_sections(body), _has_table(body), count_words(body))
        return self._structure


@lru_cache(maxsize=16)
def analyse_report(report: str) -> ReportAnalysis:
    """The `ReportAnalysis` of `report` (the last few are kept: checks of one report share one)."""
    return ReportAnalysis(report)


def split_sentences(text: str) -> list[str]:
    """``re.split(r"(?<=[.!?])\\s+", text)``: the whitespace after each full stop splits, found from the stops."""
    pieces, start = [], 0
    for match in _STOP_SPACE.finditer(text):
        pieces.append(text[start:match.start(1)])
        start = match.end(1)
    pieces.append(text[start:])
    return pieces


def count_words(text: str) -> int:
    """``len(re.findall(r"\\w+", text))``, without making the words for ASCII text."""
    if not text.isascii():
        return len(_WORD.findall(text))
    mapped = text.encode("ascii").translate(_WORD_BYTES)
    return mapped.count(b" a") + mapped.startswith(b"a")


def _count_sections(text: str) -> int:
    """``len(_SECTION.findall(text))``, trying the pattern only where a heading can start (at a "#")."""
    count, position = 0, 0
    while (at := text.find("#", position)) != -1:
        match = _SECTION.match(text, at)
        count += match is not None
        position = at + 1 if match is None else match.end()
    return count


def _has_table(text: str) -> bool:
    """``_TABLE.search(text) is not None``, trying only lines whose first visible character is "|" (a match that
    starts on a blank line above one also starts at that line)."""
    if "|" not in text:
        return False
    line_start = 0
    for line in text.split("\n"):
        if line.lstrip().startswith("|") and _TABLE.match(text, line_start):
            return True
        line_start += len(line) + 1
    return False


def _is_word_character(character: str) -> bool:
    return character.isalnum() or character == "_"  # what `\w` matches


def _stands_alone(text: str, value: str) -> bool:
    """Whether every occurrence of `value` in `text` (as `str.replace` finds them) has no word character beside it."""
    at = text.find(value)
    while at != -1:
        end = at + len(value)
        if (at > 0 and _is_word_character(text[at - 1])) or (end < len(text) and _is_word_character(text[end])):
            return False
        at = text.find(value, end)
    return True


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


def _value_spans(analysis: ReportAnalysis, entity: Sequence[str], value: str, numeric: bool, tolerance: float,
                 aliases: Sequence[str] = (), unit_scale: float = 1.0) -> list[tuple[int, int, int]]:
    """(unit index, start, end) of the value in every unit that mentions the entity, in order."""
    if numeric:
        target = _target(value)
        if target is None:
            return []
        # a bare four-digit year ("For 2023, …") is a date, not the figure 2,016 or 2,020.0
        value_is_year = _is_bare_year(value.strip())
        bound = tolerance * abs(target) + 1e-9
        # a figure without a scale word (scale 1) matches by the tolerance alone, as `_number_matches` would decide
        return [(index, n.start, n.end) for index, n, is_bare_year in analysis.figures(entity)
                if (value_is_year or not is_bare_year)
                and (abs(n.value - target) <= bound
                     or (n.scale > 1 and (_number_matches(n, target, tolerance)
                                          or _number_matches(in_unit(n, unit_scale), target, tolerance))))]
    value_mentions = analysis.mentions((value, *aliases))
    return [(index, start, end) for index, mentions in enumerate(analysis.mentions(entity)) if mentions
            for start, end in value_mentions[index]]


def _has_word(text: str, word: str) -> bool:
    """Whether lowercase `text` holds `word` as a whole word; a number only needs no digit beside it ("2019" is in
    "FY2019" and "2019-20", not in "201820192020")."""
    if not word.isdecimal():
        return bool(_mentions(text, (word,), text))
    at = text.find(word)
    while at != -1:
        end = at + len(word)
        if (at == 0 or not text[at - 1].isdecimal()) and (end == len(text) or not text[end].isdecimal()):
            return True
        at = text.find(word, at + 1)
    return False


MAX_FIGURES_PER_FACT = 8
"""Distinct figures (beyond twice the tolerance of each other) within a factor of `FIGURE_BAND` of the value that a
report may state for one fact (an entity's attribute, in the fact's context) and still be read as committing to
one: a history of a few years is a handful; a ladder of figures a few per cent apart, which covers any value, is
hundreds. Figures of other sizes (another attribute, a percentage, a count in the same sentence) are not
candidates for the value and are not counted."""
FIGURE_BAND = 2.0


def _fact_figures(analysis: ReportAnalysis, check: FactCheck) -> list[float]:
    """Every figure within `FIGURE_BAND` of the value stated as fact where the value would count (near the entity,
    the attribute named, the context there, not refuted or hedged, not a bare year), in the fact's unit."""
    band = _figure_band(check.value)
    if band is None:
        return []
    low, high = band
    found = []
    entity_mentions = analysis.mentions(check.entity)
    window, label_terms = check.window, [t.lower() for t in check.label_terms]
    for index, number, is_bare_year in analysis.figures(check.entity):
        start, end = number.start, number.end
        if is_bare_year or not any(abs(start - m_end) <= window or abs(m_start - end) <= window
                                   for m_start, m_end in entity_mentions[index]):
            continue
        unit = analysis.units[index]
        sentence = _sentence_of(unit, start)
        if label_terms and not _names_attribute(unit, sentence, start, label_terms):
            continue
        if check.context and not _in_context(unit, start, end, window, check.context):
            continue
        value = in_unit(number, check.unit_scale).value
        if not low <= abs(value) <= high or analysis.refutes_without(index, sentence, unit.text[start:end]):
            continue
        found.append(value)
    return found


def _figure_band(value: str) -> tuple[float, float] | None:
    """The sizes of figures that compete with `value` for a fact: within a factor `FIGURE_BAND` (None: no figure)."""
    target = _target(value)
    if target is None or target == 0:
        return None
    return abs(target) / FIGURE_BAND, abs(target) * FIGURE_BAND


def _clusters(values: list[float], tolerance: float) -> int:
    """How many figures `values` hold that cannot be told apart from each other (within twice the tolerance)."""
    count, last = 0, None
    for value in sorted(values):
        if last is None or abs(value - last) > 2 * tolerance * max(abs(last), 1e-9):
            count += 1
            last = value
    return count


_ORIGIN_BEFORE = re.compile(r"\b(from|formerly|former(?:ly)?\s+\w+|previous(?:ly)?|replacing|replaced|succeeding|"
                            r"succeeded|leaving|left)\s+(?:(?!(?:to|for|into|by|with)\b)\w+\s+){0,4}$", re.IGNORECASE)
_LOCATED_FROM = re.compile(r"\b(run|operated|managed|directed|led|governed|works?|working|operates?)\s+from\s+$",
                           re.IGNORECASE)
"""Where something is done from ("run from B"): a location, not an origin."""
_ORIGIN_AFTER = re.compile(r"^[\s,(]*(until|till)\b", re.IGNORECASE)
"""A name introduced as where things came from ("from A", "formerly A", "A (until 2019)"): said neither of the
value nor of a rival."""
_EARLIER_BEFORE = re.compile(r"\b(founded|established|started|based|years|decades|long)\s+in\s+$|\bafter\s+"
                             r"(?:\w+\s+){0,2}in\s+$|\b(under|after)\s+$", re.IGNORECASE)
_EARLIER_AFTER = re.compile(r"^(-based|'s\s+(?:[\w-]+\s+){0,2}(tenure|departure|exit|resignation|retirement|time)\b|[\s,(]*(before|"
                            r"for\s+(?:\w+\s+){0,2}(years|decades)|since\s+its\s+found\w*|handed\s+over|stepped\s+"
                            r"down|resigned|retired|departed)\b)", re.IGNORECASE)
"""A rival said as an earlier state ("headquartered in A for years before moving", "A-based", "founded in A"):
not a claim about the change."""
_OVER_BEFORE = re.compile(r"\bover\s+(?:the\s+)?(?:\w+\s+)?(?:[^.;,]{1,60}?(?:,\s*|\s+and\s+|\s+or\s+))?$",
                          re.IGNORECASE)
"""The candidates passed over ("we recommend W over the pricier X and Y")."""
_COMPARED_BEFORE = re.compile(r"\b(over|than|instead of|rather than|in preference to|unlike|versus|vs\.?|"
                              r"ahead of|behind)\s+$", re.IGNORECASE)
_BY_BEFORE = re.compile(r"\bby\s+$", re.IGNORECASE)
_YEAR_IN_TEXT = re.compile(r"(?<!\d)(1[89]|20)\d\d(?!\d)")


def _said_of_entity(analysis: ReportAnalysis, check: FactCheck, names: Sequence[str],
                    places: list[tuple[_Unit, tuple[int, int]]], *,
                    is_value: bool) -> list[tuple[_Unit, tuple[int, int]]]:
    """Of the sentences where one of `names` (the value's, or with `is_value` False a rival's) is stated near the
    entity, those where a mention of it is said of the entity: not introduced as an origin ("from A", "formerly A",
    "A until 2019"; for a rival also an earlier state: "A-based"), and the entity is its subject (`_subject_of`)
    rather than a peer."""
    if not places:
        return []
    found = []
    years = {word for word in check.context if word.isdecimal()}
    index_of = {id(unit): index for index, unit in enumerate(analysis.units)}
    peer_mentions = [analysis.mentions(peer) for peer in check.peers]
    entity_mentions = analysis.mentions(check.entity)
    candidates = (check.value, *check.value_aliases, *(name for rival in check.rivals for name in rival))
    for unit, sentence in places:
        index, text = index_of[id(unit)], unit.text
        # a subject named as the comparison ("W over X", "less than W") is not what the sentence speaks of
        spans = [(m, e, True) for m, e in entity_mentions[index]]
        spans += [(m, e, False) for mentions in peer_mentions for m, e in mentions[index]]
        subjects = [span for span in spans if not _COMPARED_BEFORE.search(text[max(0, span[0] - 30):span[0]])]
        respectively = "respectively" in unit.lower[sentence[0]:sentence[1]]
        # the value said as an earlier state ("M-based", "M for years") beside a rival is no statement either: a list
        # of every candidate, each with the mark, would otherwise keep only the value ("A-based B-based C-based")
        with_rival = None
        for a, b in _mentions(text[sentence[0]:sentence[1]], names):
            a, b = a + sentence[0], b + sentence[0]
            before, after = text[max(0, a - 60):a], text[b:b + 30]
            if _is_origin(before, after, earlier=not is_value):
                continue
            if is_value and _is_origin(before, after, earlier=True):
                if with_rival is None:
                    with_rival = bool(_mentions(text[sentence[0]:sentence[1]],
                                                [name for rival in check.rivals for name in rival]))
                if with_rival:
                    continue
            if years and not _nearest_year_is(text, sentence, a, years):
                continue  # said with another year: another event ("from A to C in 2013 and to B in 2021")
            if respectively:
                said = _respectively(text, sentence, a, subjects, candidates)
                if said is not None:
                    if said:
                        found.append((unit, sentence))
                        break
                    continue
            passive = _BY_BEFORE.search(before) is not None  # "made by M": what M made comes before
            if _subject_of(subjects, a, b, sentence if passive else _clause_of(unit, a)):
                found.append((unit, sentence))
                break
    return found


def _is_origin(before: str, after: str, *, earlier: bool) -> bool:
    """Whether a name between `before` and `after` is introduced as where things came from ("from A", "A (until
    2019)"), or with `earlier` also as an earlier state ("headquartered in A for years before", "A-based")."""
    if (_ORIGIN_BEFORE.search(before) and not _LOCATED_FROM.search(before)) or _ORIGIN_AFTER.search(after):
        return True
    return earlier and bool(_EARLIER_BEFORE.search(before) or _EARLIER_AFTER.search(after))


def _in_context(unit: _Unit, start: int, end: int, window: int, context: Sequence[str]) -> bool:
    """Whether every context word is written within `window` of `start`..`end` (whole words: "2019" is not in
    "201820192020"), or in the table column's header."""
    nearby = unit.lower[max(0, start - window):end + window]
    for word in context:
        word = word.lower()
        if not _has_word(nearby, word) and not (unit.header and _has_word(_column_header(unit, start), word)):
            return False
    return True


def _column_header(unit: _Unit, position: int) -> str:
    """The header cell (lowercase) of the table column at `position` of a table row ("" outside tables): the year
    of a figure in a table with the years as columns."""
    if not unit.header:
        return ""
    cells = unit.header.split("|")
    column = unit.text.count("|", 0, position)
    return cells[column] if column < len(cells) else ""


def _nearest_year_is(text: str, sentence: tuple[int, int], position: int, years: set[str]) -> bool:
    """Whether the year written nearest to `position` in its sentence is one of `years` (True with no year)."""
    nearest = min(((abs(m.start() - position), m.group()) for m in _YEAR_IN_TEXT.finditer(text, *sentence)),
                  default=None)
    return nearest is None or nearest[1] in years


def _respectively(text: str, sentence: tuple[int, int], position: int, subjects: list[tuple[int, int, bool]],
                  candidates: Sequence[str]) -> bool | None:
    """In "P1 and P2 are made by M1 and M2, respectively": whether the name at `position` pairs with the entity
    (the k-th candidate name with the k-th subject), or None when the counts do not pair up."""
    in_sentence = sorted(s for s in subjects if sentence[0] <= s[0] < sentence[1])
    names = sorted({start + sentence[0] for start, _ in _mentions(text[sentence[0]:sentence[1]], candidates)})
    if len(in_sentence) != len(names) or position not in names:
        return None
    return in_sentence[names.index(position)][2]


def _subject_of(subjects: list[tuple[int, int, bool]], start: int, end: int, sentence: tuple[int, int]) -> bool:
    """Whether the subject a name at `start`..`end` is said of is the entity (the flag of `subjects`' spans): the
    nearest subject before it in its clause (`sentence`: "A is made by M1, B by M2": M2 is B's), else the nearest
    after it there ("M1 makes A, while M2 makes B"), else the nearest before it in the unit."""
    before = [s for s in subjects if sentence[0] <= s[0] and s[1] <= start]
    after = [s for s in subjects if end <= s[0] and s[1] <= sentence[1]]
    earlier = [s for s in subjects if s[1] <= start]
    if before:
        return max(before, key=lambda s: s[1])[2]
    if after:
        return min(after, key=lambda s: s[0])[2]
    return max(earlier, key=lambda s: s[1])[2] if earlier else False


def _occurrences(analysis: ReportAnalysis, entity: Sequence[str], value: str, *, numeric: bool, tolerance: float,
                 window: int, context: Sequence[str] = (), aliases: Sequence[str] = (),
                 label_terms: Sequence[str] = (), unit_scale: float = 1.0) -> _Occurrences:
    """Where the value is written near the entity: (stated as fact, refuted or hedged), as (unit, sentence)."""
    stated, refuted = [], []
    entity_mentions = analysis.mentions(entity)
    for index, start, end in _value_spans(analysis, entity, value, numeric, tolerance, aliases, unit_scale):
        mentions = entity_mentions[index]
        if not any(abs(start - m_end) <= window or abs(m_start - end) <= window for m_start, m_end in mentions):
            continue
        unit = analysis.units[index]
        sentence = _sentence_of(unit, start)
        if label_terms and not _names_attribute(unit, sentence, start, label_terms):
            continue
        if analysis.refutes_without(index, sentence, unit.text[start:end]):
            # a refutation speaks of this entity only when it names it in the same sentence
            if any(sentence[0] <= m_start < sentence[1] for m_start, _ in mentions):
                refuted.append((unit, sentence))
            continue
        if context and not _in_context(unit, start, end, window, context):
            continue
        stated.append((unit, sentence))
    return stated, refuted


def _names_attribute(unit: _Unit, sentence: tuple[int, int], position: int, terms: Sequence[str]) -> bool:
    """Whether the attribute is named for the figure at `position`: in its sentence, or for a table row in the
    header of the figure's column."""
    if not unit.header:
        lowered = unit.lower[sentence[0]:sentence[1]]
        return any(term in lowered for term in terms)
    column = unit.text.count("|", 0, position)
    cells = unit.header.split("|")
    if column < len(cells) and any(term in cells[column] for term in terms):
        return True
    # a row of one metric ("| 2022 | annual revenue of X | 59.4 |") names it in its own cells
    return not any(term in unit.header for term in terms) and any(term in unit.lower for term in terms)


def _stated(analysis: ReportAnalysis, entity: Sequence[str], value: str, *, numeric: bool, tolerance: float,
            window: int, context: Sequence[str] = (), aliases: Sequence[str] = (),
            label_terms: Sequence[str] = (), unit_scale: float = 1.0) -> list[tuple[_Unit, tuple[int, int]]]:
    """(unit, sentence bounds) of every place the value is stated as fact near the entity."""
    return _occurrences(analysis, entity, value, numeric=numeric, tolerance=tolerance, window=window,
                        context=context, aliases=aliases, label_terms=label_terms, unit_scale=unit_scale)[0]


def _as_current(stated: list[tuple[_Unit, tuple[int, int]]], years: set[int]) -> list[tuple[_Unit, tuple[int, int]]]:
    """The places a superseded value is `stated` as fact without one of its `years` or a past marker in the
    sentence."""
    found = []
    for unit, (start, end) in stated:
        sentence = unit.text[start:end]
        lowered = sentence.lower() + " " + unit.header  # a table with the years as columns dates its figures
        if not any(_has_word(lowered, str(year)) for year in years) and not _PAST_MARKER.search(sentence):
            found.append((unit, (start, end)))
    return found


def _citations(unit: _Unit, sentence: tuple[int, int], references: dict[str, str]) -> set[str]:
    text = unit.raw[sentence[0]:sentence[1]]
    urls = {url.strip() for group in _CITE.findall(text) for url in group.split(",") if url.strip()}
    urls |= {url.rstrip(".") for url in _INLINE_URL.findall(_CITE.sub(" ", text))}
    urls |= {references[n] for n in _REF_MARK.findall(text) if n in references}
    return urls


_NOT_CLAIMED = re.compile(r"\b(ahead of|than|followed by|compared (with|to)|unlike|versus|vs|behind|beats?|"
                          r"instead of|in preference to|rather than|in place of|"
                          r"outpac\w+|surpass\w+|trails?|trailing)\b[^.;]{0,40}$", re.IGNORECASE)
# A sentence holds several claims when clauses are joined like this; a term claims only within its clause.
_CLAUSE_BREAK = re.compile(r";|,\s*(?:while|whereas|but|although|though|yet)\b|\s(?:while|whereas)\s", re.IGNORECASE)


_WORD = re.compile(r"\w+")
_DECOY_INDEXES: dict[int, tuple[object, tuple[tuple[str, str, str], ...]]] = {}


def _decoy_index(decoys: Sequence[Sequence[str]]) -> tuple[tuple[str, str, str], ...]:
    """(first word, name, first name of its decoy) of each name of `decoys`, lowercase but the last: worked out once
    per check (a task's checks grade many reports), kept with the list they were made from."""
    kept = _DECOY_INDEXES.get(id(decoys))
    if kept is not None and kept[0] is decoys:
        return kept[1]
    index = []
    for names in decoys:
        for name in names:
            word = _WORD.search(name.lower())
            if word:
                index.append((word.group(), name.lower(), names[0]))
    if len(_DECOY_INDEXES) >= 4096:
        _DECOY_INDEXES.clear()
    _DECOY_INDEXES[id(decoys)] = (decoys, tuple(index))
    return tuple(index)


def _decoys_named(analysis: ReportAnalysis, decoys: Sequence[Sequence[str]], entity: Sequence[str] | None = None,
                  window: int = 0) -> list[str]:
    """The decoys (each by its first name) the report names, in the order found: with `entity`, only those within
    `window` characters of one of its mentions in the same unit. Most reports name none: a decoy whose names'
    first words are not words of the report is passed over without a scan."""
    words = analysis.words()
    first_name = {lower: first for word, lower, first in _decoy_index(decoys) if word in words}
    if not first_name:
        return []
    entity_mentions = analysis.mentions(entity) if entity is not None else None
    reach = window + max((len(name) for name in entity or ()), default=0)
    found: list[str] = []
    for index, spans in enumerate(analysis.mentions(tuple(first_name))):
        if not spans or (entity_mentions is not None and not entity_mentions[index]):
            continue
        lower = analysis.units[index].lower
        near = sorted(entity_mentions[index]) if entity_mentions is not None else []
        starts = [e_start for e_start, _ in near]
        for start, end in spans:
            if entity_mentions is not None:  # an entity mention within `window` of the decoy: one starting nearby
                first = bisect_left(starts, start - reach)
                if not any(min(abs(start - e_end), abs(e_start - end)) <= window
                           for e_start, e_end in near[first:bisect_right(starts, end + window)]):
                    continue
            name = first_name.get(lower[start:end])
            if name is not None and name not in found:
                found.append(name)
    return found


def _clause_of(unit: _Unit, position: int) -> tuple[int, int]:
    """The clause of the sentence around `position` ("X has the most staff, while Y has the highest revenue")."""
    return _Clauses(unit).of(position)


class _Clauses:
    """The clauses of one unit's sentences (`_clause_of`), for many positions: each sentence's clause breaks are found
    once, then looked up."""

    def __init__(self, unit: _Unit) -> None:
        self.unit = unit
        self.sentence_starts = [start for start, _ in unit.sentences]
        self.breaks: dict[tuple[int, int], tuple[list[int], list[int]]] = {}

    def of(self, position: int) -> tuple[int, int]:
        sentences = self.unit.sentences
        # `_sentence_of`: the first sentence holding the position (of two that touch there, the earlier), else the
        # last one
        number = bisect_right(self.sentence_starts, position) - 1
        if number >= 1 and sentences[number - 1][1] >= position:
            number -= 1
        start, end = sentences[number] if number >= 0 and sentences[number][1] >= position else sentences[-1]
        found = self.breaks.get((start, end))
        if found is None:
            matches = [(match.start(), match.end()) for match in _CLAUSE_BREAK.finditer(self.unit.text, start, end)]
            found = self.breaks[(start, end)] = ([s for s, _ in matches], [e for _, e in matches])
        break_starts, break_ends = found
        # the clause: from the end of the last break that ends by the position to the next break starting at or after it
        before = bisect_right(break_ends, position)
        after = bisect_left(break_starts, position)
        return (break_ends[before - 1] if before else start), (break_starts[after] if after < len(break_starts) else end)


def _evaluate_mention(check: MentionCheck, analysis: ReportAnalysis) -> CheckResult:
    """An analysis claim: the report commits to the entity in the role (near a term) and to nothing else.

    Every sentence with a term (and no negation or hedge) claims the candidates it names near the term,
    except those introduced as the comparison ("ahead of Y", "than Z"). Satisfied when the entity is claimed
    and no rival is, and no contrary term ("declined" for a growth) is said of the entity. Claiming both the
    entity and a rival (or a term and its contrary) is a contradiction; claiming only a rival is just wrong.
    """
    candidates = [check.entity, *check.rivals]
    contrary = {t.lower() for t in check.contrary_terms}
    claimed: dict[tuple[int, bool], str] = {}  # (candidate index, said with a contrary term) -> sentence
    topics = [t.lower() for t in check.topic_terms]
    term_mentions = analysis.mentions([*check.terms, *check.contrary_terms])
    # the mentions a term can reach: those starting within the window plus the longest name before it
    reach = check.window + max(len(name) for names in candidates for name in names)
    for unit_index, unit in enumerate(analysis.units):
        if not term_mentions[unit_index]:
            continue
        spans = [sorted(analysis.mentions(names)[unit_index]) for names in candidates]
        starts = [[start for start, _ in candidate_spans] for candidate_spans in spans]
        clauses = _Clauses(unit)
        skipped: dict[tuple[int, int], bool] = {}  # clause -> refuted, or not about the topic
        for t_start, t_end in term_mentions[unit_index]:
            bounds = clauses.of(t_start)
            if bounds not in skipped:
                skipped[bounds] = analysis.refutes_in(unit_index, bounds) or \
                    bool(topics and not any(t in unit.lower[bounds[0]:bounds[1]] for t in topics))
            if skipped[bounds]:
                continue
            is_contrary = unit.lower[t_start:t_end] in contrary
            near = []
            for index in range(len(candidates)):
                low = bisect_left(starts[index], max(bounds[0], t_start - reach))
                high = bisect_right(starts[index], min(bounds[1], t_end + check.window))
                near.append([(m_start, m_end) for m_start, m_end in spans[index][low:high]
                             if min(abs(m_start - t_end), abs(t_start - m_end)) <= check.window])
            rival_near = any(near[1:])
            for index, mentions in enumerate(near):
                # a name introduced as an origin or an earlier state claims nothing ("moved from A to B, which
                # explains": A is where it came from); the entity's neither when a rival is named with it: "the
                # largest has been A for years, B for years and C for years" commits to none, where "A, for years the
                # largest, still leads" is a claim. Nor does a shorter name inside such a mention ("Voupark" in
                # "Voupark Systems for years")
                earlier = [(m_start, m_end) for m_start, m_end in mentions
                           if _is_origin(unit.text[max(0, m_start - 60):m_start], unit.text[m_end:m_end + 30],
                                         earlier=True)] if index > 0 or rival_near else []
                for m_start, m_end in mentions:
                    if any(e_start <= m_start and m_end <= e_end for e_start, e_end in earlier):
                        continue
                    if _NOT_CLAIMED.search(unit.text[max(bounds[0], m_start - 60):m_start]) or \
                            _OVER_BEFORE.search(unit.text[max(bounds[0], m_start - 90):m_start]):
                        continue
                    if (index, is_contrary) not in claimed:
                        claimed[(index, is_contrary)] = unit.text[bounds[0]:bounds[1]]
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


def evaluate_check(check, report: str | ReportAnalysis) -> CheckResult:
    """The verdict of one check spec on `report` (its text, or its `analyse_report` shared by the report's checks);
    identical input gives an identical result."""
    analysis = report if isinstance(report, ReportAnalysis) else analyse_report(report)
    if isinstance(check, FactCheck):
        if check.decoys:
            named = _decoys_named(analysis, check.decoys, check.entity, check.window)
            if named:
                return CheckResult("not_satisfied", f"names {', '.join(named[:3])} near {check.entity[0]}, where one "
                                                    f"{'value' if check.numeric else 'name'} is asked for: a list of "
                                                    "candidates commits to none",
                                   fault="contradiction" if len(named) > 1 else None)
        stated, refuted = _occurrences(analysis, check.entity, check.value, numeric=check.numeric,
                                       tolerance=check.tolerance, window=check.window, context=check.context,
                                       aliases=check.value_aliases, label_terms=check.label_terms,
                                       unit_scale=check.unit_scale)
        for wrong in check.wrong_values:
            contradicting = _stated(analysis, check.entity, wrong, numeric=check.numeric, tolerance=check.tolerance,
                                    window=check.window, unit_scale=check.unit_scale)
            if contradicting:
                unit, (start, end) = contradicting[0]
                return CheckResult("not_satisfied", f"states the wrong value {wrong}: {unit.text[start:end]!r}")
        current = _target(check.value) if check.numeric else None
        for old_value, year in check.superseded:
            old = _target(old_value)
            if current is None or old is None or abs(old - current) <= 2 * check.tolerance * abs(current):
                continue
            stated_old = _stated(analysis, check.entity, old_value, numeric=True, tolerance=check.tolerance,
                                 window=check.window, label_terms=check.label_terms, unit_scale=check.unit_scale)
            if not stated_old:
                continue
            # history values within the tolerance of each other are one figure: any of their years dates it
            years = {other_year for other_value, other_year in check.superseded
                     if (other := _target(other_value)) is not None and abs(other - old) <= 2 * check.tolerance * abs(old)}
            as_current = _as_current(stated_old, years | {year})
            if as_current:
                unit, (start, end) = as_current[0]
                return CheckResult("not_satisfied", f"states the {year} value {old_value} as current: "
                                                    f"{unit.text[start:end]!r}", fault="outdated")
        if stated and refuted:
            unit, (start, end) = refuted[0]
            return CheckResult("not_satisfied", f"both asserts and contradicts {check.value}: "
                                                f"{unit.text[start:end]!r}", fault="contradiction")
        if check.rivals or check.peers:
            stated = _said_of_entity(analysis, check, (check.value, *check.value_aliases), stated, is_value=True)
            for names in check.rivals:
                said = _said_of_entity(analysis, check, names, _stated(
                    analysis, check.entity, names[0], numeric=False, tolerance=check.tolerance, window=check.window,
                    context=check.context, aliases=names[1:]), is_value=False) if names else []
                if said:
                    unit, (start, end) = said[0]
                    return CheckResult("not_satisfied", f"names another candidate, {names[0]}, for "
                                                        f"{check.entity[0]}: {unit.text[start:end]!r}")
        # a few figures of the value's size beside the entity in all (a report's usual case) cannot make a list
        band = _figure_band(check.value) if check.numeric else None
        if stated and band is not None and analysis.figure_count(check.entity, check.unit_scale, check.tolerance,
                                                                 *band) > MAX_FIGURES_PER_FACT:
            figures = _clusters(_fact_figures(analysis, check), check.tolerance)
            if figures > MAX_FIGURES_PER_FACT:
                return CheckResult("not_satisfied", f"states {figures} different figures where one is asked for "
                                                    f"{check.entity[0]}: a list of candidates commits to none",
                                   fault="contradiction")
        if stated:
            unit, (start, end) = stated[0]
            return CheckResult("satisfied", unit.text[start:end])
        return CheckResult("not_satisfied", f"no sentence states {check.value} for {check.entity[0]}")
    if isinstance(check, FaultCheck):
        stated = _stated(analysis, check.entity, check.value, numeric=check.numeric, tolerance=check.tolerance,
                         window=check.window, unit_scale=check.unit_scale)
        if stated:
            unit, (start, end) = stated[0]
            return CheckResult("satisfied", unit.text[start:end])
        return CheckResult("not_satisfied", f"does not state {check.value} for {check.entity[0]}")
    if isinstance(check, CitationCheck):
        references = analysis.references
        stated = _stated(analysis, check.entity, check.value, numeric=check.numeric, tolerance=check.tolerance,
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
        if check.decoys:
            named = _decoys_named(analysis, check.decoys)
            if named:
                return CheckResult("not_satisfied", f"also names {', '.join(named[:3])}, which do not belong: a list "
                                                    "of candidates", fault="contradiction" if len(named) > 1 else None)
        covered = [names[0] for names in check.entities if any(analysis.mentions(names))]
        fraction = len(covered) / len(check.entities)
        verdict: Verdict = "satisfied" if fraction >= check.min_fraction else "partially" if covered else "not_satisfied"
        return CheckResult(verdict, f"mentions {len(covered)} of {len(check.entities)}: {', '.join(covered)}")
    if isinstance(check, MentionCheck):
        return _evaluate_mention(check, analysis)
    if isinstance(check, StructureCheck):
        sections, has_table, words = analysis.structure()
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
