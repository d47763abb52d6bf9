"""Trajectory records rebuild their environment: env_kwargs as JSON, and `drgym replay --rerun`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import pytest
from typer.testing import CliRunner

from drgym.agents.rollout import rollout
from drgym.agents.scripted import ScriptedResearcher
from drgym.agents.trajectories import (
    NOT_JSON,
    TrajectoryWriter,
    env_kwargs_from_record,
    env_kwargs_to_json,
    read_trajectories,
    rerun_episode,
)
from drgym.cli import app
from drgym.envs import Budget, NoiseConfig, PriceTable
from drgym.errors import ConfigError
from drgym.tasks import TaskSet


def _kwargs(tiny_world) -> dict:
    return {"tasks": tiny_world.path / "tasks.jsonl", "web": str(tiny_world.path),
            "budget": Budget(max_turns=12, max_tool_calls=20), "noise": NoiseConfig(rate=0.3, kinds=("timeout",)),
            "tools": ("batch_web_surfer", "todo", "file"), "prices": PriceTable(usd_per_tool_call={"todo": 0.5})}


def test_env_kwargs_round_trip_through_json_into_an_equal_env(tiny_world):
    kwargs = _kwargs(tiny_world)
    recorded = json.loads(json.dumps(env_kwargs_to_json(kwargs)))
    assert recorded["tasks"] == str(tiny_world.path / "tasks.jsonl") and recorded["budget"]["max_turns"] == 12
    original = gym.make("drgym/DeepSearch-v1", **kwargs).unwrapped
    rebuilt = gym.make("drgym/DeepSearch-v1", **recorded).unwrapped
    try:
        assert rebuilt.budget == original.budget and rebuilt.noise == original.noise
        assert rebuilt.prices == original.prices and list(rebuilt.tools) == list(original.tools)
        assert [t.id for t in rebuilt.tasks] == [t.id for t in original.tasks]
    finally:
        original.close()
        rebuilt.close()


def test_objects_without_json_form_are_marked_and_rerun_refuses_them_by_key(tiny_world):
    task_set = TaskSet.load(tiny_world.path / "tasks.jsonl")
    recorded = env_kwargs_to_json({"tasks": task_set, "judge_config": {"base_url": "http://x", "model": "m",
                                                                       "api_key": "sk-secret"},
                                   "tokenizer": len, "deep": [[[[1]]]], "bad": float("nan")})
    text = json.dumps(recorded)
    assert "sk-secret" not in text  # a key never reaches a trajectory file
    assert recorded["tasks"][NOT_JSON]["type"].endswith("TaskSet")
    assert "callable" in recorded["tokenizer"][NOT_JSON]["reason"]
    assert recorded["deep"] == [[[[1]]]] and NOT_JSON in recorded["bad"]
    record = {"index": 3, "record_version": 2, "env_kwargs": recorded}
    with pytest.raises(ConfigError, match=re.escape("episode 3 cannot be rebuilt: env_kwargs.tasks was a")):
        env_kwargs_from_record(record)


def test_a_record_with_repr_env_kwargs_is_refused_with_the_fix():
    old = {"index": 0, "drgym_version": "0.0.9", "env_kwargs": {"tasks": "'procedural:easy'"}}
    with pytest.raises(ConfigError, match="stored env_kwargs as repr text"):
        env_kwargs_from_record(old)


@pytest.fixture
def recorded_run(tmp_path, tiny_world) -> Path:
    out = tmp_path / "runs.jsonl"
    rollout("drgym/DeepSearch-v1", ScriptedResearcher, n_episodes=2, out=out, show_progress=False,
            env_kwargs={"tasks": tiny_world.path / "tasks.jsonl", "budget": {"max_turns": 12},
                        "noise": NoiseConfig(rate=0.3)})
    return out


def test_a_recorded_episode_replays_step_for_step(recorded_run):
    records = list(read_trajectories(recorded_run))
    assert json.loads(records[0]["env_kwargs"])["noise"] == {"rate": 0.3, "kinds": list(NoiseConfig.kinds)}
    assert all(r["status"] == "ok" and r["policy"] and r["task_id"] for r in records)
    for record in records:
        result = rerun_episode(record)
        assert result.matches, result.divergence
        assert result.steps_replayed == len(record["steps"]) and result.reward == record["reward"]


def test_a_changed_observation_is_reported_at_its_step(recorded_run):
    record = next(read_trajectories(recorded_run))
    record["steps"][1]["observation"] = record["steps"][1]["observation"].replace("<tool_response>", "<tampered>", 1)
    result = rerun_episode(record)
    assert not result.matches
    assert result.divergence.step == 2 and result.divergence.field == "observation"
    assert "-<tampered>" in result.divergence.diff and len(result.divergence.diff) < 1000


def test_cli_replay_rerun(recorded_run, tmp_path):
    ok = CliRunner().invoke(app, ["replay", str(recorded_run), "--episode", "1", "--rerun"])
    assert ok.exit_code == 0, ok.output
    assert "match the record" in ok.output
    record = next(r for r in read_trajectories(recorded_run) if r["index"] == 1)
    record["reward"] = 0.5
    tampered = tmp_path / "tampered.jsonl"
    with TrajectoryWriter(tampered) as writer:
        writer.write(record)
    bad = CliRunner().invoke(app, ["replay", str(tampered), "--episode", "1", "--rerun"])
    assert bad.exit_code == 1 and "reward differs" in bad.output
    missing = CliRunner().invoke(app, ["replay", str(recorded_run), "--rerun"])
    assert missing.exit_code == 1 and "--rerun needs --episode" in missing.output


def test_rerun_reads_a_typed_record_and_names_a_bad_field(recorded_run):
    from drgym.core.records import read_records

    typed = next(read_records(recorded_run))
    assert rerun_episode(typed).matches  # the typed record itself, no dict round trip
    broken = typed.model_dump()
    broken["steps"][0]["observation"] = 7
    with pytest.raises(ConfigError, match=r"episode 0: field 'steps\.0\.observation'"):
        rerun_episode(broken)
    del broken["env_id"]
    with pytest.raises(ConfigError, match="field 'env_id'"):
        rerun_episode(broken)


def test_resuming_into_a_file_with_a_foreign_line_names_the_line(recorded_run, tiny_world):
    with recorded_run.open("a") as handle:
        handle.write(json.dumps({"episode_id": "x", "note": "not a record"}) + "\n")
    with pytest.raises(ConfigError, match=re.escape(f"{recorded_run}:3: field")):
        rollout("drgym/DeepSearch-v1", ScriptedResearcher, n_episodes=3, out=recorded_run, show_progress=False,
                env_kwargs={"tasks": tiny_world.path / "tasks.jsonl", "budget": {"max_turns": 12},
                            "noise": NoiseConfig(rate=0.3)})
