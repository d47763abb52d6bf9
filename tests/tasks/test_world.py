from __future__ import annotations

import re

import pytest

from drgym.errors import UnknownSuiteError
from drgym.rewards.judges import DeterministicJudge
from drgym.rewards.rubric import FactCheck, FaultCheck
from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.tasks.render import DOMAINS
from drgym.tasks.suites import load_suite

SPEC = WorldSpec(seed=5, pages=600, conflict_rate=0.5, n_deep_search=25, n_deep_research=8, min_hops=2, max_hops=6)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> ProceduralWorld:
    return ProceduralWorld.build(tmp_path_factory.mktemp("w") / "w5", SPEC, index=False, show_progress=False)


def _files(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
            and "index" not in p.relative_to(path).parts}


def test_same_seed_gives_byte_identical_worlds(tmp_path, world):
    again = ProceduralWorld.build(tmp_path / "again", SPEC, index=False, show_progress=False)
    assert _files(again.path) == _files(world.path)


def test_different_seeds_give_different_worlds(tmp_path, world):
    other = ProceduralWorld.build(tmp_path / "other", WorldSpec(**{**SPEC.__dict__, "seed": 6}), index=False,
                                  show_progress=False)
    assert _files(other.path)["pages.arrow"] != _files(world.path)["pages.arrow"]
    assert {p.url for p in other.corpus} != {p.url for p in world.corpus}


def test_pages_span_twenty_domains_in_three_tiers_with_links(world):
    pages = list(world.corpus)
    assert len({p.domain for p in pages}) >= 20
    assert {p.tier for p in pages} == {1, 2, 3}
    assert all(DOMAINS[p.domain][0] == p.tier for p in pages)
    urls = {p.url for p in pages}
    linked = [link for p in pages for link in p.outlinks]
    assert linked and all(link in urls for link in linked)
    assert 450 <= len(pages) <= 750


def test_low_trust_pages_carry_conflicting_and_outdated_values(world):
    statuses = [s.status for s in world.statements if s.tier == 3]
    assert statuses.count("conflict") >= 10
    assert statuses.count("outdated") >= 3
    assert not any(s.status in ("conflict", "outdated") for s in world.statements if s.tier != 3)


def test_some_facts_only_on_archive_pages_or_in_tables(world):
    founded = [s for s in world.statements if s.key == "attr:founded"]
    assert founded and all("/archive/" in s.url for s in founded)
    history = [s for s in world.statements if s.status == "history" and "/entry/" in s.url]
    page = world.corpus.page(history[0].url)
    assert any(history[0].value in p and p.startswith("|") for p in page.paragraphs)


def test_every_deep_search_hop_is_stated_on_a_tier_one_page(world):
    tasks = world.tasks.filter(kind="deep_search")
    assert len(tasks) == SPEC.n_deep_search
    assert {t.meta["hops"] for t in tasks} >= {2, 3, 4}
    _assert_hops_on_tier_one(world)


def test_paraphrased_worlds_word_facts_differently_and_keep_them_reachable(tmp_path):
    spec = WorldSpec(**{**SPEC.__dict__, "seed": 8, "pages": 300, "paraphrase_rate": 0.5})
    world = ProceduralWorld.build(tmp_path / "p", spec, index=False, show_progress=False)
    text = "\n".join(p.text for p in world.corpus)
    assert " lists " in text and re.search(r"Chief executive of [^:]+: ", text)
    _assert_hops_on_tier_one(world)


def _assert_hops_on_tier_one(world):
    tier_one = [p for p in world.corpus if p.tier == 1]
    for task in world.tasks.filter(kind="deep_search"):
        assert len(task.meta["gold_path"]) == task.meta["hops"]
        for hop in task.meta["gold_path"]:
            wanted = hop.get("object_name") or hop["value"]
            assert any(hop["subject_name"] in p.text and re.search(rf"(?<![\w.,]){re.escape(wanted)}(?![\w]|,\d)", p.text)
                       for p in tier_one), (task.id, hop)
        last = task.meta["gold_path"][-1]
        assert task.answers[0] == (last.get("object_name") or last["value"])


