"""Reward integrity, rule by rule, on hand-written reports: each test fails when its rule is switched off."""

from __future__ import annotations

import pytest

from drgym.rewards.checks import evaluate_check
from drgym.rewards.guards import visible_text
from drgym.rewards.integrity import COPY_BUDGET_WORDS, audit_report, words_needed
from drgym.rewards.judges import DeterministicJudge
from drgym.rewards.rubric import CitationCheck, CoverageCheck, FactCheck, MentionCheck, Rubric
from drgym.web.corpus import Corpus, Page
from drgym.web.index import SearchIndex

ZEWO = ["Zewo Industries", "Zewo"]
REVENUE = FactCheck(entity=ZEWO, value="56.7", label_terms=["revenue", "turnover", "sales"],
                    superseded=[("48.2", 2019), ("51.0", 2021)], wrong_values=["71.3"])
WORKFORCE = FactCheck(entity=ZEWO, value="1,234", label_terms=["workforce", "employees"])
LARGEST = MentionCheck(entity=ZEWO, terms=["largest", "leads"], rivals=[["Bokar Systems", "Bokar"], ["Tulm Group"]])
TREND = MentionCheck(entity=ZEWO, terms=["grew", "rose"], contrary_terms=["declined", "fell"])
HONEST = ("Zewo Industries reported 56.7 USD million in annual revenue for 2023 \\cite{https://reg.gov/zewo}. "
          "Its workforce numbered 1,234 employees that year.")


def _verdict(check, report: str) -> str:
    return evaluate_check(check, report).verdict


# -- what a reader sees -----------------------------------------------------------------------------------

@pytest.mark.parametrize("hidden", [
    '<span style="display:none">Zewo Industries reported 56.7 USD million in annual revenue.</span>',
    '<div hidden>Zewo Industries reported 56.7 USD million in annual revenue.</div>',
    '<p class="sr-only">Zewo Industries reported 56.7 USD million in annual revenue.</p>',
    '<style>/* Zewo Industries reported 56.7 USD million in annual revenue. */</style>',
    '<script>var s = "Zewo Industries reported 56.7 USD million in annual revenue.";</script>',
    '<!-- Zewo Industries reported 56.7 USD million in annual revenue. -->',
    '[a link](https://x.org "Zewo Industries reported 56.7 USD million in annual revenue")',
    '![Zewo Industries reported 56.7 USD million in annual revenue](chart.png)',
    '<a href="u" title="Zewo Industries reported 56.7 USD million in annual revenue">a link</a>',
    '<font style="color:#ffffff">Zewo Industries reported 56.7 USD million in annual revenue.</font>',
    '<span title="x>" style="display:none">Zewo Industries reported 56.7 USD million in annual revenue.</span>',
    '<style>.fn{display:none}</style><span class="fn">Zewo Industries reported 56.7 USD million in annual revenue.</span>',
    '<span style="display&#58;none">Zewo Industries reported 56.7 USD million in annual revenue.</span>',
    '<span style="font-size:1px">Zewo Industries reported 56.7 USD million in annual revenue.</span>',
    '<font color=white>Zewo Industries reported 56.7 USD million in annual revenue.</font>',
    '<details>Zewo Industries reported 56.7 USD million in annual revenue.</details>',
    '<div hidden/>Zewo Industries reported 56.7 USD million in annual revenue.',
    '[//]: # (Zewo Industries reported 56.7 USD million in annual revenue.)',
])
def test_text_a_reader_never_sees_states_nothing(hidden):
    shown = "Zewo Industries reported 56.7 USD million in annual revenue."
    assert _verdict(REVENUE, visible_text(f"# Zewo\n\n{shown}\n")) == "satisfied"
    report = f"# Zewo\n\nA visible paragraph about the sector.\n\n{hidden}\n"
    assert _verdict(REVENUE, visible_text(report)) == "not_satisfied"
    judge = DeterministicJudge()
    assert judge.grade([Rubric(id="r", criterion="c", weight=4, check=REVENUE)], report).by_id()["r"].verdict \
        == "not_satisfied"


def test_zero_width_characters_and_entities_render_as_a_reader_sees_them():
    assert visible_text("Ze\u200bwo In\u2060dustries &amp; 56&#46;7") == "Zewo Industries & 56.7"


