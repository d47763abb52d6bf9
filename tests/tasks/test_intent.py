"""Research requests with intent beyond choosing a supplier (assess a risk, explain a change), and computation
questions that need a chart: derived from the graph, gold reports that score 1.0, cheap reports that do not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from drgym.envs.tools.base import EpisodeState
from drgym.envs.tools.image import AnalyzeImage
from drgym.rewards.judges import DeterministicJudge
from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.tasks.suites import SUITES
from drgym.tasks.synth import RISK_LEVELS
from tests.tasks.test_families import _check_compute


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> ProceduralWorld:
    """A small frontier world with its index (copy detection reads it): intent requests and computation."""
    spec = WorldSpec(**{**dataclasses.asdict(SUITES["procedural:frontier"]), "seed": 23, "pages": 900,
                        "conflict_rate": 0.6, "families": (("intent", 12), ("compute", 16))})
    return ProceduralWorld.build(tmp_path_factory.mktemp("intent") / "w", spec, show_progress=False)


def _template(built: ProceduralWorld, name: str) -> list:
    tasks = [t for t in built.tasks if t.meta.get("template") == name]
    assert len(tasks) >= 2  # in turn; a template short of distinct subjects gives way to the next
    return tasks


def _grade(built, task, report):
    return DeterministicJudge().grade(task.rubrics, report, sources=built.index)


def _replace_section(report: str, heading: str, text: str) -> str:
    head, _, rest = report.partition(f"## {heading}\n\n")
    tail = rest.partition("\n\n## ")[2]
    return head + f"## {heading}\n\n{text}\n" + (f"\n## {tail}" if tail else "")


def test_risk_verdicts_follow_the_stated_rule_and_gold_reports_score_one(built):
    graph = built.graph
    for task in _template(built, "risk"):
        company = graph.entities[task.meta["company"]]
        falls = sum(company.attributes[key][-1][1] < company.attributes[key][-2][1] for key in ("revenue_musd", "employees"))
        assert task.meta["verdict"] == RISK_LEVELS[falls]
        gold = _grade(built, task, task.meta["gold_report"])
        assert gold.score == 1.0, [v for v in gold.verdicts if (v.verdict == "satisfied") != (v.weight > 0)]


def test_cheap_risk_assessments_score_low(built):
    for task in _template(built, "risk"):
        name, gold = built.graph.entities[task.meta["company"]].name, task.meta["gold_report"]
        every = _replace_section(gold, "Verdict", f"Under the stated rule, {name} is a low risk, a moderate risk or a "
                                                  "high risk.")
        hedged = _replace_section(gold, "Verdict", f"{name} might be a high risk, or perhaps a low risk.")
        for report in (every, hedged):
            grade = _grade(built, task, report)
            assert grade.by_id()["verdict"].verdict == "not_satisfied" and grade.score < 0.8
        only_verdicts = (f"# {name}\n\n## Verdict\n\n{name} is a low risk. {name} is a moderate risk. {name} is a high "
                         "risk.\n")
        assert _grade(built, task, only_verdicts).score <= 0.1
        _assert_copying_and_padding_score_low(built, task, name, "verdict")


def test_change_explanations_name_the_one_change_between_the_years_and_gold_reports_score_one(built):
    graph = built.graph
    for task in _template(built, "change"):
        company = graph.entities[task.meta["company"]]
        first, last = task.meta["years"]
        years = [y for y, _ in company.attributes["employees"]]
        assert years.index(last) == years.index(first) + 1  # consecutive reported years
        changes = [(start, key, holder) for key, holders in company.relation_history.items()
                   for start, holder in holders if first < start <= last]
        change = task.meta["change"]
        assert changes == [(change["year"], change["relation"], change["holder"])]
        assert graph.entities[company.relation_as_of(change["relation"], change["year"])].id == change["holder"]
        gold = _grade(built, task, task.meta["gold_report"])
        assert gold.score == 1.0, [v for v in gold.verdicts if (v.verdict == "satisfied") != (v.weight > 0)]


def test_cheap_change_explanations_score_low(built):
    graph = built.graph
    for task in _template(built, "change"):
        company = graph.entities[task.meta["company"]]
        change = task.meta["change"]
        holders = [graph.entities[o].name for _, o in company.relation_history[change["relation"]]]
        every = _replace_section(task.meta["gold_report"], "Explanation",
                                 " ".join(f"The turning point came with {holder}." for holder in holders))
        hedged = _replace_section(task.meta["gold_report"], "Explanation",
                                  f"The turning point may have come with {holders[-1]}.")
        assert _grade(built, task, hedged).by_id()["explanation"].verdict == "not_satisfied"
        grade = _grade(built, task, every)
        assert grade.by_id()["explanation"].verdict == "not_satisfied" and grade.score < 0.85
        listed = (f"# {company.name}\n\n## Explanation\n\n"
                  + " ".join(f"{holder} took over at {company.name}." for holder in holders) + "\n")
        assert _grade(built, task, listed).score <= 0.2
        _assert_copying_and_padding_score_low(built, task, company.name, "explanation")


def _assert_copying_and_padding_score_low(built, task, name, analysis_id):
    pages = [built.corpus.get(url) for url in dict.fromkeys(
        u for r in task.rubrics if r.check is not None and r.check.type == "citation" for u in r.check.urls)]
    copied = f"# {name}\n\n## Sources\n\n" + "\n\n".join(p for page in pages for p in page.paragraphs) + "\n"
    grade = _grade(built, task, copied)
    # a page's one-fact sentences in the plainest words are not copying (rewards/integrity.py), so some facts count;
    # the analysis the request asks for is on no page
    assert grade.score <= 0.5 and grade.by_id()[analysis_id].verdict == "not_satisfied", grade.score
    padding = next((r for r in task.rubrics if r.id == "padding"), None)
    if padding is not None:
        padded = task.meta["gold_report"] + "\n\n## Background\n\n" + " ".join(
            f"{name} also makes {names[0]}." for names in padding.check.entities)
        grade = _grade(built, task, padded)
        assert grade.by_id()["padding"].verdict == "satisfied" and grade.score < 1.0


def test_a_share_of_computation_questions_needs_a_figure_only_a_chart_gives(built, tmp_path):
    chart_tasks = [t for t in built.tasks if t.meta.get("source") == "chart"]
    assert len(chart_tasks) == 4  # a quarter of 16
    statements = built.statements
    tool = AnalyzeImage(built.corpus)
    for task in chart_tasks:
        _check_compute(built.graph, task)
        for given in task.meta["inputs"]:
            if given["year"] not in task.meta["chart_years"]:
                continue
            stated = [s for s in statements if s.entity_id == given["entity"] and s.key == f"attr:{given['attribute']}"
                      and s.year == given["year"] and s.value == given["value"]]
            assert {s.status for s in stated if s.tier <= 2} == {"chart"}  # no text of tier 1 or 2 states it
            entry = next(s.url for s in stated if s.status == "chart")
            page = built.corpus.get(entry)
            assert not any(given["value"] in paragraph for paragraph in page.paragraphs)
            state = EpisodeState(workspace=tmp_path, rng=np.random.default_rng(0))
            description = tool.run(state, source=page.images[0].url)
            assert f"{given['year']}: {given['value']}" in description  # analyze_image reads it offline


def test_no_two_requests_share_a_subject(built):
    """Two requests on one subject differ only in who asks, and the split can put them on both sides: a white-box
    adversary submitted a train twin's gold report for a held-out task (0.85, no research)."""
    subjects = [(t.meta["template"], t.meta.get("company"), tuple(t.meta.get("years", ())),
                 tuple(sorted(t.meta.get("products", ())))) for t in built.tasks if t.meta.get("family") == "intent"]
    assert len(subjects) == len(set(subjects)) == 12
    products = [p for t in built.tasks if t.meta.get("template") == "supplier" for p in t.meta["products"]]
    assert products and len(products) == len(set(products))  # a product's facts answer one request only