def test_deep_research_rubrics_pass_on_gold_and_fail_on_low_trust_values(world):
    tasks = world.tasks.filter(kind="deep_research")
    assert len(tasks) == SPEC.n_deep_research
    n_conflicts = 0
    for task in tasks:
        assert 10 <= len(task.rubrics) <= 40, task.id
        assert all(r.check is not None for r in task.rubrics)
        gold = DeterministicJudge().grade(task.rubrics, task.meta["gold_report"])
        assert gold.score == 1.0, [v for v in gold.verdicts if v.verdict != "satisfied"]
        low_trust = DeterministicJudge().grade(task.rubrics, task.meta["low_trust_report"])
        for rubric in task.rubrics:
            if isinstance(rubric.check, FactCheck) and rubric.check.wrong_values:
                n_conflicts += 1
                assert low_trust.by_id()[rubric.id].verdict == "not_satisfied", rubric.id
            if isinstance(rubric.check, FaultCheck):
                assert gold.by_id()[rubric.id].verdict == "not_satisfied"
                assert low_trust.by_id()[rubric.id].verdict == "satisfied", rubric.id
        if any(r.weight < 0 for r in task.rubrics):
            assert low_trust.score < gold.score
        assert DeterministicJudge().grade(task.rubrics, "").score == 0.0
    assert n_conflicts >= 3


def test_unknown_suite_suggests_the_closest_name():
    with pytest.raises(UnknownSuiteError, match="Did you mean 'procedural:easy'"):
        load_suite("procedural:eazy")


def test_tiny_suite_builds_into_the_cache_once(tiny_world):
    first = load_suite("procedural:tiny", show_progress=False)
    stamp = (first.path / "world.json").stat().st_mtime_ns
    second = load_suite("procedural:tiny", show_progress=False)
    assert (second.path / "world.json").stat().st_mtime_ns == stamp
    assert len(second.tasks) == 8
    assert second.index.search(second.tasks.tasks[0].meta["gold_path"][0]["subject_name"])


def test_concurrent_first_loads_of_a_suite_build_it_once(tmp_path, monkeypatch):
    import threading

    from drgym.tasks.procedural import ProceduralWorld
    from drgym.tasks.suites import load_suite

    monkeypatch.setenv("DRGYM_HOME", str(tmp_path / "home"))
    worlds, errors, builds = [], [], []
    build = ProceduralWorld.build.__func__
    monkeypatch.setattr(ProceduralWorld, "build",
                        classmethod(lambda cls, *a, **k: builds.append(1) or build(cls, *a, **k)))

    def load():
        try:
            worlds.append(load_suite("procedural:tiny", show_progress=False))
        except Exception as e:  # what a racing rmtree/replace would raise
            errors.append(e)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(builds) == 1 and len({str(w.path) for w in worlds}) == 1
    assert len(worlds[0].tasks) == 8 and worlds[0].index.search("mayor", k=1)


def test_report_name_facts_carry_decoys_that_a_list_of_the_worlds_names_cannot_pass(world):
    graph = world.graph
    cities = [e.name for e in graph.entities.values() if e.kind == "place" and not e.twin_of]
    for task in world.tasks.filter(kind="deep_research"):
        subjects = [graph.entities[i] for i in task.meta["subgraph"] if graph.entities[i].kind == "organisation"]
        true_names = {name for company in subjects for key in ("headquarters", "ceo")
                      for holder in (company.relations[key], *(o for _, o in company.relation_history.get(key, ())))
                      for name in graph.entities[holder].names}
        name_facts = [r for r in task.rubrics if isinstance(r.check, FactCheck) and not r.check.numeric
                      and r.id.endswith(("-f0", "-f1", "ctx-0", "ctx-1"))]
        assert name_facts, task.id
        for rubric in name_facts:
            decoys = {name for names in rubric.check.decoys for name in names}
            assert len(rubric.check.decoys) == 8 and not decoys & true_names, rubric.id
        # every city of the world beside each company, as a white-box adversary wrote it: no headquarters passes
        rows = [f"| {company.names[-1]} | {' '.join(cities)} |" for company in subjects]
        listing = "| Company | Headquarters |\n| --- | --- |\n" + "\n".join(rows)
        grade = DeterministicJudge().grade(task.rubrics, listing)
        for rubric in name_facts:
            if rubric.criterion.startswith("States the headquarters"):
                assert grade.by_id()[rubric.id].verdict == "not_satisfied", rubric.id
        assert grade.score <= 0, task.id