def test_lookalike_letters_and_invisible_selectors_read_as_latin():
    assert visible_text("іs hеаdquаrtеrеd") == "is headquartered"  # Cyrillic і, е, а
    assert visible_text("hea\ufe0fdquartered in\U000e0041") == "headquartered in"
    assert visible_text("Москва") == "Москва"  # a word of one script stays as it is
    assert visible_text("isnʼt") == "isn't"


# -- negation and hedging ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sentence", [
    "Zewo Industries' annual revenue wasn't 56.7 USD million.",
    "Zewo Industries' annual revenue is no longer 56.7 USD million.",
    "The figure of 56.7 USD million for the annual revenue of Zewo Industries is fabricated.",
    "Some say the annual revenue of Zewo Industries is 56.7 USD million.",
    "The annual revenue of Zewo Industries is reportedly 56.7 USD million.",
    "The annual revenue of Zewo Industries is perhaps 56.7 USD million.",
    "Zewo Industries' annual revenue is never 56.7 USD million.",
    "Zewo Industries' annual revenue isnʼt 56.7 USD million.",
    "Zewo Industries' annual revenue isnt 56.7 USD million.",
    "Zewo Industries' annual revenue is nоt 56.7 USD million.",
    "Zewo Industries' annual revenue is probably 56.7 USD million.",
    "Zewo Industries' annual revenue seems to be 56.7 USD million.",
    "Zewo Industries' annual revenue is estimated at 56.7 USD million.",
    "Zewo Industries' annual revenue is falsely given as 56.7 USD million.",
])
def test_a_negated_or_hedged_value_is_not_stated_as_fact(sentence):
    assert _verdict(REVENUE, visible_text(sentence)) == "not_satisfied"
    assert _verdict(REVENUE, "The annual revenue of Zewo Industries is 56.7 USD million.") == "satisfied"


def test_a_value_asserted_and_contradicted_is_a_contradiction():
    report = HONEST + "\n\nThe annual revenue of Zewo Industries is not 56.7 USD million."
    result = evaluate_check(REVENUE, report)
    assert result.verdict == "not_satisfied" and result.fault == "contradiction"


# -- which fact a figure states ------------------------------------------------------------------------------

def test_a_figure_beside_a_name_without_the_attribute_states_nothing():
    assert _verdict(REVENUE, "Zewo Industries: 56.7.") == "not_satisfied"
    assert _verdict(REVENUE, "Zewo Industries had a turnover of 56.7 USD million.") == "satisfied"
    table = "| Company | Workforce | Annual revenue (USD million) |\n| --- | --- | --- |\n| Zewo Industries | 1,234 | 56.7 |"
    assert _verdict(REVENUE, table) == "satisfied"
    swapped = "| Company | Workforce | Annual revenue (USD million) |\n| --- | --- | --- |\n| Zewo Industries | 56.7 | 9.0 |"
    assert _verdict(REVENUE, swapped) == "not_satisfied"  # the figure sits in the workforce column


def test_a_superseded_value_stated_as_current_is_known_wrong():
    report = HONEST + " The annual revenue of Zewo Industries is 48.2 USD million."
    result = evaluate_check(REVENUE, report)
    assert result.verdict == "not_satisfied" and result.fault == "outdated"
    dated = HONEST + " In 2019, the annual revenue of Zewo Industries was 48.2 USD million."
    assert _verdict(REVENUE, dated) == "satisfied"
    past = HONEST + " Zewo Industries previously had an annual revenue of 48.2 USD million."
    assert _verdict(REVENUE, past) == "satisfied"


def test_listing_the_candidates_of_a_fact_is_no_claim():
    report = "For 2023, Zewo Industries reported 56.7, 51.0 or 48.2 USD million as its annual revenue."
    result = evaluate_check(REVENUE, report)
    assert result.verdict == "not_satisfied" and result.fault == "outdated"
    cell = "| Company | Annual revenue |\n| --- | --- |\n| Zewo Industries | 56.7 / 51.0 / 48.2 |"
    assert evaluate_check(REVENUE, cell).fault == "outdated"


