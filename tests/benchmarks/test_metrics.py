"""Evaluation statistics on hand-computed fixtures."""

from __future__ import annotations

import math
import random

import pytest

from drgym.benchmarks.metrics import Comparison, bradley_terry, elo_ratings, mean_ci, t_critical


def test_mean_ci_by_hand():
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0])
    # s = sqrt(((1.5² + 0.5²) · 2) / 3) = 1.2910; t(0.975, 3) = 3.1824 (tables); half = 3.1824 · 1.2910 / 2
    assert mean == 2.5 and half == pytest.approx(3.182446 * math.sqrt(5 / 3) / 2, rel=1e-6)
    assert mean_ci([0.7]) == (0.7, 0.0)
    assert all(math.isnan(v) for v in mean_ci([]))
    assert mean_ci([1.0] * 10) == (1.0, 0.0)
    assert t_critical(1) == pytest.approx(12.7062, abs=1e-4) and t_critical(1000) == pytest.approx(1.9623, abs=1e-4)
    assert math.isnan(t_critical(0))


def _matches(a, b, wins_a, wins_b, ties=0, task_prefix="t"):
    out = [Comparison(f"{task_prefix}{a}{b}{i}", a, b, 1.0) for i in range(wins_a)]
    out += [Comparison(f"{task_prefix}{a}{b}w{i}", a, b, 0.0) for i in range(wins_b)]
    out += [Comparison(f"{task_prefix}{a}{b}t{i}", a, b, 0.5) for i in range(ties)]
    return out


def test_bradley_terry_recovers_a_known_preference_matrix():
    # strengths 4 : 2 : 1 → P(A>B) = 2/3, P(A>C) = 4/5, P(B>C) = 2/3; these counts are their exact expectation
    comparisons = _matches("A", "B", 200, 100) + _matches("A", "C", 400, 100) + _matches("B", "C", 200, 100)
    strengths = bradley_terry(comparisons, ["A", "B", "C"], prior=0.0)
    assert strengths["A"] / strengths["B"] == pytest.approx(2.0, rel=1e-6)
    assert strengths["B"] / strengths["C"] == pytest.approx(2.0, rel=1e-6)
    ratings = {r.player: r for r in elo_ratings(comparisons, ["A", "B", "C"], prior=0.0, bootstrap=50)}
    assert ratings["A"].elo - ratings["B"].elo == pytest.approx(400 * math.log10(2), rel=1e-6)
    assert sum(r.elo for r in ratings.values()) / 3 == pytest.approx(1000 + 400 * math.log10(1), abs=1e-6)
    assert ratings["A"].low <= ratings["A"].elo <= ratings["A"].high
    assert ratings["C"].games == 800


def test_ties_count_half_and_the_prior_keeps_a_sweep_finite():
    even = bradley_terry(_matches("A", "B", 10, 10), ["A", "B"], prior=0.0)
    tied = bradley_terry(_matches("A", "B", 0, 0, ties=20), ["A", "B"], prior=0.0)
    assert even["A"] == pytest.approx(even["B"]) and tied["A"] == pytest.approx(tied["B"])
    sweep = elo_ratings(_matches("A", "B", 10, 0), ["A", "B"], prior=0.5, bootstrap=20)
    assert sweep[0].player == "A" and math.isfinite(sweep[0].elo) and sweep[0].elo > 1300


def test_bootstrap_interval_widens_with_fewer_tasks():
    rng = random.Random(0)
    many = [Comparison(f"t{i}", "A", "B", 1.0 if rng.random() < 0.7 else 0.0) for i in range(400)]
    few = many[:20]
    wide = {r.player: r for r in elo_ratings(few, ["A", "B"], bootstrap=300)}["A"]
    narrow = {r.player: r for r in elo_ratings(many, ["A", "B"], bootstrap=300)}["A"]
    assert (wide.high - wide.low) > (narrow.high - narrow.low) > 0