def _shotgun(built, task) -> str:
    """A report written from the question and the world's vocabulary alone (every city, person and company name,
    and ladders of figures 1.5 % apart that put any value within 1 % of one of them): a white-box adversary's
    attack, 0.36 before the judge asked for one committed value."""
    graph, meta = built.graph, task.meta
    names = {kind: sorted(e.name for e in graph.by_kind(kind)) for kind in ("place", "person", "organisation")}
    ladder = [f"{4 * 1.015 ** i:.1f}" for i in range(700)]  # 4 .. 130,000
    years = " ".join(str(y) for y in range(2014, 2026))
    if meta["template"] == "change":
        company = graph.entities[meta["company"]].name
        body = [f"In {years}, {company} moved its headquarters to {', '.join(names['place'])}.",
                f"In {years}, {company} appointed as chief executive {', '.join(names['person'])}.",
                f"Between {meta['years'][0]} and {meta['years'][1]}, the workforce of {company} grew and fell."]
    elif meta["template"] == "risk":
        company = graph.entities[meta["company"]].name
        body = [f"{company} annual revenue in {years} (USD million): {'; '.join(ladder[i:i + 40])}."
                for i in range(0, len(ladder), 40)]
        body += [f"{company} workforce in {years} (employees): {'; '.join(ladder[i:i + 40])}."
                 for i in range(0, len(ladder), 40)]
        body.append(f"Under the rule, lending to {company} is a moderate risk.")
    else:
        products = ", ".join(graph.entities[i].name for i in meta["products"])
        body = [f"{products} are made by {', '.join(names['organisation'])}."]
        body += [f"{products} unit price in {years} (USD): {'; '.join(ladder[i:i + 40])}."
                 for i in range(0, len(ladder), 40)]
        body.append(f"We recommend {graph.entities[meta['products'][0]].name}.")
    return "# Report\n\n## Findings\n\n" + "\n\n".join(body) + "\n\n## Table\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n"


