"""The judge's fast paths decide exactly what the plain patterns they stand in for decide.

Each shortcut (refutation cues without the big regex, figures found from where they can start, words counted
without making them, headings and tables found line by line, one shared reading of a report) is checked
against its definition on hand-picked edge cases and on generated text.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drgym.rewards.checks import (
    _NUMBER,
    _REFUTATION,
    _SECTION,
    _TABLE,
    BARE_YEAR,
    ReportAnalysis,
    _count_sections,
    _has_table,
    _is_bare_year,
    _number_matches_in,
    ascii_words,
    count_words,
    evaluate_check,
    refutes,
    split_sentences,
)
from drgym.rewards.guards import _pastes, normalize_text
from drgym.rewards.judges import DeterministicJudge
from drgym.rewards.rubric import (
    CitationCheck,
    CoverageCheck,
    FactCheck,
    FaultCheck,
    MentionCheck,
    Rubric,
    StructureCheck,
)

# Every alternative of the refutation pattern, words that resemble them, and characters that change word
# boundaries or case folding (the long s and the Kelvin sign match "s" and "k" case-insensitively).
_CUES = ["not", "no", "none", "nor", "neither", "never", "nothing", "nobody", "cannot", "hardly", "barely",
         "scarcely", "no longer", "isn't", "isnt", "can't", "cant", "won't", "wont", "ain't", "mightn't", "needn't",
         "doesnt", "incorrectly", "wrong", "false", "untrue", "inaccurate", "erroneous", "outdated", "out of date",
         "obsolete", "superseded", "unsupported", "unreliable", "unverified", "unconfirmed", "disputed", "dubious",
         "doubtful", "questionable", "contradicts", "debunked", "misreported", "mistaken", "fabricated", "fake",
         "bogus", "hoax", "myth", "rumour", "rumored", "contrary", "deny", "denies", "denied", "reportedly",
         "allegedly", "supposedly", "purportedly", "apparently", "arguably", "seemingly", "seem", "seems",
         "appears to", "appear to", "some say", "some sources", "some think", "it is said", "it is claimed",
         "is thought", "is believed", "is estimated", "is rumoured", "is said", "claim", "claims", "claimed",
         "maybe", "perhaps", "possibly", "probably", "likely", "unlikely", "might", "may have", "may be",
         "could be", "uncertain", "unclear"]
_NEAR = ["note", "know", "seemed", "appeared to", "appears", "some", "may", "could", "is", "said", "out of",
         "date", "isn", "t", "'t", "n't", "can", "wo", "claiming", "mythical", "be", "have", "rumr", "_not",
         "not_", "12not", "not12", "revenue", "12.3", "Zewo", "—", "ſome", "\u212a", "İs", "ı", "noé", "NOT",
         "Some Say", "MAY BE"]
_SEPARATORS = [" ", "  ", "", ".", ", ", "'", "-", "_", "\n", "\t", "(", "’"]
_phrases = st.lists(st.tuples(st.sampled_from(_CUES + _NEAR), st.sampled_from(_SEPARATORS)), max_size=6).map(
    lambda parts: "".join(word + separator for word, separator in parts))


def test_every_refutation_cue_is_found_as_the_pattern_finds_it():
    for cue in _CUES:
        for context in ["{}", "The figure {} holds.", "x{}y", "({}).", "{}_", "_{}", "{}s"]:
            for text in (context.format(cue), context.format(cue).upper()):
                assert refutes(text) == (_REFUTATION.search(text) is not None), text


@settings(max_examples=800, deadline=None)
@given(_phrases)
def test_refutation_shortcut_agrees_with_the_pattern(text):
    assert refutes(text) == (_REFUTATION.search(text) is not None)


@settings(max_examples=400, deadline=None)
@given(st.lists(_phrases.map(lambda phrase: phrase.replace("\n", " ")), min_size=1, max_size=4),
       st.booleans())
def test_a_reports_cues_are_found_sentence_by_sentence_as_the_pattern_finds_them(paragraphs, ascii_only):
    """A report is looked at once for cue words and gate substrings (each gate after a quick part of it); every
    sentence then refutes exactly when the pattern finds a cue in it."""
    report = "\n\n".join(f"Zewo {paragraph}. Bokar reported 12.3 {paragraph}." for paragraph in paragraphs)
    if ascii_only:
        report = report.encode("ascii", "ignore").decode()
    analysis = ReportAnalysis(report)
    for index, unit in enumerate(analysis.units):
        for start, end in unit.sentences:
            assert analysis.refutes_in(index, (start, end)) == refutes(unit.text[start:end]), unit.text[start:end]


@settings(max_examples=800, deadline=None)
@given(st.text(alphabet="0123456789,. -−±%kKMBmnbilothusadx_é٣\u00a0\u202f\u2009", max_size=40))
def test_figures_are_found_where_the_number_pattern_finds_them(text):
    assert [(m.span(), m.groups()) for m in _number_matches_in(text)] == \
        [(m.span(), m.groups()) for m in _NUMBER.finditer(text)]
    ascii_text = text.encode("ascii", "ignore").decode()  # the ASCII scan
    assert [(m.span(), m.groups()) for m in _number_matches_in(ascii_text)] == \
        [(m.span(), m.groups()) for m in _NUMBER.finditer(ascii_text)]


@settings(max_examples=800, deadline=None)
@given(st.text(alphabet="ab1_ .,!?\n#|-:\t'é\x0b\x1c\x7f\u2029", max_size=60))
def test_words_headings_and_tables_are_counted_as_the_patterns_count_them(text):
    assert count_words(text) == len(re.findall(r"\w+", text))
    assert split_sentences(text) == re.split(r"(?<=[.!?])\s+", text)
    ascii_text = text.encode("ascii", "ignore").decode()
    assert ascii_words(ascii_text) == re.findall(r"\w+", ascii_text)
    assert _count_sections(text) == len(_SECTION.findall(text))
    assert _has_table(text) == (_TABLE.search(text) is not None)


def test_bare_years_are_told_as_the_pattern_tells_them():
    for text in map("".join, itertools.product("0189٣x-", repeat=4)):
        assert _is_bare_year(text) == bool(BARE_YEAR.fullmatch(text)), text
    assert not _is_bare_year("20233") and not _is_bare_year("202")


@pytest.mark.parametrize("text", ["# A\n\n## B\n#C\n#\n# \nx", "#\n#\nx", "| a | b |\n| --- | --- |",
                                  "\n\n  | a |\n  |---|", "x | a |\n| --- |", "| a |\n\n| --- |"])
def test_headings_and_tables_on_edge_cases(text):
    assert _count_sections(text) == len(_SECTION.findall(text))
    assert _has_table(text) == (_TABLE.search(text) is not None)


def test_normalized_ascii_text_is_lowercased_with_whitespace_collapsed():
    assert normalize_text("  Zewo   Industries\nREPORTED ") == "zewo industries reported"
    assert normalize_text("“Zewo” — a\u200bb") == '"zewo" - ab'


def test_a_sentence_that_pastes_a_criterion_is_found_whatever_else_the_task_asks():
    criteria = ["States the annual revenue of Zewo Industries as 56.7", "Is organised in sections", ""]
    assert _pastes("It states the annual revenue of Zewo Industries as 56.7.", criteria)
    assert not _pastes("Zewo Industries reported 56.7 USD million in annual revenue.", criteria)
    assert not _pastes("States the revenue.", criteria)  # too short to count


ZEWO = ["Zewo Industries", "Zewo"]
_RUBRICS = [
    Rubric(id="fact", criterion="States the revenue", weight=4,
           check=FactCheck(entity=ZEWO, value="56.7", label_terms=["revenue"], superseded=[("48.2", 2019)],
                           wrong_values=["71.3"], unit_scale=1e6)),
    Rubric(id="cite", criterion="Cites the register", weight=2,
           check=CitationCheck(entity=ZEWO, value="56.7", urls=["https://reg.gov/zewo"], unit_scale=1e6)),
    Rubric(id="fault", criterion="States a fabricated revenue", weight=-3,
           check=FaultCheck(entity=ZEWO, value="71.3", unit_scale=1e6)),
    Rubric(id="city", criterion="States the headquarters", weight=2,
           check=FactCheck(entity=ZEWO, value="Haleisport", numeric=False, value_aliases=["Haleis"])),
    Rubric(id="cover", criterion="Covers both", weight=2,
           check=CoverageCheck(entities=[ZEWO, ["Bokar Systems", "Bokar"]])),
    Rubric(id="largest", criterion="Identifies the largest", weight=3,
           check=MentionCheck(entity=ZEWO, terms=["largest"], rivals=[["Bokar Systems", "Bokar"]],
                              topic_terms=["revenue"])),
    Rubric(id="structure", criterion="Is organised in sections", weight=1,
           check=StructureCheck(min_sections=1, needs_table=True)),
]
_REPORTS = [
    "# Zewo\n\nZewo Industries reported 56.7 USD million in annual revenue \\cite{https://reg.gov/zewo}. It is "
    "headquartered in Haleisport. Zewo is the largest by revenue, ahead of Bokar Systems.\n\n| Company | Revenue |\n"
    "| --- | --- |\n| Zewo | 56.7 |",
    "Zewo Industries' annual revenue is reportedly 56.7 USD million, not 71.3. Previously it was 48.2 (2019).",
    "Zewo's revenue was 48.2 USD million. Bokar is the largest by revenue; Zewo Industries is the largest too.",
    "Zewo Industries reported revenue of $56.7 million [1].\n\n[1]: https://reg.gov/zewo\n\nZewo isn't in Haleis.",
    "ZEWO INDUSTRIES REPORTED 71.3 USD MILLION IN REVENUE. Some say Zewo's revenue is 56.7.",
]


@pytest.mark.parametrize("report", _REPORTS)
def test_one_shared_reading_gives_each_check_the_verdict_of_a_fresh_reading(report):
    shared = ReportAnalysis(report)
    for rubric in _RUBRICS:
        assert evaluate_check(rubric.check, shared) == evaluate_check(rubric.check, ReportAnalysis(report))
    # asked in the opposite order, the memoised answers are the same
    again = ReportAnalysis(report)
    for rubric in reversed(_RUBRICS):
        assert evaluate_check(rubric.check, again) == evaluate_check(rubric.check, shared)


def test_the_judge_grades_as_the_checks_do_on_their_own():
    judge = DeterministicJudge()
    for report in _REPORTS:
        grade = judge.grade(_RUBRICS, report)
        assert grade == judge.grade(_RUBRICS, report)
        verdicts = grade.by_id()
        assert verdicts["fact"].weight == 4 and verdicts["largest"].axis == "general"
