"""drgym eval: same tasks for every policy, resumable, failing policies reported, reports and plots written."""

from __future__ import annotations

import functools
import json

import pytest
from typer.testing import CliRunner

from drgym.agents.policy import CallablePolicy
from drgym.agents.trajectories import read_trajectories
from drgym.benchmarks.costs import load_prices
from drgym.benchmarks.evaluation import (
    EvalPolicy,
    EvalSuite,
    analyse,
    builtin_policy,
    llm_comparisons,
    load_policies,
    resolve_suite,
    run_eval,
)
from drgym.benchmarks.report import write_plots, write_report
from drgym.cli import app
from drgym.core.kinds import ENV_IDS
from drgym.core.records import EpisodeRecord
from drgym.errors import ConfigError
from drgym.rewards.llm_judge import LLMJudgeConfig, LLMPairwiseJudge
from drgym.tasks.schema import TaskSet
from tests.rewards.chat_server import ChatServer


def broken_policy(messages):
    raise RuntimeError("the endpoint is down")


def _scores(results):
    """Everything but timings."""
    keep = {}
    for name, p in results["policies"].items():
        keep[name] = {k: v for k, v in p.items() if k not in ("wall_s",)}
    episodes = [{k: v for k, v in e.items() if k != "wall_s"} for e in results["episodes"]]
    return keep, sorted(episodes, key=lambda e: (e["policy"], e["file"], e["index"])), results["elo"]


@pytest.fixture(scope="module")
def suite():
    return resolve_suite("procedural:tiny", split="all", show_progress=False)


def test_every_policy_plays_the_same_tasks_and_a_failing_policy_is_reported(suite, tmp_path):
    broken = EvalPolicy("broken", functools.partial(CallablePolicy, broken_policy), "broken")
    results = run_eval(suite, [builtin_policy("scripted"), builtin_policy("random"), broken], tmp_path,
                       show_progress=False)
    played = {name: sorted((e["task_id"], e["seed"]) for e in results["episodes"] if e["policy"] == name)
              for name in results["policies"]}
    assert played["scripted"] == played["random"] == played["broken"] and len(played["scripted"]) == len(suite.tasks)
    scripted, broken_stats = results["policies"]["scripted"], results["policies"]["broken"]
    assert scripted["score"]["mean"] == 1.0 and scripted["failed"] == 0
    assert broken_stats["failed"] == broken_stats["episodes"] == len(suite.tasks)
    assert broken_stats["score"]["mean"] == 0.0 and "RuntimeError: the endpoint is down" in broken_stats["errors"][0]
    assert [r["player"] for r in results["elo"]["ratings"]][0] == "scripted"
    report = write_report(results, tmp_path).read_text()
    assert "| broken |" in report and f"{len(suite.tasks)}/{len(suite.tasks)}" in report
    assert "drgym replay trajectories/" in report
    plots = write_plots(results, tmp_path)
    assert {p.name for p in plots} == {"score_by_difficulty.png", "score_vs_cost.png", "tool_calls.png",
                                       "rubric_axes.png"}
    assert all(p.stat().st_size > 5000 for p in plots)


def test_a_resumed_eval_gives_the_same_results(suite, tmp_path):
    policies = [builtin_policy("scripted"), builtin_policy("random")]
    whole = run_eval(suite, policies, tmp_path / "whole", episodes_per_task=2, show_progress=False)
    part = tmp_path / "part"
    run_eval(suite, policies, part, episodes_per_task=2, show_progress=False)
    # interrupt: drop the last two episodes of one file and leave a torn line
    path = part / "trajectories" / "random.deep_search.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-2]) + lines[-2][:40])
    (part / "trajectories" / "scripted.deep_research.jsonl").unlink()
    resumed = run_eval(suite, policies, part, episodes_per_task=2, show_progress=False)
    assert _scores(resumed) == _scores(whole)
    assert len(list(read_trajectories(path))) == len(lines)


