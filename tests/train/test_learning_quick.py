"""The learning benchmark's pipeline end to end at toy sizes (the figures come from the full run)."""

from __future__ import annotations

import json

from drgym.benchmarks.learning import main


def test_learning_benchmark_quick_runs_every_stage(tmp_path):
    results = main(["--out", str(tmp_path / "run"), "--quick"])
    assert set(results["summary"]) == {"random_init", "sft", "ppo"}
    assert results["sft_rows"] > 0 and results["heldout_tasks"] > 0
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["seeds"][0]["ppo_train_reward"] and (tmp_path / "run" / "reward_curve.png").stat().st_size > 1000
    assert (tmp_path / "run" / "pretrained" / "pretrain_metrics.csv").is_file()


def test_pretraining_text_is_the_same_in_a_copied_folder(tmp_path):
    """Rollouts resume in their JSONL; a folder copied to another path holds the old path's run too, whose
    transcripts must not count twice."""
    import shutil

    from drgym.benchmarks.learning import _pretraining_texts

    first = _pretraining_texts(tmp_path / "a", quick=True)
    assert first and _pretraining_texts(tmp_path / "a", quick=True) == first
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert _pretraining_texts(tmp_path / "b", quick=True) == first