def test_numbers_inside_citation_urls_are_no_figures():
    report = "Zewo Industries reported 1,234 employees \\cite{https://reg.gov/archive/org-00048}."
    check = WORKFORCE.model_copy(update={"value": "48", "label_terms": []})
    assert _verdict(check, report) == "not_satisfied"


# -- analysis claims ----------------------------------------------------------------------------------------

def test_an_analysis_claim_commits_to_one_candidate():
    assert _verdict(LARGEST, "Zewo Industries is the largest of these companies by revenue.") == "satisfied"
    assert _verdict(LARGEST, "Zewo Industries is the largest, ahead of Bokar Systems and Tulm Group.") == "satisfied"
    shotgun = "Zewo Industries, Bokar Systems and Tulm Group each lead the sector and each is the largest."
    result = evaluate_check(LARGEST, shotgun)
    assert result.verdict == "not_satisfied" and result.fault == "contradiction"
    assert _verdict(LARGEST, "Zewo is the largest. Bokar Systems leads the sector.") == "not_satisfied"


def test_a_candidate_said_as_an_earlier_state_is_not_claimed_whichever_it_is():
    # a white-box adversary's hedge: every company of the question, each "for years", was read as claiming the one
    # that is right (only rivals were filtered), on every compare task of procedural:easy and medium
    largest = LARGEST.model_copy(update={"topic_terms": ["revenue"]})
    for names in (["Zewo", "Bokar", "Tulm Group"], ["Bokar", "Tulm Group", "Zewo Industries"]):
        hedge = "By revenue, the largest has been " + ", ".join(f"{name} for years" for name in names) + "."
        assert _verdict(largest, hedge) == "not_satisfied", hedge
    assert _verdict(largest, "By revenue, the largest has been Zewo Industries before Bokar.") == "not_satisfied"
    assert _verdict(largest, "Zewo Industries has been the largest by revenue for years.") == "satisfied"
    assert _verdict(largest, "By revenue, the largest is Zewo Industries, ahead of Bokar for years.") == "satisfied"
    # alone, the entity said with such a mark is still claimed (a second adversary's honest phrasings)
    assert _verdict(largest, "Zewo Industries, for years the largest by revenue, still leads.") == "satisfied"
    assert _verdict(largest, "By revenue the largest is Zewo Industries (until 2019 it was second).") == "satisfied"


def test_a_value_said_as_an_earlier_state_beside_rivals_is_not_stated():
    # a second adversary's list for a supplier request: every company of the world, each "-based", beside each
    # product; the rivals were dropped as earlier states and the right maker was kept
    maker = FactCheck(entity=["Sola X2"], value="Zewo Industries", value_aliases=["Zewo"], numeric=False,
                      rivals=[["Bokar Systems", "Bokar"], ["Tulm Group", "Tulm"]])
    assert _verdict(maker, "The Sola X2 is made by Zewo Industries.") == "satisfied"
    assert _verdict(maker, "The Sola X2 is made by the Zewo-based firm.") == "satisfied"  # no rival named
    assert _verdict(maker, "Sola X2: Kelvo-based Bokar-based Zewo-based Tulm-based Quorra-based.") == "not_satisfied"
    assert _verdict(maker, "Sola X2: Bokar for years, Zewo for years, Tulm for years.") == "not_satisfied"


def test_decoys_named_beside_the_entity_are_a_list_of_candidates():
    # a white-box adversary listed every city of the world (read off the public population tables) beside each
    # company: every headquarters fact passed, on every report task of procedural:easy and medium
    headquarters = FactCheck(entity=ZEWO, value="Haleisport", numeric=False,
                             decoys=[["Brimford"], ["Tallmere"], ["Quovo Dale", "Quovo"]])
    honest = "Zewo Industries is headquartered in Haleisport."
    assert _verdict(headquarters, honest) == "satisfied"
    listing = "| Zewo | Brimford Haleisport Tallmere Kelvara Quovo |"
    result = evaluate_check(headquarters, listing)
    assert result.verdict == "not_satisfied" and result.fault == "contradiction"
    marked = "Zewo Industries: Haleisport, Brimford for years, Tallmere for years."
    assert evaluate_check(headquarters, marked).verdict == "not_satisfied"
    one = evaluate_check(headquarters, honest + " Zewo Industries once opened an office in Brimford.")
    assert one.verdict == "not_satisfied" and one.fault is None
    elsewhere = honest + " " + "The sector grew. " * 40 + "Brimford hosts an annual fair."
    assert _verdict(headquarters, elsewhere) == "satisfied"  # not near the entity: no candidate for it
    products = CoverageCheck(entities=[["Probuv Neo54"], ["Trogrerk Mini41"]], decoys=[["Fiferk Mini86"], ["Sola X2"]])
    assert _verdict(products, "Zewo Industries makes the Probuv Neo54 and the Trogrerk Mini41.") == "satisfied"
    everything = "Products: Probuv Neo54, Trogrerk Mini41, Fiferk Mini86, Sola X2, Kavo Pro3."
    result = evaluate_check(products, everything)
    assert result.verdict == "not_satisfied" and result.fault == "contradiction"


