"""Answer matching for deep_search: one committed answer, normalised exact match, numeric tolerance, aliases.

An answer is correct when it commits to exactly one candidate of the asked type and that candidate is an
accepted answer:

* a figure or a year (the canonical answer starts with a number): every number in the answer is a candidate,
  whatever separates them (spaces, parentheses, newlines, table cells, prose); numbers within the tolerance of
  each other are one candidate ("305,681 (about 305.7 thousand)"); a four-digit year next to a figure that is
  not a year is context ("305,681 in 2024"). More than one distinct candidate is wrong.
* a name: the answer must contain an accepted name, and what is left once every accepted name is removed may
  hold only filler words ("it is", "the company") and words of the question; another name, a number or any
  other word is a second candidate or a hedge, and wrong.
* a hedge ("maybe", "possibly", "I think", "not sure", "either") is wrong whatever the type.

Two canonical forms carry their own grading rule (tasks write them with `numeric_answer` and `set_answer`):

* ``"12.34 ± 0.05"`` (``"12.34% ± 0.05"`` for a percentage): a computed figure, correct within that absolute
  tolerance (derived from the precision of the inputs); a ``%`` after the answer's number is allowed.
* ``"{Alpha Works|Alpha; Beta Group}"`` (optionally followed by ``(F1 ≥ 0.8)``): a set, members separated by
  ``;``, a member's names by ``|``. The answer lists items (separated by commas, semicolons, "and", new lines or
  list bullets); its F1 against the set (an item counts when it is a member's name, filler words aside) must be
  1.0 — the exact set — or reach the stated threshold.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from drgym.rewards.checks import BARE_YEAR, Number, in_unit, parse_numbers

__all__ = ["AnswerMatch", "MAX_ANSWER_CHARS", "match_answer", "normalize_answer", "numeric_answer", "set_answer",
           "token_f1"]

MAX_ANSWER_CHARS = 2_000
"""An answer is a short committed reply; a longer one is wrong without further reading (linear-time guard)."""

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation + "“”‘’–—…"})
_DISJUNCTION = re.compile(r"\b(or|nor|versus|vs)\b|/", re.IGNORECASE)
_SEPARATOR = re.compile(r"\bor\b|\band\b|[/;|\n()\[\],]")
_SCALED_UNIT = re.compile(r"\d\s+[A-Za-z$€£]+\s+(thousand|million|billion)\b", re.IGNORECASE)
_UNIT_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9}
_STARTS_WITH_NUMBER = re.compile(r"\s*[-−]?\d")
_WITH_TOLERANCE = re.compile(r"\s*(?P<value>[-−]?[\d,]*\.?\d+)(?P<percent>%?)\s*±\s*(?P<tolerance>\d*\.?\d+)\s*")
_SET = re.compile(r"\s*\{(?P<members>[^{}]*)\}\s*(?:\(F1 ≥ (?P<min_f1>[01](?:\.\d+)?)\))?\s*")
_LIST_ITEM = re.compile(r"[;,\n|•]|\band\b|^\s*(?:[-*]|\d+[.)])\s+", re.MULTILINE)
_HEDGE = re.compile(
    r"\b(maybe|perhaps|possibly|probabl\w*|likely|unlikely|might|either|unsure|uncertain|unclear|unknown|"
    r"guess\w*|not sure|not certain|not confident|confiden\w*|i think|i believe|could be|can't tell|cannot tell|"
    r"or so|or else|otherwise|alternatively|unless|though|although|however|disagree\w*|conflict\w*|"
    r"give or take|other sources?|some sources?|another source|depending|estimated|roughly or|seems?|apparently)\b"
    r"|\?", re.IGNORECASE)
# Words that may stand beside a named answer without naming anything else.
_FILLER = frozenset("""
a an the it its is was are were be been being this that these those which who whom whose what there here
answer final name named called known as of in at on by for to from with and its is current currently
latest most recent today now still presently mr mrs ms dr prof sir
company firm organisation organization corporation person city town place product compound regulation event
mayor chief executive ceo headquarters headquartered maker manufacturer made makes employer works employs
born birthplace key issued issuer regulates regulated host hosted held organiser organizer organised
first synthesised synthesized discoverer
""".split())


@dataclass(frozen=True)
class AnswerMatch:
    is_correct: bool
    reason: str
    f1: float
    """Best token F1 against any accepted answer (for analysis; not the reward)."""
    lists_several: bool = False
    """The answer names more than one candidate or hedges: wrong whatever a model grader would say."""


def normalize_answer(text: str) -> str:
    """Lowercase, punctuation and articles removed, whitespace collapsed (SQuAD-style)."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    return _f1(predicted, Counter(predicted), len(wanted), Counter(wanted))


