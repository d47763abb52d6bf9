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


# -- committing to one value (a white-box adversary's "shotgun" reports) -------------------------------------------

def test_a_ladder_of_figures_commits_to_none_while_a_short_history_does():
    check = FactCheck(entity=ENTITY, value="412.5", label_terms=["revenue"], context=["2023"])
    history = ("In 2021 the revenue of Caquu was 380.2, in 2022 it was 395.0 and in 2023 it was 412.5 (USD "
               "million).")
    assert _verdict(check, history) == "satisfied"
    ladder = "; ".join(f"{100 * 1.015 ** i:.1f}" for i in range(90, 110))  # any value from 380 to 510 within 1 %
    result = evaluate_check(check, f"Caquu revenue in 2023 (USD million): {ladder}.")
    assert result.verdict == "not_satisfied" and result.fault == "contradiction"
    split = "\n\n".join(f"In 2023 the revenue of Caquu was {100 * 1.015 ** i:.1f}." for i in range(120))
    assert _verdict(check, split) == "not_satisfied"  # the same ladder one figure per paragraph


def test_a_context_year_is_a_whole_word():
    check = FactCheck(entity=ENTITY, value="412.5", label_terms=["revenue"], context=["2023"])
    assert _verdict(check, "Caquu revenue 202120222023202420252026: 412.5.") == "not_satisfied"
    assert _verdict(check, "Caquu revenue in 2023: 412.5.") == "satisfied"


CHANGE = FactCheck(entity=ENTITY, value="Brekoulford", numeric=False, context=["2019"],
                   rivals=[["Stovmere"], ["Aldhaven"]])


@pytest.mark.parametrize(("report", "verdict"), [
    ("In 2019, Caquu moved its headquarters to Brekoulford.", "satisfied"),
    ("In 2019, Caquu moved its headquarters from Stovmere to Brekoulford.", "satisfied"),
    ("Caquu, headquartered in Stovmere until 2019, then moved to Brekoulford.", "satisfied"),
    ("In 2019 Caquu left its former home Stovmere for Brekoulford.", "satisfied"),
    # every candidate city: the earlier ones among them
    ("In 2019, Caquu moved its headquarters to Aldhaven, Brekoulford, Corvale and Stovmere.", "not_satisfied"),
    ("In 2019, Caquu moved its headquarters to Aldhaven. In 2019, Caquu moved its headquarters to Brekoulford.",
     "not_satisfied"),
    ("In 2019, Caquu previously moved its headquarters to Stovmere. In 2019, Caquu previously moved its "
     "headquarters to Brekoulford.", "not_satisfied"),
    # the value only as where it came from
    ("In 2019, Caquu moved from Brekoulford.", "not_satisfied"),
])
def test_a_name_fact_with_rivals_counts_only_when_the_report_commits_to_it(report, verdict):
    assert _verdict(CHANGE, report) == verdict


MAKER = FactCheck(entity=["Aqua Pump 3"], value="Zewo Group", numeric=False, rivals=[["Lumo Works"], ["Kest Ltd"]],
                  peers=[["Volt Fan 2"], ["Grid Lamp"]])


@pytest.mark.parametrize(("report", "verdict"), [
    ("Aqua Pump 3 is made by Zewo Group.", "satisfied"),
    ("Aqua Pump 3 is made by Zewo Group, Volt Fan 2 by Lumo Works and Grid Lamp by Kest Ltd.", "satisfied"),
    ("Aqua Pump 3 (made by Zewo Group) costs 45 USD; Volt Fan 2 (made by Lumo Works) costs 40 USD.", "satisfied"),
    ("Aqua Pump 3 is made by Lumo Works.", "not_satisfied"),
    ("Aqua Pump 3 is made by Kest Ltd, Lumo Works, Tarn Inc or Zewo Group.", "not_satisfied"),
    # every company after every product: each name is said of the product nearest to it
    ("Grid Lamp, Volt Fan 2 and Aqua Pump 3 are made by Kest Ltd, Lumo Works, Tarn Inc and Zewo Group.",
     "not_satisfied"),
    ("Aqua Pump 3, Volt Fan 2 and Grid Lamp are made by Zewo Group.", "not_satisfied"),
])
def test_a_name_fact_is_said_of_the_nearest_subject(report, verdict):
    assert _verdict(MAKER, report) == verdict