def test_metrics_from_hand_made_trajectories(tmp_path):
    suite = EvalSuite("hand", "v", "all", TaskSet.load(_hand_tasks(tmp_path)), None)
    (tmp_path / "trajectories").mkdir()
    records = [
        _record(0, "ds-a", "deep_search", 1.0, [], tools=["batch_web_surfer"] * 2),
        _record(1, "ds-b", "deep_search", 0.0, [], tools=["batch_web_surfer"]),
    ]
    research = [
        _record(0, "dr-a", "deep_research", 0.5, [("r1", "satisfied", 5, "facts"), ("r2", "not_satisfied", 2, "facts"),
                                                  ("r3", "satisfied", 1, "coverage"), ("f1", "satisfied", -2, "faults")],
                citations={"precision": 0.5, "recall": 1.0}, tools=["batch_web_surfer", "file"]),
    ]
    for name, rows in (("p.deep_search", records), ("p.deep_research", research)):
        with (tmp_path / "trajectories" / f"{name}.jsonl").open("w") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in rows)
    prices = tmp_path / "prices.yaml"
    prices.write_text("currency: EUR\nmodels:\n  m: {input_per_1k: 1.0, output_per_1k: 2.0, source: test}\n"
                      "tools:\n  batch_web_surfer: {per_call: 0.1, source: test}\n")
    results = analyse(suite, [EvalPolicy("p", lambda: None, "m")], tmp_path, prices=load_prices(prices))
    p = results["policies"]["p"]
    assert p["score"]["mean"] == pytest.approx(0.5) and p["score"]["n"] == 3
    assert p["score"]["ci95"] == pytest.approx(4.303 * 0.5 / 3 ** 0.5, rel=1e-3)  # s = 0.5, t(2) = 4.303
    assert p["deep_search_accuracy"]["mean"] == 0.5 and p["deep_research_score"]["mean"] == 0.5
    assert p["rubric_pass_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert p["rubric_pass_rate_by_axis"] == {"coverage": 1.0, "facts": 0.5}
    assert p["mandatory_pass_rate"] == 1.0 and p["fault_rate"] == 1.0
    assert p["citation_precision"] == 0.5 and p["citation_recall"] == 1.0
    # cost of the report: 1000 input tokens · 1.0 + 500 output · 2.0 per 1k = 2.0; one search 0.1; the file tool is
    # not in the table (free)
    assert p["cost_per_report"]["mean"] == pytest.approx(2.1)
    assert results["currency"] == "EUR" and results["prices"]["models"]["p"]["source"] == "test"
    assert p["tool_calls"]["mean"] == pytest.approx(5 / 3, abs=1e-4)
    assert p["by_difficulty"]["2-hop"]["n"] == 2


def _hand_tasks(tmp_path):
    rubric = lambda i, w, axis: {"id": i, "criterion": f"criterion {i}", "weight": w, "axis": axis}  # noqa: E731
    rows = [{"id": "ds-a", "kind": "deep_search", "question": "q?", "answers": ["1"], "meta": {"hops": 2}},
            {"id": "ds-b", "kind": "deep_search", "question": "q?", "answers": ["1"], "meta": {"hops": 2}},
            {"id": "dr-a", "kind": "deep_research", "question": "report?", "meta": {"template": "compare"},
             "rubrics": [rubric("r1", 5, "facts"), rubric("r2", 2, "facts"), rubric("r3", 1, "coverage"),
                         rubric("f1", -2, "faults")]}]
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _record(index, task_id, kind, reward, verdicts, *, citations=None, tools=()):
    # a record of the schema rollouts write (drgym.core.records), with only what the metrics read filled in
    return EpisodeRecord(
        episode_id=f"{task_id}-{index}", index=index, env_id=ENV_IDS[kind], task_id=task_id, kind=kind, seed=index,
        status="ok", reward=reward, policy="p",
        verdicts=[{"id": i, "verdict": v, "weight": w, "axis": a} for i, v, w, a in verdicts],
        citations=citations or {}, usage={"input_tokens": 1000, "output_tokens": 500},
        steps=[{"action": "x", "observation": "y", "tool_calls": [{"name": t, "arguments": "{}"} for t in tools]}],
        wall_s=0.1).model_dump()


def test_llm_pairwise_order_is_randomised_so_position_bias_cancels():
    reports = {f"dr-{i}": {"a": "report of a", "b": "report of b"} for i in range(60)}
    tasks = {k: type("T", (), {"question": "q"})() for k in reports}
    with ChatServer(lambda body: (200, '{"reasoning": "first is better", "preferred": "A"}')) as server:
        judge = LLMPairwiseJudge(LLMJudgeConfig(base_url=server.url, model="biased", use_cache=False))
        comparisons, undecided = llm_comparisons(reports, ["a", "b"], tasks, judge, seed=3)
    assert undecided == 0 and len(comparisons) == 60 and judge.calls == 60
    first_a = sum(c.a == "a" for c in comparisons)
    assert 18 <= first_a <= 42  # each policy is shown first about half the time
    wins_a = sum(c.outcome if c.a == "a" else 1 - c.outcome for c in comparisons)
    assert wins_a == first_a  # the biased judge always picks whichever came first


def test_policies_yaml_and_cli(tmp_path):
    good = tmp_path / "policies.yaml"
    good.write_text("scripted: {kind: scripted}\nrandom_7: {kind: random, seed: 7}\n")
    assert [p.name for p in load_policies(good)] == ["scripted", "random_7"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("scripted: {kind: scripted}\nmine:\n  kind: openai\n  temprature: 0.3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:4: policy 'mine': field 'temprature'"):
        load_policies(bad)
    result = CliRunner().invoke(app, ["eval", "--suite", "procedural:tiny", "--split", "all", "--out",
                                      str(tmp_path / "ev"), "--policies", str(good), "--policy", "random"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert set(results["policies"]) == {"random", "scripted", "random_7"}
    assert (tmp_path / "ev" / "report.md").is_file() and (tmp_path / "ev" / "score_vs_cost.png").is_file()
    unknown = CliRunner().invoke(app, ["eval", "--suite", "procedural:tinny", "--out", str(tmp_path / "x")])
    assert unknown.exit_code == 1 and "procedural:tiny" in unknown.output


def test_demo_ends_with_an_evaluation(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--suite", "procedural:tiny", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "evaluation" in result.output and "scripted" in result.output and "random" in result.output
    assert (tmp_path / "demo" / "report.md").is_file() and (tmp_path / "demo" / "score_by_difficulty.png").is_file()