def _f1(predicted: list[str], predicted_counts: Counter, n_wanted: int, wanted_counts: Counter) -> float:
    common = sum((predicted_counts & wanted_counts).values())
    if not predicted or not n_wanted or common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / n_wanted
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class _Accepted:
    """A question's accepted answers read once (normalised names, token counts, the canonical form's rule),
    for every answer graded against them."""

    canonical: str
    gold_tokens: tuple[tuple[int, Counter], ...]
    """Each accepted answer's normalised token count and tokens, for the token F1."""
    names: tuple[str, ...]
    """The normalised accepted names, longest first."""
    members: list[list[str]] | None = None
    min_f1: float = 1.0
    absolute: tuple[float, float, bool] | None = None
    """(value, tolerance, percent) of a computed figure."""
    target: float | None = None
    unit_scale: float = 1.0


@lru_cache(maxsize=4096)
def _accepted(accepted: tuple[str, ...]) -> _Accepted:
    gold_tokens = tuple((len(tokens), Counter(tokens)) for tokens in (normalize_answer(g).split() for g in accepted))
    names = tuple(sorted({normalize_answer(gold) for gold in accepted if normalize_answer(gold)}, key=len,
                         reverse=True))
    canonical = next((gold for gold in accepted if gold.strip()), "")
    if spec := _SET.fullmatch(canonical):
        members = [[name.strip() for name in member.split("|") if name.strip()]
                   for member in spec.group("members").split(";")]
        return _Accepted(canonical, gold_tokens, names, members=[m for m in members if m],
                         min_f1=float(spec.group("min_f1") or 1.0))
    if spec := _WITH_TOLERANCE.fullmatch(canonical):
        value = float(spec.group("value").replace(",", "").replace("−", "-"))
        return _Accepted(canonical, gold_tokens, names,
                         absolute=(value, float(spec.group("tolerance")), bool(spec.group("percent"))))
    if _STARTS_WITH_NUMBER.match(canonical) and (numbers := parse_numbers(canonical)):
        unit = next((_UNIT_SCALES[m.group(1).lower()] for gold in accepted if (m := _SCALED_UNIT.search(gold))), 1.0)
        return _Accepted(canonical, gold_tokens, names, target=numbers[0].value, unit_scale=unit)
    return _Accepted(canonical, gold_tokens, names)


def _is_year(value: float) -> bool:
    return value.is_integer() and 1800 <= value <= 2100