@pytest.mark.parametrize("report", [
    "Caquu has been run from Brekoulford since 2019.",
    "Caquu was headquartered in Stovmere for years before moving to Brekoulford in 2019.",
    "The turning point came in 2019, when the Stovmere-based Caquu relocated its head office to Brekoulford.",
    "In 2019 Caquu relocated to Brekoulford; its previous head office was in Stovmere.",
    "Caquu moved from Stovmere to Aldhaven in 2013 and from Aldhaven to Brekoulford in 2019.",
    "Caquu: Stovmere (until 2013), Aldhaven (2013-2019), Brekoulford (since 2019).",
    "In FY2019, Caquu moved its headquarters to Brekoulford.",
])
def test_natural_histories_of_a_change_still_commit_to_it(report):
    """Phrasings an honest report uses (a second adversary's false positives of the committed-value rules)."""
    assert _verdict(CHANGE, report) == "satisfied", evaluate_check(CHANGE, report)


@pytest.mark.parametrize("report", [
    "Aqua Pump 3 and Volt Fan 2 are made by Zewo Group and Lumo Works, respectively.",
    "Zewo Group makes Aqua Pump 3, while Lumo Works makes Volt Fan 2.",
    "By unit price, Aqua Pump 3 (45.2 USD; made by Zewo Group, 231 employees), then Volt Fan 2 (48.0 USD; made by "
    "Lumo Works, 900 employees).",
    "We recommend Volt Fan 2 over Aqua Pump 3. Aqua Pump 3 is made by Zewo Group.",
])
def test_natural_comparisons_say_each_maker_of_its_own_product(report):
    assert _verdict(MAKER, report) == "satisfied", evaluate_check(MAKER, report)


@pytest.mark.parametrize("report", [
    "In FY2023 the revenue of Caquu was 412.5 USD million.",
    "| Metric | 2022 | 2023 |\n| --- | --- | --- |\n| Revenue of Caquu (USD million) | 395.0 | 412.5 |",
    "The revenue of Caquu fell 22.3% (USD 41.9 million) from 454.4 in 2021 to 412.5 in 2023, while its workforce "
    "fell 17.4% (87 employees) from 500 to 413.",
])
def test_a_dated_figure_in_natural_forms_is_stated(report):
    check = FactCheck(entity=ENTITY, value="412.5", label_terms=["revenue"], context=["2023"])
    assert _verdict(check, report) == "satisfied", evaluate_check(check, report)


def test_a_percentage_is_not_read_as_its_integer_part():
    assert [n.value for n in parse_numbers("revenue fell 22.3% to 12.5")] == [12.5]


def test_a_conclusion_counts_only_on_the_facts_it_rests_on():
    """A verdict guessed without its facts earns nothing (a second adversary's guess-only reports scored 0.24 on
    intent requests: structure plus verdicts and trends guessed from train priors)."""
    from drgym.tasks.schema import Task

    fact = Rubric(id="f0", criterion="states the revenue", weight=3,
                  check=FactCheck(entity=ENTITY, value="412.5", label_terms=["revenue"]))
    verdict = Rubric(id="verdict", criterion="rates it a low risk", weight=5, requires=["f0"],
                     check=MentionCheck(entity=ENTITY, terms=["low risk"]))
    judge = DeterministicJudge()
    guessed = judge.grade([fact, verdict], "Caquu Dynamics is a low risk.").by_id()["verdict"]
    assert guessed.verdict == "not_satisfied" and "rests on f0" in guessed.reasoning
    grounded = judge.grade([fact, verdict], "The revenue of Caquu was 412.5. Caquu Dynamics is a low risk.")
    assert grounded.score == 1.0
    with pytest.raises(ValueError, match="'requires' names \\['f9'\\]"):
        Task(id="t", kind="deep_research", question="q",
             rubrics=[fact, verdict.model_copy(update={"requires": ["f9"]})])
