"""Statistics of an evaluation: means with 95 % confidence intervals, pass rates, and Elo from pairwise
preferences by a Bradley–Terry fit with a bootstrap interval."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Comparison", "EloRating", "bradley_terry", "elo_ratings", "mean_ci", "t_critical"]

def t_critical(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom (scipy's; nan below 1)."""
    if df < 1:
        return float("nan")
    from scipy.stats import t  # on first use: an evaluation without intervals never loads scipy

    return float(t.ppf(0.975, df))


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """(mean, half-width of the 95 % t-interval); the half-width is 0 for one value and nan for none."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, t_critical(n - 1) * math.sqrt(variance / n)


@dataclass(frozen=True)
class Comparison:
    """One pairwise preference on one task: 1.0 = a preferred, 0.0 = b preferred, 0.5 = tie."""

    task_id: str
    a: str
    b: str
    outcome: float


def bradley_terry(comparisons: Sequence[Comparison], players: Sequence[str], *, prior: float = 0.5,
                  iterations: int = 2000, tolerance: float = 1e-10) -> dict[str, float]:
    """Bradley–Terry strengths (geometric mean 1): the maximum-likelihood fit by scipy's L-BFGS-B on the log
    strengths; a tie counts half a win each way.

    `prior` adds that many virtual ties between every pair, which keeps strengths finite when a player wins
    or loses everything (0 fits the data alone; a player who never wins then gets about 1e-9). `iterations` and
    `tolerance` bound the optimiser.
    """
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    index = {p: i for i, p in enumerate(players)}
    n = len(players)
    if n == 0:
        return {}
    wins = np.full((n, n), prior / 2)
    np.fill_diagonal(wins, 0.0)
    for c in comparisons:
        i, j = index[c.a], index[c.b]
        wins[i, j] += c.outcome
        wins[j, i] += 1.0 - c.outcome

    def negative_log_likelihood(theta: np.ndarray) -> tuple[float, np.ndarray]:
        difference = theta[:, None] - theta[None, :]  # P(i beats j) = sigmoid(theta_i - theta_j)
        pressure = wins * expit(-difference)  # d/dtheta_i of wins_ij * log sigmoid(theta_i - theta_j)
        gradient = pressure.sum(axis=1) - pressure.sum(axis=0)
        return float(-(wins * log_expit(difference)).sum()), -gradient

    bound = math.log(1e9) / 2  # strengths within 1e-9 .. 1e9 of each other
    fit = minimize(negative_log_likelihood, np.zeros(n), jac=True, method="L-BFGS-B", bounds=[(-bound, bound)] * n,
                   options={"maxiter": iterations, "ftol": tolerance, "gtol": tolerance})
    theta = fit.x - fit.x.mean()
    return {p: float(math.exp(theta[index[p]])) for p in players}


@dataclass
class EloRating:
    player: str
    elo: float
    low: float
    high: float
    games: int


def elo_ratings(comparisons: Sequence[Comparison], players: Sequence[str], *, base: float = 1000.0,
                bootstrap: int = 500, seed: int = 0, prior: float = 0.5) -> list[EloRating]:
    """Elo = base + 400·log10(strength), with a 95 % bootstrap interval that resamples tasks."""
    def to_elo(strengths: dict[str, float]) -> dict[str, float]:
        return {p: base + 400.0 * math.log10(s) for p, s in strengths.items()}

    point = to_elo(bradley_terry(comparisons, players, prior=prior))
    by_task: dict[str, list[Comparison]] = {}
    for c in comparisons:
        by_task.setdefault(c.task_id, []).append(c)
    tasks = sorted(by_task)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {p: [] for p in players}
    for _ in range(bootstrap if tasks else 0):
        drawn = [c for _ in tasks for c in by_task[rng.choice(tasks)]]
        for p, value in to_elo(bradley_terry(drawn, players, prior=prior, iterations=300)).items():
            samples[p].append(value)
    ratings = []
    for p in players:
        values = sorted(samples[p])
        low = values[int(0.025 * (len(values) - 1))] if values else point[p]
        high = values[int(0.975 * (len(values) - 1))] if values else point[p]
        games = sum(p in (c.a, c.b) for c in comparisons)
        ratings.append(EloRating(p, point[p], low, high, games))
    return sorted(ratings, key=lambda r: -r.elo)