def test_shotgun_reports_written_without_research_score_low(built):
    grades = {t.id: _grade(built, t, _shotgun(built, t)) for t in built.tasks if t.meta.get("family") == "intent"}
    assert sum(g.score for g in grades.values()) / len(grades) <= 0.1, {i: g.score for i, g in grades.items()}
    # a figure or a change from the lists never counts; a maker does only where the lists happen to put it beside
    # its product and no other candidate's maker there (the judge reads a name near the product it is said of)
    satisfied, facts = [], 0
    for task in built.tasks:
        if task.id in grades:
            verdicts = grades[task.id].by_id()
            for rubric in task.rubrics:
                if rubric.check is not None and rubric.check.type == "fact":
                    facts += 1
                    if verdicts[rubric.id].verdict == "satisfied":
                        satisfied.append((task.meta["template"], rubric.id, rubric.check.numeric))
    assert not [s for s in satisfied if s[2] or s[0] == "change"], satisfied
    assert len(satisfied) <= 0.1 * facts, (satisfied, facts)


def test_conclusions_guessed_without_research_earn_nothing(built):
    """Structure plus the verdict, trends, recommendation and explanation guessed from the question (no facts)."""
    for task in (t for t in built.tasks if t.meta.get("family") == "intent"):
        name = built.graph.entities[task.meta.get("company") or task.meta["recommended"]].name
        guess = (f"# Memo\n\n## Summary\n\n{name} is a moderate risk. The revenue of {name} grew and its workforce "
                 f"declined. We recommend {name}. The turning point explains the change.\n\n## Table\n\n"
                 "| a | b |\n| --- | --- |\n| 1 | 2 |\n\n## Notes\n\n" + "More detail follows. " * 20 + "\n")
        grade = _grade(built, task, guess)
        assert all(v.verdict != "satisfied" for v in grade.verdicts if v.axis == "analysis"), task.id
        assert grade.score <= 0.15, (task.id, grade.score)


def test_supplier_makers_and_changes_carry_decoys_none_of_them_true(built):
    from drgym.rewards.rubric import FactCheck

    graph = built.graph
    seen = 0
    for task in built.tasks:
        template = task.meta.get("template")
        for rubric in task.rubrics:
            check = rubric.check
            is_maker = template == "supplier" and rubric.id.endswith("-f1")
            if not isinstance(check, FactCheck) or not (is_maker or (template == "change" and rubric.id == "change")):
                continue
            seen += 1
            decoys = {name for names in check.decoys for name in names}
            assert len(check.decoys) == 8, rubric.id
            assert not decoys & {check.value, *check.value_aliases}, rubric.id
            assert not decoys & {name for rival in check.rivals for name in rival}, rubric.id
            gold = DeterministicJudge().grade(task.rubrics, task.meta["gold_report"])
            assert gold.by_id()[rubric.id].verdict == "satisfied", (task.id, rubric.id)
    assert seen >= 4
    assert graph is not None
