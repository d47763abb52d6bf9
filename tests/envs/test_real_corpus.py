"""Tasks and rollouts on your own pages: the web from a task file's corpus field or --web, the system prompt by
the kind of web, and --web on rollout, eval, synth and judge."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import gymnasium as gym
import pytest
from typer.testing import CliRunner

import drgym  # noqa: F401
from drgym.agents.trajectories import read_trajectories
from drgym.cli import app
from drgym.envs.research_env import SYSTEM_PROMPTS
from drgym.errors import ConfigError
from drgym.tasks.importers import import_browsecomp_plus

BCP = Path(__file__).parents[1] / "tasks" / "fixtures" / "browsecomp_plus"


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> tuple[Path, list[dict]]:
    """A corpus of real-style pages (the BrowseComp-Plus fixture, indexed) and its tasks as JSON rows."""
    root = tmp_path_factory.mktemp("real")
    tasks, corpus = import_browsecomp_plus(BCP / "queries.jsonl", BCP / "corpus.jsonl", name="pages")
    corpus.save(root / "pages")
    from drgym.web.index import SearchIndex

    SearchIndex.build(corpus, root / "pages" / "index", show_progress=False)
    return root / "pages", [task.model_dump(mode="json") for task in tasks]


def _task_file(path: Path, rows: list[dict], corpora: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({**row, "corpus": corpus}) + "\n\n" for row, corpus in zip(rows, corpora)),
                    encoding="utf-8")
    return path


def _make(**kwargs):
    return gym.make("drgym/DeepSearch-v1", tools=["batch_web_surfer"], **kwargs)


@pytest.mark.parametrize("relative", [True, False])
def test_the_corpus_field_of_a_task_file_is_the_web(tmp_path, real, relative):
    folder, rows = real
    tasks = tmp_path / "a" / "b" / "tasks.jsonl"
    corpus = os.path.relpath(folder, tasks.parent) if relative else str(folder)
    assert corpus.startswith("..") == relative
    _task_file(tasks, rows, [corpus] * len(rows))
    with _make(tasks=str(tasks)) as env:
        assert env.unwrapped.index.corpus.path == folder
        obs, _ = env.reset(seed=0, options={"task_id": "801"})
        obs, *_ = env.step('<tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["Orwell Point"]}}'
                           '</tool_call>')
        assert "harbourlights.example.org/keepers/orwell-point" in obs


def test_tasks_naming_different_corpora_are_refused_naming_the_lines(tmp_path, real, tiny_world):
    folder, rows = real
    tasks = _task_file(tmp_path / "tasks.jsonl", rows, [str(folder), str(tiny_world.path), str(folder)])
    expected = f"{tasks}: the tasks name different corpora (lines 1, 5: {folder}; line 3: {tiny_world.path})"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        _make(tasks=str(tasks))
    with _make(tasks=str(tasks), web=str(folder)) as env:  # web= chooses one for all: the fields are not read
        assert env.unwrapped.index.corpus.path == folder


def test_a_corpus_field_naming_no_folder_says_line_and_fix(tmp_path, real):
    _, rows = real
    tasks = _task_file(tmp_path / "tasks.jsonl", rows, ["", "corpora/missing", ""])
    with pytest.raises(ConfigError, match=re.escape(f"{tasks}:3: field 'corpus': 'corpora/missing' is not a corpus or "
                                                    "world folder")) as raised:
        _make(tasks=str(tasks))
    assert "pass web= (--web)" in str(raised.value)
    hostile = _task_file(tmp_path / "hostile.jsonl", rows[:1], ["x" * 5000 + "\x00"])
    with pytest.raises(ConfigError, match="field 'corpus'"):
        _make(tasks=str(hostile))


def test_real_pages_get_the_real_prompt_and_a_world_the_procedural_one(real, tiny_world):
    folder, rows = real
    tasks = _task_file(folder.parent / "tasks" / "t.jsonl", rows, ["../pages"] * len(rows))
    with _make(tasks=str(tasks)) as env:
        _, info = env.reset(seed=0)
        system = info["messages"][0]["content"]
        assert env.unwrapped.web_kind == "real"
        assert "fictional" not in system and system.startswith(SYSTEM_PROMPTS["real"].split("\n")[0][:60])
    with _make(tasks=str(tiny_world.path / "tasks.jsonl")) as env:
        _, info = env.reset(seed=0)
        assert env.unwrapped.web_kind == "procedural"
        assert "an offline web of fictional entities" in info["messages"][0]["content"]


def test_system_prompt_overrides_the_choice_on_both_kinds(real, tiny_world):
    folder, rows = real
    tasks = _task_file(folder.parent / "tasks" / "t2.jsonl", rows, ["../pages"] * len(rows))
    for source in (str(tasks), str(tiny_world.path / "tasks.jsonl")):
        with _make(tasks=source, system_prompt="Answer from the pages. {finish}\n{tools}") as env:
            _, info = env.reset(seed=0)
            assert info["messages"][0]["content"].startswith("Answer from the pages. When you know the answer")


def test_rollout_and_eval_take_web(tmp_path, real):
    folder, rows = real
    tasks = _task_file(tmp_path / "tasks.jsonl", rows, [""] * len(rows))  # names no corpus: --web gives it
    runner = CliRunner()
    result = runner.invoke(app, ["rollout", "--env", "drgym/DeepSearch-v1", "--suite", str(tasks), "--web", str(folder),
                                 "--episodes", "2", "--out", str(tmp_path / "runs.jsonl")])
    assert result.exit_code == 0, result.output
    records = list(read_trajectories(tmp_path / "runs.jsonl"))
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert json.loads(records[0]["env_kwargs"])["web"] == str(folder)  # the record rebuilds the same env
    result = runner.invoke(app, ["eval", "--suite", str(tasks), "--web", str(folder), "--policy", "scripted",
                                 "--out", str(tmp_path / "eval")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["suite"]["web"] == str(folder)
    result = runner.invoke(app, ["rollout", "--env", "drgym/DeepSearch-v1", "--suite", str(tasks),
                                 "--episodes", "1", "--out", str(tmp_path / "no-web.jsonl")])
    assert result.exit_code == 1 and "ConfigError: these tasks need a web" in result.output


def test_judge_takes_web_and_synth_refuses_real_pages(tmp_path, real, tiny_world):
    folder, _ = real
    task = next(t for t in tiny_world.tasks if t.kind == "deep_research")
    report = tmp_path / "report.md"
    report.write_text(task.meta["gold_report"], encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["judge", "--report", str(report), "--task-id", task.id, "--suite",
                                 str(tiny_world.path / "tasks.jsonl"), "--web", str(tiny_world.path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "citations:" in result.output
    result = runner.invoke(app, ["judge", "--report", str(report), "--task-id", task.id, "--suite", "x",
                                 "--task-file", str(tiny_world.path / "tasks.jsonl")])
    assert result.exit_code == 1 and "give --suite or --task-file, not both" in result.output
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "synth"), "--suite", str(tiny_world.path),
                                 "--web", str(folder), "--n", "1"])
    assert result.exit_code == 1
    assert "synthesis needs a procedural world, whose knowledge graph its teachers read" in result.output
    assert f"--web {folder} is not one (no world.json)" in result.output
