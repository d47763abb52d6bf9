"""The submitted report is recorded when it is graded, not rebuilt afterwards from the actions."""

from __future__ import annotations

import json

import pytest

from drgym.agents.policy import CallablePolicy
from drgym.agents.rollout import rollout
from drgym.agents.trajectories import read_trajectories


def _call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def _script(actions):
    def act(messages):
        turn = sum(m["role"] == "assistant" for m in messages)
        return actions[min(turn, len(actions) - 1)]
    return act


def _record(tmp_path, tiny_world, actions, name):
    out = tmp_path / f"{name}.jsonl"
    rollout("drgym/DeepResearch-v1", lambda: CallablePolicy(_script(actions)), n_episodes=1, n_workers=1, out=out,
            env_kwargs={"tasks": str(tiny_world.path / "tasks.jsonl")}, show_progress=False)
    (record,) = read_trajectories(out)
    return record


def test_a_written_then_patched_report_is_recorded_as_patched(tmp_path, tiny_world):
    record = _record(tmp_path, tiny_world, [
        _call("file", action="write", path="report.md", content="# Draft\n\nThe first version."),
        _call("file", action="patch", path="report.md", old="The first version.", new="The patched version."),
        "<answer file='report.md'/>"], "patched")
    assert record["status"] == "ok"
    assert record["submission"] == "# Draft\n\nThe patched version."


def test_a_native_tool_call_episode_records_its_report(tmp_path, tiny_world):
    write = {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
        "name": "file", "arguments": json.dumps({"action": "write", "path": "report.md", "content": "# R\n\nText."})}}]}
    record = _record(tmp_path, tiny_world, [write, '<answer file="report.md"/>'], "native")
    assert record["submission"] == "# R\n\nText."


def test_trajectory_files_of_both_kinds_and_failed_episodes_load_as_one_dataset(tmp_path, tiny_world):
    datasets = pytest.importorskip("datasets", reason="datasets is in the dev extra")
    from drgym.agents import ScriptedResearcher

    def crashing():
        return CallablePolicy(lambda messages: 1 / 0)

    tasks = {"tasks": str(tiny_world.path / "tasks.jsonl")}
    for env_id in ("drgym/DeepSearch-v1", "drgym/DeepResearch-v1"):
        name = env_id.split("/")[1]
        rollout(env_id, ScriptedResearcher, n_episodes=2, out=tmp_path / f"{name}.jsonl", env_kwargs=tasks,
                show_progress=False)
        rollout(env_id, crashing, n_episodes=3, out=tmp_path / f"{name}.jsonl", env_kwargs=tasks,
                show_progress=False)  # the third episode fails, in the same file
    # a run with other keyword arguments (a budget) still shares the schema
    rollout("drgym/DeepSearch-v1", ScriptedResearcher, n_episodes=1, out=tmp_path / "budget.jsonl",
            env_kwargs={**tasks, "budget": {"max_turns": 9}}, show_progress=False)
    files = sorted(str(p) for p in tmp_path.glob("*.jsonl"))
    table = datasets.load_dataset("json", data_files=files, split="train", cache_dir=str(tmp_path / "cache"))
    assert table.num_rows == 7 and set(table["kind"]) == {"deep_search", "deep_research"}
    assert sorted(table["status"]) == ["failed", "failed", "ok", "ok", "ok", "ok", "ok"]
    keys = [set(json.loads(line)) for path in files for line in open(path, encoding="utf-8")]
    assert all(k == keys[0] for k in keys)  # one schema, whatever the kind or outcome
