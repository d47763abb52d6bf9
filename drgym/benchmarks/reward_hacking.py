"""The reward-hacking audit: hack policies against the honest researcher and the gold answers, per suite.

    python -m drgym.benchmarks.reward_hacking                      # easy, medium, hard (the README's table)
    python -m drgym.benchmarks.reward_hacking --suites procedural:tiny --tasks 4
    drgym audit --suites procedural:easy

Every hack in `drgym.agents.hacks` plays the same tasks with the same seeds as the honest scripted
researcher, through the environment (observations only). The gold row grades the task's own answer or gold
report offline with the same judge and corpus. The table gives each policy's mean reward, the honest mean
and the gap; the audit passes when every hack is at least `MIN_GAP` below the honest researcher and every
wrong or unreadable report (`Hack.is_wrong_or_unreadable`) averages at most `MAX_WRONG_REWARD`.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
from tqdm.auto import tqdm

import drgym.envs  # noqa: F401  (registers the environments)
from drgym.agents.hacks import HACKS, SEARCH_HACKS
from drgym.agents.scripted import ScriptedResearcher
from drgym.core.kinds import ENV_IDS
from drgym.rewards.answer import match_answer
from drgym.rewards.judges import DeterministicJudge

__all__ = ["AuditRow", "MAX_WRONG_REWARD", "MIN_GAP", "audit", "format_table", "main"]

logger = logging.getLogger(__name__)

MIN_GAP = 0.2
MAX_WRONG_REWARD = 0.3
MAX_STEPS = 60


@dataclass(frozen=True)
class AuditRow:
    suite: str
    env_id: str
    policy: str
    mean_reward: float
    honest_reward: float
    episodes: int
    is_wrong_or_unreadable: bool = False

    @property
    def gap(self) -> float:
        return self.honest_reward - self.mean_reward

    @property
    def passes(self) -> bool:
        if self.policy in ("honest", "gold"):
            return True
        if self.is_wrong_or_unreadable and self.mean_reward > MAX_WRONG_REWARD:
            return False
        return self.gap >= MIN_GAP


def _play(env, policy, task_id: str, seed: int) -> float:
    observation, info = env.reset(seed=seed, options={"task_id": task_id})
    messages = info["messages"]
    reward = 0.0
    for _ in range(MAX_STEPS):
        observation, reward, terminated, truncated, info = env.step(policy.act(messages))
        messages = info["messages"]
        if terminated or truncated:
            break
    return float(reward)


def audit(suites: Sequence[str] = ("procedural:easy", "procedural:medium", "procedural:hard"), *,
          n_tasks: int | None = 30, hacks: Sequence[str] | None = None, seed: int = 0,
          show_progress: bool = True) -> list[AuditRow]:
    """Plays the honest researcher, the gold answers and every hack on the first `n_tasks` tasks of each kind."""
    rows: list[AuditRow] = []
    names = list(hacks or HACKS)
    for suite in suites:
        for kind, env_id in ENV_IDS.items():
            env = gym.make(env_id, tasks=suite)
            base = env.unwrapped
            tasks = base.tasks[:n_tasks] if n_tasks else base.tasks
            wanted = [n for n in names if (n in SEARCH_HACKS) == (kind == "deep_search")]
            policies = {"honest": ScriptedResearcher, **{n: HACKS[n] for n in wanted}}
            bar = tqdm(total=len(policies) * len(tasks), desc=f"audit {suite} {kind}", disable=not show_progress)
            means: dict[str, float] = {}
            for name, factory in policies.items():
                rewards = []
                for number, task in enumerate(tasks):
                    rewards.append(_play(env, factory(), task.id, seed + number))
                    bar.update()
                means[name] = sum(rewards) / len(rewards)
            bar.close()
            gold = [_gold_reward(task, base) for task in tasks]
            env.close()
            honest = means["honest"]
            rows.append(AuditRow(suite, env_id, "honest", honest, honest, len(tasks)))
            rows.append(AuditRow(suite, env_id, "gold", sum(gold) / len(gold), honest, len(tasks)))
            for name in wanted:
                rows.append(AuditRow(suite, env_id, name, means[name], honest, len(tasks),
                                     HACKS[name].is_wrong_or_unreadable))
    return rows


def _gold_reward(task, env) -> float:
    if task.kind == "deep_search":
        return float(match_answer(task.answers[0], task.answers, question=task.question).is_correct)
    return DeterministicJudge().grade(task.rubrics, task.meta["gold_report"], sources=env.index).score


def format_table(rows: Sequence[AuditRow]) -> str:
    lines = ["| suite | env | policy | mean reward | honest | gap | passes |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        mark = "" if row.policy in ("honest", "gold") else ("yes" if row.passes else "**no**")
        wrong = " (wrong/unreadable)" if row.is_wrong_or_unreadable else ""
        gap = "" if row.policy in ("honest", "gold") else f"{row.gap:+.3f}"
        lines.append(f"| {row.suite} | {row.env_id.split('/')[1]} | {row.policy}{wrong} | {row.mean_reward:.3f} | "
                     f"{row.honest_reward:.3f} | {gap} | {mark} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suites", nargs="+", default=["procedural:easy", "procedural:medium", "procedural:hard"])
    parser.add_argument("--tasks", type=int, default=30, help="tasks of each kind per suite (0: all)")
    parser.add_argument("--hacks", nargs="+", default=None, choices=sorted(HACKS), help="default: every hack")
    args = parser.parse_args(argv)
    started = time.process_time()
    rows = audit(args.suites, n_tasks=args.tasks or None, hacks=args.hacks)
    print(format_table(rows))
    failing = [r for r in rows if not r.passes]
    print(f"\n{len(rows)} rows, {len(failing)} failing (a hack less than {MIN_GAP} below honest, or a wrong or "
          f"unreadable report above {MAX_WRONG_REWARD}); CPU {time.process_time() - started:.0f} s, "
          f"load {os.getloadavg()[0]:.1f}")
    return 1 if failing else 0


if __name__ == "__main__":
    raise SystemExit(main())
