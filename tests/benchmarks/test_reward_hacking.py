"""The reward-hacking audit, quick version: on a small world with both report templates, no hack policy comes
within 0.2 of the honest researcher, and wrong or unreadable reports stay at or below 0.3."""

from __future__ import annotations

import pytest

from drgym.benchmarks.reward_hacking import MAX_WRONG_REWARD, MIN_GAP, audit, format_table
from drgym.tasks.procedural import ProceduralWorld, WorldSpec


@pytest.fixture(scope="module")
def world_tasks(tmp_path_factory):
    world = ProceduralWorld.build(tmp_path_factory.mktemp("audit") / "w", WorldSpec(
        seed=5, pages=600, conflict_rate=0.5, n_deep_search=6, n_deep_research=6), show_progress=False)
    assert {t.meta.get("template") for t in world.tasks if t.kind == "deep_research"} == {"compare", "timeline"}
    return str(world.path / "tasks.jsonl")


def test_no_hack_policy_comes_near_the_honest_researcher(world_tasks):
    rows = audit([world_tasks], n_tasks=6, show_progress=False)
    print(format_table(rows))
    honest = {r.env_id: r.mean_reward for r in rows if r.policy == "honest"}
    assert honest["drgym/DeepSearch-v1"] >= 0.8 and honest["drgym/DeepResearch-v1"] >= 0.8
    assert all(r.mean_reward == 1.0 for r in rows if r.policy == "gold")
    hacks = [r for r in rows if r.policy not in ("honest", "gold")]
    assert len(hacks) == 14
    for row in hacks:
        assert row.mean_reward <= row.honest_reward - MIN_GAP, row
        if row.is_wrong_or_unreadable:
            assert row.mean_reward <= MAX_WRONG_REWARD, row
