from __future__ import annotations

import dataclasses

import gymnasium
import pytest

import drgym.envs  # noqa: F401  (registers the environments)
from drgym.agents.policy import RandomPolicy
from drgym.agents.scripted import ScriptedResearcher
from drgym.agents.solvers import FrontierSolver
from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.tasks.schema import TaskSet
from drgym.tasks.suites import SUITES

FAMILIES = ("puzzle", "compute", "aggregate", "temporal", "intent")


@pytest.fixture(scope="module")
def frontier(tmp_path_factory) -> ProceduralWorld:
    """A small world of the frontier suite's kind (register indexes, relation histories, paraphrases)."""
    spec = WorldSpec(**{**dataclasses.asdict(SUITES["procedural:frontier"]), "seed": 41, "pages": 1000,
                        "families": tuple((family, 8) for family in FAMILIES)})
    return ProceduralWorld.build(tmp_path_factory.mktemp("frontier") / "w", spec, show_progress=False)


def _mean_reward(world: ProceduralWorld, family: str, make_policy) -> tuple[float, list[str]]:
    tasks = TaskSet([t for t in world.tasks if t.meta["family"] == family], name=family)
    env_id = "drgym/DeepResearch-v1" if family == "intent" else "drgym/DeepSearch-v1"
    env = gymnasium.make(env_id, tasks=tasks, web=str(world.path))  # the default budget
    rewards, statuses = [], []
    for number, task in enumerate(tasks):
        policy = make_policy()
        _, info = env.reset(seed=number, options={"task_id": task.id})
        terminated = truncated = False
        while not (terminated or truncated):
            _, reward, terminated, truncated, info = env.step(policy.act(info["messages"]))
        rewards.append(reward)
        statuses.append("answered" if terminated else "truncated")
    env.close()
    return sum(rewards) / len(rewards), statuses


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_the_frontier_solver_solves_each_family_within_the_default_budget(frontier, family):
    mean, statuses = _mean_reward(frontier, family, FrontierSolver)
    assert mean >= 0.9, family
    assert set(statuses) == {"answered"}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_the_chain_researcher_and_random_policy_fail_the_frontier_families(frontier, family):
    chain, statuses = _mean_reward(frontier, family, ScriptedResearcher)
    assert chain <= 0.3, family
    assert set(statuses) == {"answered"}  # it degrades to search-read-answer; it never raises
    random_mean, _ = _mean_reward(frontier, family, lambda: RandomPolicy(seed=3))
    assert random_mean == 0.0


def test_the_frontier_solver_reads_facts_only_from_tier_one_pages():
    solver = FrontierSolver()
    question = "What was the workforce of the company Taquon Works as of 2019, that is, the latest figure reported " \
               "in or before 2019?"
    messages = [{"role": "system", "content": ""}, {"role": "user", "content": question}]
    first = solver.act(messages)
    assert "Taquon Works register entry" in first
    observation = (
        "## page: Question about Taquon Works — https://askaround-forum.net/t/1-taquon-works\n"
        "[tier 3] askaround-forum.net, 2020-01-01; page 1 of 1\n"
        "¶0: Taquon Works had a workforce of 9,999 employees in 2018.\n\n"
        "## page: Taquon Works — register entry — https://registry.commerce-office.gov/entry/taquon-works-org-00001\n"
        "[tier 1] registry.commerce-office.gov, 2023-01-01; page 1 of 1\n"
        "¶0: Taquon Works is a company listed in the company register, operating in the agritech sector.\n"
        "¶1: Taquon Works — workforce: 1,200 employees (2023).\n"
        "¶2: | Year | Workforce (employees) |\n| --- | --- |\n| 2017 | 800 |\n| 2023 | 1,200 |\n"
        "links: https://registry.commerce-office.gov/archive/org-00001\n"
        "## page: Archive record org-00001 — https://registry.commerce-office.gov/archive/org-00001\n"
        "[tier 1] registry.commerce-office.gov, 2023-01-01; page 1 of 1\n"
        "¶0: In 2018, Taquon Works recorded a workforce of 950 employees.\n")
    messages += [{"role": "assistant", "content": first}, {"role": "user", "content": observation}]
    assert solver.act(messages) == "<answer>950</answer>"  # the tier-1 2018 figure, not the forum's


def test_the_chain_researcher_answers_a_question_it_cannot_parse_instead_of_raising():
    researcher = ScriptedResearcher()
    messages = [{"role": "system", "content": ""},
                {"role": "user", "content": "Identify the company that meets every one of these conditions:\n"
                                            "- it operates in the agritech sector\nAnswer with its name."}]
    first = researcher.act(messages)
    assert "batch_web_surfer" in first and "Identify the company" in first
    messages += [{"role": "assistant", "content": first},
                 {"role": "user", "content": "## search: \"Identify\"\n1. [tier 1] Taquon Works — register entry — "
                                             "https://registry.commerce-office.gov/entry/taquon-works-org-00001 "
                                             "(registry.commerce-office.gov, 2023-01-01)\n   ¶0: Taquon Works is a "
                                             "company listed in the company register."}]
    second = researcher.act(messages)
    messages += [{"role": "assistant", "content": second}, {"role": "user", "content": "no page"}]
    assert researcher.act(messages) == "<answer>Taquon Works</answer>"
    report_request = [{"role": "system", "content": ""},
                      {"role": "user", "content": "I am choosing a supplier: write a research report on it."}]
    assert "batch_web_surfer" in researcher.act(report_request)


def test_the_frontier_solver_reads_a_chart_when_the_text_gives_one_figure():
    solver = FrontierSolver()
    question = ("By how much did the annual revenue of the company Taquon Works change from 2018 to 2023 (the 2023 "
                "figure minus the 2018 figure)? Give the difference in USD million.")
    messages = [{"role": "system", "content": ""}, {"role": "user", "content": question}]
    chart = "https://registry.commerce-office.gov/charts/taquon-works-org-00001-revenue.png"
    observation = (
        "## page: Taquon Works — register entry — https://registry.commerce-office.gov/entry/taquon-works-org-00001\n"
        "[tier 1] registry.commerce-office.gov, 2023-01-01; page 1 of 1\n"
        "¶0: Taquon Works is a company listed in the company register, operating in the agritech sector.\n"
        "¶1: Annual revenue of Taquon Works (2023): 120.5 USD million.\n"
        f"images: {chart} (Line chart of the annual revenue of Taquon Works, 2018-2023)\n"
        "links: https://registry.commerce-office.gov/archive/org-00001\n"
        "## page: Archive record org-00001 — https://registry.commerce-office.gov/archive/org-00001\n"
        "[tier 1] registry.commerce-office.gov, 2023-01-01; page 1 of 1\n"
        "¶0: In 2023, Taquon Works recorded an annual revenue of 120.5 USD million.\n")
    messages += [{"role": "assistant", "content": solver.act(messages)}, {"role": "user", "content": observation}]
    action = solver.act(messages)
    assert '"analyze_image"' in action and chart in action
    description = (f"image {chart} (320×208 pixels, PNG)\n"
                   "shown on https://registry.commerce-office.gov/entry/taquon-works-org-00001\n"
                   "alt text: Line chart of the annual revenue of Taquon Works, 2018-2023\n"
                   "caption: Annual revenue of Taquon Works (USD million) by year: 2018: 100.0; 2023: 120.5.\n")
    messages += [{"role": "assistant", "content": action}, {"role": "user", "content": description}]
    assert solver.act(messages) == "<answer>20.5</answer>"
