from __future__ import annotations

import json

from typer.testing import CliRunner

from drgym.cli import app
from drgym.core.records import EpisodeRecord

runner = CliRunner()


def test_world_build_then_search_and_show_tasks(tmp_path):
    out = tmp_path / "w"
    result = runner.invoke(app, ["world", "build", "--seed", "3", "--pages", "120", "--out", str(out),
                                 "--deep-search", "3", "--deep-research", "1"])
    assert result.exit_code == 0, result.output
    assert "pages/s" in result.output
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    name = tasks[0]["meta"]["gold_path"][0]["subject_name"]
    result = runner.invoke(app, ["web", "search", name, "--corpus", str(out), "-k", "3"])
    assert result.exit_code == 0, result.output
    assert "tier" in result.output and name.split()[0] in result.output
    result = runner.invoke(app, ["tasks", "show", "--file", str(out / "tasks.jsonl"), "--id", tasks[-1]["id"]])
    assert result.exit_code == 0 and "rubrics" in result.output


def test_expected_errors_print_name_and_message_without_traceback(tmp_path):
    result = runner.invoke(app, ["web", "search", "x", "--corpus", str(tmp_path)])
    assert result.exit_code == 1
    assert "CorpusError:" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["world", "build", "--out", str(tmp_path / "w"), "--min-hops", "5", "--max-hops", "3"])
    assert result.exit_code == 1 and "ConfigError: hops must satisfy" in result.output


def test_ingest_command_reports_skipped_records(tmp_path):
    source = tmp_path / "pages.jsonl"
    source.write_text(json.dumps({"url": "https://a.example/1", "text": "Alpha beta."}) + "\n{broken\n")
    result = runner.invoke(app, ["web", "ingest", str(source), "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "line 2" in result.output and "1 pages kept, 1 bad records skipped" in result.output
    result = runner.invoke(app, ["web", "search", "alpha", "--corpus", str(tmp_path / "c")])
    assert "a.example" in result.output


def test_judge_command_prints_the_verdict_table(tiny_world, tmp_path):
    task = next(t for t in tiny_world.tasks if t.kind == "deep_research")
    report = tmp_path / "report.md"
    report.write_text(task.meta["gold_report"])
    result = runner.invoke(app, ["judge", "--report", str(report), "--task-id", task.id,
                                 "--task-file", str(tiny_world.path / "tasks.jsonl")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "score 1.000 (binary)" in result.output and "complete" in result.output
    assert "precision 1.00" in result.output
    result = runner.invoke(app, ["judge", "--report", str(report), "--task-id", task.id, "--judge", "llm",
                                 "--task-file", str(tiny_world.path / "tasks.jsonl")])
    assert result.exit_code == 1 and "needs --base-url and --model" in result.output


def test_rollout_and_replay_commands(tiny_world, tmp_path):
    out = tmp_path / "runs.jsonl"
    result = runner.invoke(app, ["rollout", "--out", str(out), "--suite", str(tiny_world.path), "--episodes", "2",
                                 "--env", "drgym/DeepSearch-v1"])
    assert result.exit_code == 0, result.output
    assert "2 episodes finished, 0 failed" in result.output
    listing = runner.invoke(app, ["replay", str(out)], env={"COLUMNS": "200"})
    assert listing.exit_code == 0 and "ds-0000" in listing.output
    transcript = runner.invoke(app, ["replay", str(out), "--episode", "1"])
    assert "answer received; episode over. reward 1.000" in transcript.output
    missing = runner.invoke(app, ["replay", str(out), "--episode", "9"])
    assert missing.exit_code == 1 and "no episode 9" in missing.output


def test_rollout_with_an_endpoint_policy_records_a_failure_when_the_server_is_down(tiny_world, tmp_path):
    out = tmp_path / "runs.jsonl"
    result = runner.invoke(app, ["rollout", "--out", str(out), "--suite", str(tiny_world.path), "--episodes", "1",
                                 "--policy", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
    assert result.exit_code == 0 and "0 episodes finished, 1 failed" in result.output
    assert "http://127.0.0.1:9/v1 is unreachable" in out.read_text()
    assert "kind 'openai' needs 'base_url' and 'model'" in runner.invoke(
        app, ["rollout", "--out", str(out), "--policy", "openai"]).output
    bad_choice = runner.invoke(app, ["rollout", "--out", str(out), "--policy", "gpt"])
    assert bad_choice.exit_code == 2 and "'gpt' is not one of" in bad_choice.output


def test_tasks_filter_drops_what_a_policy_solved(tiny_world, tmp_path):
    runs = tmp_path / "weak.jsonl"
    records = [EpisodeRecord(episode_id=f"e{i}", index=i, env_id="drgym/DeepSearch-v1", task_id=task_id,
                             kind="deep_search", seed=i, status=status, reward=reward)
               for i, (task_id, status, reward) in enumerate([("ds-0000", "ok", 1.0), ("ds-0001", "ok", 0.0),
                                                               ("ds-0002", "failed", 0.0)])]
    runs.write_text("".join(r.line() + "\n" for r in records))
    bad = tmp_path / "not-a-record.jsonl"
    bad.write_text(json.dumps({"task_id": "ds-0000", "reward": 1.0}) + "\n")
    result = runner.invoke(app, ["tasks", "filter", "--file", str(tiny_world.path / "tasks.jsonl"),
                                 "--solved-by", str(bad), "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 1 and "not-a-record.jsonl:1: field 'episode_id'" in result.output
    out = tmp_path / "hard.jsonl"
    result = runner.invoke(app, ["tasks", "filter", "--file", str(tiny_world.path / "tasks.jsonl"),
                                 "--solved-by", str(runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert "ds-0000" not in {t["id"] for t in kept} and {"ds-0001", "ds-0002"} <= {t["id"] for t in kept}
    # the kept tasks name their world by its folder, so the file is played from anywhere without --web
    assert {t["corpus"] for t in kept} == {str(tiny_world.path.resolve())}
    import gymnasium as gym

    gym.make("drgym/DeepSearch-v1", tasks=str(out)).close()
    assert f"kept {len(tiny_world.tasks) - 1} tasks ({len(tiny_world.tasks) - 2} never tried), dropped 1" in result.output


def test_rollout_from_a_policy_file_and_its_errors(tiny_world, tmp_path):
    good = tmp_path / "policy.yaml"
    good.write_text("kind: random\nseed: 3\nname: aimless\n")
    out = tmp_path / "runs.jsonl"
    result = runner.invoke(app, ["rollout", "--out", str(out), "--suite", str(tiny_world.path), "--episodes", "1",
                                 "--env", "drgym/DeepSearch-v1", "--policy-file", str(good)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text().splitlines()[0])["policy"] == "aimless"
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: openai\nbase_url: http://127.0.0.1:8000/v1\ntemprature: 0.5\n")
    result = runner.invoke(app, ["rollout", "--out", str(out), "--policy-file", str(bad)])
    assert result.exit_code == 1 and "bad.yaml:3: field 'temprature'" in result.output
