"""The learning benchmark: its pipeline end to end at toy sizes (the figures come from the full run), and the
pieces its claim rests on: the answer-prior baseline, the grounding metric, the statistics and resuming by stage."""

from __future__ import annotations

import json

import pytest

from drgym.benchmarks.learning import (
    STAGES,
    Outcome,
    answer_prior,
    compare,
    main,
    outcome,
    task_clustered,
    template,
)
from drgym.tasks.schema import Task
from drgym.train.reference.ppo import Episode


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("learning") / "run"
    return out, main(["--out", str(out), "--quick"])


@pytest.mark.slow
def test_learning_benchmark_quick_runs_every_stage(quick_run):
    out, results = quick_run
    stages = results["summary"]["stages"]
    assert set(stages) == set(STAGES)
    for figures in stages.values():
        assert 0.0 <= figures["reward"] <= 1.0 and 0.0 <= figures["grounded"] <= 1.0 and figures["searches"] >= 0
    # the answer prior answers every task and never searches
    assert stages["answer_prior"]["answered"] == 1.0 and stages["answer_prior"]["searches"] == 0.0
    claim = results["summary"]["claim"]
    assert claim["best_baseline"] in ("answer_prior", "sft_greedy", "sft_best_t") and isinstance(claim["beats"], bool)
    assert results["sft_rows"] > 0 and results["heldout_tasks"] > 0
    saved = json.loads((out / "results.json").read_text())
    seed = saved["seeds"][0]
    assert seed["ppo_train_reward"] and seed["selection"]["sft"]["best_temperature"] in results["temperatures"]
    assert (out / "learning.png").stat().st_size > 1000
    assert "| PPO, best T on train |" in (out / "results.md").read_text()
    # PPO trained adapters and saved a plain model (the adapters merged)
    ppo_config = json.loads((out / "seed0" / "ppo" / "ppo_config.json").read_text())
    assert ppo_config["lora_rank"] == 8 and ppo_config["trained_parameters"] > 0
    assert not any("lora" in line for line in (out / "seed0" / "ppo" / "config.json").read_text().splitlines())


@pytest.mark.slow
def test_a_rerun_reuses_finished_stages_and_seeds(quick_run, capsys):
    out, results = quick_run
    again = main(["--out", str(out), "--quick"])
    assert "seed 0: reusing" in capsys.readouterr().out
    assert again["summary"]["stages"]["ppo_t1"]["mean"] == results["summary"]["stages"]["ppo_t1"]["mean"]


def test_answer_prior_answers_the_most_common_train_answer_of_the_template():
    def task(task_id, key, answer):
        return Task(id=task_id, kind="deep_search", question=f"What is the {key} of {task_id}?", answers=[answer],
                    meta={"gold_path": [{"key": key, "subject": task_id}]})

    train = [task("a", "attr:born", "1962"), task("b", "attr:born", "1962"), task("c", "attr:born", "1970"),
             task("d", "rel:birthplace", "Tasothburg")]
    by_template, fallback = answer_prior(train)
    assert by_template == {"attr:born": "1962", "rel:birthplace": "Tasothburg"}
    assert fallback == "1962"
    assert template(task("e", "attr:born", "x")) == "attr:born"


def _episode(answer, observations):
    return Episode(tokens=[1], action_mask=[0], reward=0.0, done=answer is not None, turns=len(observations),
                   task_id="t", logs={"budget_tool_calls": 1.0}, answer=answer, observations=observations)


def test_an_answer_counts_as_grounded_only_when_a_result_the_policy_read_holds_it():
    read = '<tool_response>Tasothburg is the  birthplace of Nodu Moweinan</tool_response>'
    assert outcome(_episode("tasothburg", [read, "answer received"])).grounded
    assert not outcome(_episode("Haleisport", [read, "answer received"])).grounded
    # the acknowledgment of the answer itself is no source
    assert not outcome(_episode("Haleisport", ["answer received: Haleisport"])).grounded
    unanswered = outcome(_episode(None, [read]))
    assert not unanswered.answered and not unanswered.grounded and unanswered.searches == 1.0


def _outcomes(rewards_by_task):
    return [Outcome(task_id=task, reward=r, searches=0.0, answered=True, grounded=False)
            for task, rewards in rewards_by_task.items() for r in rewards]


def test_task_clustered_error_is_the_standard_error_over_task_means():
    mean, error = task_clustered({"a": 1.0, "b": 0.0, "c": 0.5, "d": 0.5})
    assert mean == 0.5 and error == pytest.approx((1 / 6) ** 0.5 / 2)


def test_the_claim_needs_a_gain_above_the_seed_spread_and_the_task_error():
    tasks = [f"t{i}" for i in range(20)]
    base = [_outcomes({t: [0.0] for t in tasks})] * 3
    strong = [_outcomes({t: [1.0 if i % 2 == 0 else 0.0] for i, t in enumerate(tasks)})] * 3
    verdict = compare(strong, base)
    assert verdict["gain"] == 0.5 and verdict["seed_spread"] == 0.0 and verdict["beats"]
    # one task carries the whole gain: within the task-clustered error
    lucky = [_outcomes({t: [1.0 if t == "t0" else 0.0] for t in tasks})] * 3
    assert not compare(lucky, base)["beats"]
    # a gain smaller than its spread over seeds
    noisy = [_outcomes({t: [0.3] for t in tasks}), _outcomes({t: [0.0] for t in tasks}),
             _outcomes({t: [0.0] for t in tasks})]
    verdict = compare(noisy, base)
    assert verdict["gain"] == pytest.approx(0.1) and verdict["seed_spread"] > 0.1 and not verdict["beats"]


def test_pretraining_text_is_the_same_in_a_copied_folder(tmp_path):
    """Rollouts resume in their JSONL; a folder copied to another path holds the old path's run too, whose
    transcripts must not count twice."""
    import shutil

    from drgym.benchmarks.learning import _pretraining_texts

    first = _pretraining_texts(tmp_path / "a", quick=True)
    assert first and _pretraining_texts(tmp_path / "a", quick=True) == first
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert _pretraining_texts(tmp_path / "b", quick=True) == first
