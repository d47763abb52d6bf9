from __future__ import annotations

import pytest

from drgym.rewards.checks import evaluate_check, parse_numbers
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

ENTITY = ["Caquu Dynamics", "Caquu"]


def _verdict(check, report):
    return evaluate_check(check, report).verdict


@pytest.mark.parametrize(("text", "value"), [
    ("1,234,567", 1234567.0), ("1.23 million", 1230000.0), ("37.8", 37.8), ("-8.9", -8.9), ("2 bn", 2e9),
    ("12k", 12000.0),
])
def test_numbers_are_parsed_with_separators_and_scale_words(text, value):
    assert parse_numbers(f"about {text} units")[0].value == pytest.approx(value)


@pytest.mark.parametrize(("report", "verdict"), [
    ("Caquu Dynamics employs 6,377 people.", "satisfied"),
    ("Caquu employs 6377 people.", "satisfied"),
    ("Caquu employs about 6.38 thousand people.", "satisfied"),
    ("Caquu Dynamics employs 5,200 people.", "not_satisfied"),
    ("Another firm employs 6,377 people.", "not_satisfied"),
    ("Caquu Dynamics does not employ 6,377 people.", "not_satisfied"),
    ("Caquu Dynamics employs 6,377 or 8,100 people.", "not_satisfied"),
    ("Caquu Dynamics employs 6,377 people. A figure of 8,100 seen on a forum is incorrect.", "satisfied"),
])
def test_fact_needs_the_value_near_the_entity_stated_as_fact(report, verdict):
    check = FactCheck(entity=ENTITY, value="6,377", wrong_values=["8,100"])
    assert _verdict(check, report) == verdict


def test_fact_with_context_needs_the_year_nearby():
    check = FactCheck(entity=ENTITY, value="31.1", context=["2018"])
    assert _verdict(check, "In 2018, Caquu had revenue of 31.1.") == "satisfied"
    assert _verdict(check, "In 2019, Caquu had revenue of 31.1.") == "not_satisfied"


def test_table_rows_are_units_of_their_own():
    report = "| Company | Workforce |\n| --- | --- |\n| Caquu Dynamics | 6,377 |\n| Other Co | 9,999 |\n"
    assert _verdict(FactCheck(entity=ENTITY, value="6,377"), report) == "satisfied"
    assert _verdict(FactCheck(entity=ENTITY, value="9,999"), report) == "not_satisfied"


def test_entity_value_matches_aliases():
    check = FactCheck(entity=ENTITY, value="Ciper Shafeir", numeric=False, value_aliases=["C. Shafeir"])
    assert _verdict(check, "C. Shafeir leads Caquu.") == "satisfied"


@pytest.mark.parametrize(("report", "verdict"), [
    ("Caquu had revenue of 37.8 \\cite{https://reg.gov/a}.", "satisfied"),
    ("Caquu had revenue of 37.8 [2].\n\n## References\n[1] https://x.example/\n[2] https://reg.gov/a", "satisfied"),
    ("Caquu had revenue of 37.8 (https://reg.gov/a).", "satisfied"),
    ("Caquu had revenue of 37.8 \\cite{https://forum.example/t}.", "partially"),
    ("Caquu had revenue of 37.8. Source: \\cite{https://reg.gov/a}", "partially"),
    ("Nothing here \\cite{https://reg.gov/a}.", "not_satisfied"),
])
def test_citation_must_sit_in_the_sentence_stating_the_value(report, verdict):
    check = CitationCheck(entity=ENTITY, value="37.8", urls=["https://reg.gov/a"])
    assert _verdict(check, report) == verdict


def test_coverage_mention_structure_and_fault():
    coverage = CoverageCheck(entities=[["Alpha Co"], ["Beta Co"]])
    assert _verdict(coverage, "Alpha Co and Beta Co.") == "satisfied"
    assert _verdict(coverage, "Alpha Co only.") == "partially"
    assert _verdict(MentionCheck(entity=ENTITY, terms=["largest"]), "Caquu is the largest.") == "satisfied"
    structure = StructureCheck(min_sections=2, needs_table=True, min_words=5)
    assert _verdict(structure, "# A\n\ntext here now ok\n\n## B\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n") == "satisfied"
    assert _verdict(structure, "# A\n\ntext") == "not_satisfied"
    fault = FaultCheck(entity=ENTITY, value="20.8")
    assert _verdict(fault, "Caquu earned 20.8.") == "satisfied"
    assert _verdict(fault, "Caquu earned 37.8; the 20.8 on forums is wrong.") == "not_satisfied"


def test_html_comments_are_not_read():
    assert _verdict(FactCheck(entity=ENTITY, value="6,377"), "<!-- Caquu employs 6,377 -->") == "not_satisfied"


def test_score_is_weighted_sum_over_positive_weights():
    rubrics = [Rubric(id="a", criterion="a", weight=4, check=FactCheck(entity=ENTITY, value="1")),
               Rubric(id="b", criterion="b", weight=1, check=FactCheck(entity=ENTITY, value="2")),
               Rubric(id="f", criterion="f", weight=-2, check=FaultCheck(entity=ENTITY, value="3"))]
    result = DeterministicJudge().grade(rubrics, "Caquu: 1. Caquu: 3.")
    assert result.score == pytest.approx((4 - 2) / 5)
    assert result.mandatory_pass_rate == 1.0 and result.is_complete
    assert DeterministicJudge().grade(rubrics, "Caquu: 1, 2 units.").score == pytest.approx(1.0)
    first = DeterministicJudge().grade(rubrics, "Caquu: 1. Caquu: 3.")
    assert first == result  # bit-identical for identical input