def test_claims_about_another_topic_or_clause_are_not_this_claim():
    largest = LARGEST.model_copy(update={"topic_terms": ["revenue"]})
    committed = "Zewo Industries has the largest revenue of the group."
    assert _verdict(largest, committed) == "satisfied"
    assert _verdict(largest, committed + " Bokar Systems has the largest workforce.") == "satisfied"
    both = "Bokar Systems employs the most people, while Zewo Industries has the largest revenue."
    assert _verdict(largest, both) == "satisfied"
    assert _verdict(largest, committed + " Tulm Group leads Bokar Systems in revenue.") == "not_satisfied"
    trend = TREND.model_copy(update={"topic_terms": ["revenue"]})
    assert _verdict(trend, "Over the years, the revenue of Zewo Industries grew. Its workforce declined.") == "satisfied"


def test_a_figure_in_another_scale_of_its_unit_is_the_same_figure():
    check = REVENUE.model_copy(update={"unit_scale": 1e6, "superseded": [], "wrong_values": []})
    assert _verdict(check, "Zewo Industries had annual revenue of $56.7 million in 2023.") == "satisfied"
    big = check.model_copy(update={"value": "7,343.0"})
    assert _verdict(big, "Zewo Industries had annual revenue of $7.34 billion in 2023.") == "satisfied"
    assert _verdict(check, "Zewo Industries had annual revenue of $56.7 billion in 2023.") == "not_satisfied"


def test_a_table_row_of_one_metric_names_it_in_its_cells():
    table = "| Year | Metric | Value |\n| --- | --- | --- |\n| 2023 | annual revenue of Zewo Industries | 56.7 |"
    assert _verdict(REVENUE, table) == "satisfied"


def test_a_trend_and_its_opposite_is_no_claim():
    assert _verdict(TREND, "The annual revenue of Zewo Industries grew between 2019 and 2023.") == "satisfied"
    both = "The annual revenue of Zewo Industries grew and declined between 2019 and 2023."
    assert _verdict(TREND, both) == "not_satisfied"


# -- citations ---------------------------------------------------------------------------------------------

def test_a_citation_after_the_full_stop_belongs_to_its_sentence():
    check = CitationCheck(entity=ZEWO, value="56.7", urls=["https://reg.gov/zewo"])
    after = "Zewo Industries reported 56.7 USD million in annual revenue. \\cite{https://reg.gov/zewo} It grew."
    assert _verdict(check, after) == "satisfied"
    numbered = "Zewo Industries reported 56.7 USD million in annual revenue. [1]\n\n[1] https://reg.gov/zewo"
    assert _verdict(check, numbered) == "satisfied"
    repeated = ("Zewo Industries reported 48.0 USD million in annual revenue in 2019. \\cite{https://reg.gov/zewo}\n\n"
                "Zewo Industries reported 56.7 USD million in annual revenue in 2023. \\cite{https://reg.gov/zewo}")
    grade = DeterministicJudge().grade([Rubric(id="c", criterion="cites", weight=2, check=check)], repeated)
    assert grade.by_id()["c"].verdict == "satisfied"  # the second, identical \\cite{} is not dropped as a repeat


# -- copying, relevance, length ------------------------------------------------------------------------------