def _close(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= tolerance * max(abs(a), abs(b)) + 1e-9


def _candidates(answer: str, numbers: list[Number], target: float, tolerance: float) -> list[float]:
    """Distinct numeric candidates; bare years are context when the target is not a year."""
    values = list(numbers)
    if _is_year(target):  # years are exact: 1956 and 1957 are two candidates
        tolerance = 0.0
    else:
        figures = [n for n in values if not BARE_YEAR.fullmatch(answer[n.start:n.end].lstrip("-−"))]
        values = figures or values
    distinct: list[float] = []
    for number in values:
        if not any(_close(number.value, seen, tolerance) for seen in distinct):
            distinct.append(number.value)
    return distinct


def _match_number(answer: str, target: float, tolerance: float, f1: float, unit_scale: float = 1.0) -> AnswerMatch:
    numbers = [in_unit(n, unit_scale) for n in parse_numbers(answer)]
    if not numbers:
        return AnswerMatch(False, "no number in the answer", f1)
    candidates = _candidates(answer, numbers, target, tolerance)
    if _DISJUNCTION.search(answer):  # "1,985,524 or 1999", "1981 or MCMLXXXII": an alternative is offered
        return AnswerMatch(False, "offers alternatives ('or'); give one value", f1, True)
    if len(candidates) > 1:
        shown = ", ".join(f"{v:g}" for v in candidates[:5])
        return AnswerMatch(False, f"lists {len(candidates)} candidate values ({shown}); give one", f1, True)
    value = candidates[0]
    if _is_year(target):  # a relative tolerance would let "1974" pass for 1956: years match exactly
        if value == target:
            return AnswerMatch(True, f"{value:g} matches the year {target:g}", f1)
        return AnswerMatch(False, f"{value:g} is not the year {target:g}", f1)
    if abs(value - target) <= tolerance * abs(target) + 1e-9:
        return AnswerMatch(True, f"{value:g} matches {target:g}", f1)
    return AnswerMatch(False, f"{value:g} is not {target:g}", f1)


def _match_name(answer: str, accepted: Sequence[str], question: str, f1: float, *, normalized_answer: str,
                names: Sequence[str]) -> AnswerMatch:
    if normalized_answer in names:  # exactly an accepted name: nothing else to weigh
        return AnswerMatch(True, f"names {accepted[0]!r}", f1)
    normalized = f" {normalized_answer} "
    found = [name for name in names if f" {name} " in normalized]
    if not found:
        return AnswerMatch(False, "names none of the accepted answers", f1)
    rest = normalized
    for name in names:  # longest first, so "Taquon Works" goes before its alias "Taquon"
        rest = rest.replace(f" {name} ", " ")
    # words the question uses in lower case ("mayor", "city") may be repeated; its names may not
    asked = {word.lower() for word in re.findall(r"\w+", question) if not word[:1].isupper()}
    allowed = _FILLER | asked
    extra = [word for word in rest.split() if word not in allowed]
    if not extra:
        return AnswerMatch(True, f"names {accepted[0]!r}", f1)
    # another name or a number beside the answer, or a list separator, is a second candidate; lowercase
    # description ("the port town of X") is only more than the answer (a model grader may still accept it)
    written = {word.lower(): word for word in re.findall(r"\w+", answer)}
    several = bool(_SEPARATOR.search(answer)) or any(
        written.get(word, word)[:1].isupper() or written.get(word, word)[:1].isdigit() for word in extra)
    return AnswerMatch(False, f"names {accepted[0]!r} but also {' '.join(extra[:6])!r}: give one answer "
                              "and nothing else", f1, several)


def numeric_answer(value: float, *, decimals: int, tolerance: float, percent: bool = False) -> str:
    """The canonical answer of a computed figure with an absolute tolerance: ``"12.34 ± 0.05"``."""
    return f"{value:.{decimals}f}{'%' if percent else ''} ± {tolerance:g}"


def set_answer(members: Sequence[Sequence[str]], *, min_f1: float = 1.0) -> str:
    """The canonical answer of a set, each member a name and its aliases: ``"{Alpha Works|Alpha; Beta Group}"``."""
    for names in members:
        for name in names:
            if any(mark in name for mark in ";|{}") or not name.strip():
                raise ValueError(f"a set member's name may not be empty or hold ';', '|', '{{' or '}}': {name!r}")
    text = "{" + "; ".join("|".join(names) for names in members) + "}"
    return text if min_f1 >= 1.0 else f"{text} (F1 ≥ {min_f1:g})"


def _match_tolerance(answer: str, value: float, tolerance: float, percent: bool, f1: float) -> AnswerMatch:
    text = answer.replace("%", " ") if percent else answer
    numbers = parse_numbers(text)
    if not numbers:
        return AnswerMatch(False, "no number in the answer", f1)
    if _DISJUNCTION.search(answer):
        return AnswerMatch(False, "offers alternatives ('or'); give one value", f1, True)
    distinct: list[float] = []
    for number in numbers:
        if not any(abs(number.value - seen) <= tolerance for seen in distinct):
            distinct.append(number.value)
    if len(distinct) > 1:
        shown = ", ".join(f"{v:g}" for v in distinct[:5])
        return AnswerMatch(False, f"lists {len(distinct)} candidate values ({shown}); give one", f1, True)
    if abs(distinct[0] - value) <= tolerance + 1e-9:
        return AnswerMatch(True, f"{distinct[0]:g} is within {tolerance:g} of {value:g}", f1)
    return AnswerMatch(False, f"{distinct[0]:g} is not within {tolerance:g} of {value:g}", f1)


def _match_set(answer: str, members: list[list[str]], min_f1: float) -> AnswerMatch:
    def bare(text: str) -> str:
        return " ".join(word for word in normalize_answer(text).split() if word not in _FILLER)

    names = {bare(name): number for number, aliases in enumerate(members) for name in aliases if bare(name)}
    items = [bare(item) for item in _LIST_ITEM.split(answer)]
    items = [item for item in items if item]
    if not items:
        return AnswerMatch(False, "lists no item", 0.0)
    found = {names[item] for item in items if item in names}
    unknown = [item for item in items if item not in names]
    precision, recall = len(found) / max(len(found) + len(unknown), 1), len(found) / len(members)
    f1 = 2 * precision * recall / (precision + recall) if found else 0.0
    missing = [members[number][0] for number in range(len(members)) if number not in found]
    detail = f"{len(found)} of {len(members)} members" + (f", {len(unknown)} other items ({', '.join(unknown[:3])})"
                                                          if unknown else "") + (f"; missing {', '.join(missing[:3])}"
                                                                                 if missing else "")
    if f1 >= min_f1 - 1e-9:
        return AnswerMatch(True, f"set F1 {f1:.2f} (need {min_f1:g}): {detail}", f1)
    return AnswerMatch(False, f"set F1 {f1:.2f} below {min_f1:g}: {detail}", f1)


def match_answer(answer: str, accepted: Sequence[str], *, tolerance: float = 0.01,
                 question: str = "") -> AnswerMatch:
    """Grades `answer` against the accepted answers (the canonical one first).

    Figures match within a relative `tolerance` (1 %: "1.13 million" for 1,131,507); years match exactly.
    `question` (optional) lists words a named answer may repeat ("The mayor of Haleisport is Ann Lee").
    """
    if not answer.strip():
        return AnswerMatch(False, "empty answer", 0.0)
    if len(answer) > MAX_ANSWER_CHARS:
        return AnswerMatch(False, f"the answer has {len(answer):,} characters; give one short answer "
                                  f"(at most {MAX_ANSWER_CHARS:,})", 0.0, True)
    spec = _accepted(tuple(accepted))
    normalized_answer = normalize_answer(answer)
    predicted = normalized_answer.split()
    predicted_counts = Counter(predicted)
    f1 = max((_f1(predicted, predicted_counts, n_wanted, wanted) for n_wanted, wanted in spec.gold_tokens), default=0.0)
    if hedge := _HEDGE.search(answer):
        return AnswerMatch(False, f"hedges ({hedge.group(0)!r}): commit to one answer", f1, True)
    if spec.members is not None:
        return _match_set(answer, spec.members, spec.min_f1)
    if spec.absolute is not None:
        value, absolute_tolerance, percent = spec.absolute
        return _match_tolerance(answer, value, absolute_tolerance, percent, f1)
    if spec.target is not None:
        return _match_number(answer, spec.target, tolerance, f1, spec.unit_scale)
    return _match_name(answer, accepted, question, f1, normalized_answer=normalized_answer, names=spec.names)
