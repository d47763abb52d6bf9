"""Atomic-capability synthesis: every row replays in the environment to the same observations and reward."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from drgym.cli import app
from drgym.tasks.capabilities import PlanStep, plan_consistent, reverse_query
from drgym.train.synth import is_loop, mix_rows, replay_row, synthesize


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    stats = synthesize(["planning", "seeking", "reflection", "report"], "procedural:easy", out, n=6, seed=1,
                       show_progress=False)
    rows = {c: [json.loads(line) for line in (out / f"{c}.jsonl").read_text().splitlines()]
            for c in ("planning", "seeking", "reflection", "report")}
    return out, stats, rows


def test_every_row_replays_to_the_same_observations_and_reward(synthesized):
    _, stats, rows = synthesized
    for capability, items in rows.items():
        assert len(items) == 6 and stats.rows[capability] == 6, capability
        for row in items:
            observations, reward = replay_row(row)
            assert observations == row["replay"]["observations"], (capability, row["task_id"])
            assert reward == row["reward"], (capability, row["task_id"])
            assert row["capability"] == capability and row["messages"][-1]["role"] == "assistant"
            assert row["reward"] >= (1.0 if row["kind"] == "deep_search" else 0.6)


def test_reflection_rows_hold_the_error_and_the_recovery(synthesized):
    _, _, rows = synthesized
    kinds = {row["reflection"] for row in rows["reflection"]}
    assert kinds == {"recovery", "cross_check", "self_correction"}
    for row in rows["reflection"]:
        actions, observations = row["replay"]["actions"], row["replay"]["observations"]
        if row["reflection"] == "recovery":
            failed = [i for i, o in enumerate(observations[:-1]) if "the call can be retried" in o]
            assert failed and all("retry it" in actions[i + 1] for i in failed)
        elif row["reflection"] == "cross_check":
            value, url = row["conflict"]["value"], row["conflict"]["url"]
            seen = [i for i, o in enumerate(observations) if url in o and value in o]
            assert seen and any("re-read the tier-1 source" in a for a in actions[seen[0] + 1:])
            assert "<answer>" in actions[-1] and value not in actions[-1].split("<answer>")[1]
        else:
            stated = next(i for i, a in enumerate(actions) if row["wrong_claim"] in a and "probably" in a)
            assert any(f"not {row['wrong_claim']}" in a for a in actions[stated + 1:])


def test_planning_rows_pass_the_consistency_check_and_fail_without_a_step(synthesized):
    _, _, rows = synthesized
    plans = [row for row in rows["planning"] if row.get("plan")]
    reverse = [row for row in rows["planning"] if row.get("variant") == "reverse"]
    assert plans and reverse
    for row in plans:
        plan = [PlanStep(text, tuple(targets)) for text, targets in zip(row["plan"], row["plan_targets"])]
        actions = row["replay"]["actions"]
        assert plan_consistent(plan, actions)
        assert "todo" in actions[0] and all(json.dumps(step)[1:-1] in actions[0] for step in row["plan"])
        # remove the tool calls that cover one step: the check fails
        step = next(s for s in plan if s.targets)
        pruned = [a for a in actions if not any(t.lower() in a.lower() for t in step.targets) or "todo" in a
                  and "batch_web_surfer" not in a]
        pruned = [a.replace(step.targets[0], "") for a in pruned]
        assert not plan_consistent(plan, pruned)
    for row in reverse:
        assert row["messages"][1]["content"].startswith("Write a research report on")


def test_report_rows_cover_the_variants_with_their_rubrics(synthesized):
    _, _, rows = synthesized
    variants = {row["variant"] for row in rows["report"]}
    assert variants == {"full", "executive", "general_audience"}
    for row in rows["report"]:
        report = row["messages"][-1]["content"]
        assert "\\cite{" in report and "## " in report and row["rubrics"]
    assert any("| " in row["messages"][-1]["content"] for row in rows["report"])  # comparison tables


def test_loop_dedup_removes_a_planted_repetitive_trajectory(synthesized, tmp_path):
    out, _, rows = synthesized
    planted = json.loads(json.dumps(rows["seeking"][0]))
    search = planted["replay"]["actions"][0]
    planted["replay"]["actions"] = [search, search, search] + planted["replay"]["actions"][1:]
    assert is_loop(planted) and not any(is_loop(r) for r in rows["seeking"])
    with (tmp_path / "planted.jsonl").open("w") as handle:
        handle.write(json.dumps(planted) + "\n")
    counts = mix_rows([out / "seeking.jsonl", out / "report.jsonl", tmp_path / "planted.jsonl"],
                      {"seeking": 0.5, "report": 0.5}, tmp_path / "mix.jsonl")
    assert counts["loop (dropped)"] == 1 and counts["seeking"] == counts["report"] == 6
    mixed = [json.loads(line) for line in (tmp_path / "mix.jsonl").read_text().splitlines()]
    assert len(mixed) == 12 and not any(is_loop(r) for r in mixed)


def test_consistency_check_on_a_hand_made_plan():
    plan = [PlanStep("entry of A", ("Alpha Corp",)), PlanStep("archive of A", ("/archive/org-1",)),
            PlanStep("write", ())]
    todo = '<tool_call>{"name": "todo", "arguments": {"action": "add", "item": "Alpha Corp /archive/org-1"}}</tool_call>'
    search = '<tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["Alpha Corp register entry"]}}</tool_call>'
    read = '<tool_call>{"name": "batch_web_surfer", "arguments": {"urls": ["https://r.gov/archive/org-1"]}}</tool_call>'
    assert plan_consistent(plan, [todo, search, read, "<answer>report</answer>"])
    assert not plan_consistent(plan, [todo, read, search, "<answer>report</answer>"])  # out of order
    assert not plan_consistent(plan, [todo, search, "<answer>report</answer>"])  # a step left out
    assert not plan_consistent(plan, [todo, "<answer>report</answer>"])  # writing the plan down covers nothing


def test_reverse_query_reads_the_report_back():
    report = "# The agritech sector: A Corp and B Ltd\n\n## Overview\n\ntext\n\n## A Corp\n\n| a | b |\n\n## Comparison\n"
    query = reverse_query(report)
    assert query.startswith("Write a research report on A Corp and B Ltd") and "comparison table" in query


def test_cli_synth_and_mix(tmp_path):
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), "--capability", "seeking",
                                      "--capability", "report", "--n", "2", "--suite", "procedural:tiny"])
    assert result.exit_code == 0, result.output
    assert "seeking" in result.output and (tmp_path / "seeking.jsonl").is_file()
    mixed = CliRunner().invoke(app, ["synth", "mix", str(tmp_path / "seeking.jsonl"), str(tmp_path / "report.jsonl"),
                                     "--ratio", "search=0.3,research=0.7", "--out", str(tmp_path / "mix.jsonl")])
    assert mixed.exit_code == 0, mixed.output
    bad = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), "--capability", "dreaming"])
    assert bad.exit_code == 1 and "unknown capabilities" in bad.output


def test_seeking_has_link_walks_that_reach_the_answer_only_through_links(synthesized):
    _, _, rows = synthesized
    walks = [row for row in rows["seeking"] if row["source"] == "link_walk"]
    assert walks and any(row["source"] == "graph_path" for row in rows["seeking"])
    for row in walks:
        actions, observations = row["replay"]["actions"], row["replay"]["observations"]
        assert row["replay"]["env_kwargs"]["unsearchable"] == ["/archive/"]
        searches = [o for a, o in zip(actions, observations) if '"queries"' in a and '"urls"' not in a]
        assert not any("/archive/" in o for o in searches)  # search never showed an archive page
        assert any('"urls"' in a and "/archive/" in a for a in actions)  # it followed a link to one


def test_mix_refuses_a_file_that_is_not_synthesised_rows(tmp_path):
    from drgym.errors import TaskFileError
    from drgym.train.synth import mix_rows

    tasks = tmp_path / "tasks.jsonl"  # what drgym synth also writes into its --out folder
    tasks.write_text('{"id": "t1", "kind": "deep_research", "question": "q"}\n')
    with pytest.raises(TaskFileError, match=r"tasks.jsonl:1: not a synthesised row \(no 'messages' list\)"):
        mix_rows([tasks], {"seeking": 1.0}, tmp_path / "out.jsonl")


def test_tasks_of_another_world_are_refused_by_name(tmp_path):
    """Every world numbers its entities alike: tasks played against another world's graph would crash the
    teachers (a company of the question missing from the graph), so they are refused with both worlds named."""
    from drgym.errors import ConfigError
    from drgym.tasks.procedural import ProceduralWorld, WorldSpec

    for seed in (7, 8):
        ProceduralWorld.build(tmp_path / f"w{seed}", WorldSpec(seed=seed, pages=150, n_deep_search=4,
                                                               n_deep_research=2), show_progress=False)
    with pytest.raises(ConfigError, match=r"not tasks of the world .*w7 \(world-7\): they were made in world-8"):
        synthesize(["planning"], str(tmp_path / "w8" / "tasks.jsonl"), tmp_path / "out", n=2,
                   web=tmp_path / "w7", show_progress=False)