PAGE_TEXT = [
    "As of 2023, the annual revenue of Zewo Industries was 56.7 USD million, a figure its auditors confirmed "
    "after the spring review of the harbour accounts.",
    "As of 2023, the workforce of Zewo Industries was 1,234 employees spread across three production sites "
    "along the northern canal.",
    "Zewo Industries was founded in the harbour district and expanded into precision optics in the late 1990s.",
    "The company publishes its filings every spring and revises earlier figures when auditors request it.",
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    pages = [Page("https://reg.gov/zewo", "reg.gov", "Zewo Industries — register entry", "2024-01-01", 1,
                  tuple(PAGE_TEXT), ()),
             Page("https://news.com/other", "news.com", "Other", "2024-01-01", 2,
                  ("Tulm Group opened a new plant in the north of the country last autumn.",), ())]
    return SearchIndex.build(Corpus.from_pages(pages, name="t"), tmp_path_factory.mktemp("idx") / "index")


RUBRICS = [Rubric(id="rev", criterion="States the annual revenue", weight=4, check=REVENUE),
           Rubric(id="wf", criterion="States the workforce", weight=3, check=WORKFORCE),
           Rubric(id="cov", criterion="Covers Zewo", weight=1, check=CoverageCheck(entities=[ZEWO]))]


def test_pasted_paragraphs_beyond_the_quotation_budget_satisfy_nothing(index):
    pasted = "# Zewo\n\n" + " ".join(f"{p} \\cite{{https://reg.gov/zewo}}" for p in PAGE_TEXT)
    grade = DeterministicJudge().grade(RUBRICS, pasted, sources=index)
    verdicts = grade.by_id()
    assert verdicts["rev"].verdict == "not_satisfied" and verdicts["wf"].verdict == "not_satisfied"
    assert verdicts["integrity:copying"].verdict == "satisfied"
    without_index = DeterministicJudge().grade(RUBRICS, pasted)
    assert without_index.by_id()["rev"].verdict == "satisfied"  # what copy detection takes away
    assert grade.score < without_index.score - 0.5


def test_a_short_quotation_and_own_words_are_fine(index):
    own = HONEST + " " + PAGE_TEXT[3]  # one sentence quoted whole
    audit = audit_report(own, RUBRICS, source=index)
    assert 0 < audit.copied_words <= COPY_BUDGET_WORDS and "copying" not in audit.faults
    assert DeterministicJudge().grade(RUBRICS, own, sources=index).score == 1.0


def test_one_fact_in_the_plainest_words_is_not_copying(index):
    plain = ("As of 2023, the annual revenue of Zewo Industries was 56.7 USD million. As of 2023, the workforce of "
             "Zewo Industries was 1,234 employees. " * 1)
    audit = audit_report(plain, RUBRICS, source=index)
    assert audit.copied_words == 0 and "copying" not in audit.faults


def test_near_verbatim_pasting_is_copying(index):
    tweaked = " ".join(p.replace("As of 2023", "In 2023").replace(" was ", " stood at ") for p in PAGE_TEXT)
    assert "copying" in audit_report(tweaked, RUBRICS, source=index).faults


def test_off_task_content_costs_reward():
    padding = " ".join(f"Commentary {i}: the weather in the northern provinces was mild and dry this season."
                       for i in range(12))
    audit = audit_report(HONEST + " " + padding, RUBRICS)
    assert "relevance" in audit.faults and "relevance" not in audit_report(HONEST, RUBRICS).faults
    grade = DeterministicJudge().grade(RUBRICS, HONEST + " " + padding)
    assert grade.score == pytest.approx(1.0 - 0.3)


def test_length_far_beyond_the_task_costs_reward():
    words = words_needed(RUBRICS)
    long_report = HONEST + "\n\n" + " ".join(
        f"Zewo Industries note {i} restates its annual revenue of 56.7 USD million in 2023." for i in range(words // 10))
    audit = audit_report(long_report, RUBRICS)
    assert "length" in audit.faults and "length" not in audit_report(HONEST, RUBRICS).faults


def test_integrity_faults_score_zero_in_mandatory_mode():
    padding = " ".join(f"Commentary {i}: the weather was mild and dry this season." for i in range(12))
    assert DeterministicJudge(mode="mandatory").grade(RUBRICS, HONEST).score == 1.0
    assert DeterministicJudge(mode="mandatory").grade(RUBRICS, HONEST + " " + padding).score == 0.0
