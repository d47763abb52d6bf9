"""Evaluation: every policy on the same tasks and seeds, then one comparable report with cost, tables, plots and
Elo (``drgym eval``).

Suites are named and versioned: ``procedural:easy|medium|hard`` (and ``tiny``) run deep_search and deep_research
tasks of their world's **held-out split** by default (training commands refuse those tasks), and a task file
(ResearchRubrics- or BrowseComp-Plus-style, from ``drgym tasks import``) runs all of its tasks. Episodes go
through the rollout runner, one trajectory file per policy and kind under ``out/trajectories/``, so an
interrupted evaluation resumes where it stopped and a policy that fails is recorded as failing, never dropped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drgym.agents.policy_config import PolicySpec
from drgym.agents.rollout import rollout
from drgym.benchmarks.costs import CostModel, load_prices
from drgym.benchmarks.metrics import Comparison, elo_ratings, mean_ci
from drgym.core.kinds import ENV_IDS
from drgym.core.records import EpisodeRecord, read_records
from drgym.errors import ConfigError
from drgym.rewards.llm_judge import LLMPairwiseJudge
from drgym.tasks.schema import TaskSet
from drgym.tasks.splits import select_split
from drgym.tasks.suites import SUITES, resolve_tasks
from drgym.tasks.synth import TASKS_VERSION
from drgym.tasks.world import KINDS, WORLD_VERSION
from drgym.yaml_files import field_error, read_yaml

__all__ = ["EvalPolicy", "EvalSuite", "analyse", "load_policies", "resolve_suite", "run_eval"]



@dataclass
class EvalSuite:
    name: str
    version: str
    split: str
    tasks: TaskSet
    web: str | None

    def describe(self) -> dict[str, Any]:
        kinds = {k: sum(t.kind == k for t in self.tasks) for k in ENV_IDS}
        return {"name": self.name, "version": self.version, "split": self.split, "tasks": len(self.tasks),
                "kinds": kinds, "web": self.web}


def resolve_suite(name: str, *, split: str | None = None, web: str | Path | None = None,
                  show_progress: bool = True) -> EvalSuite:
    """A suite name or a task file, with its split (default: held-out for procedural suites, all for files) and
    its web: `web` when given, else the suite's world or the corpus the task file names (`resolve_tasks`)."""
    source = resolve_tasks(name, find_web=web is None, show_progress=show_progress)
    if source.world is not None:
        spec = json.dumps(dataclasses.asdict(SUITES[name]), sort_keys=True)
        version = f"world-v{WORLD_VERSION}-t{TASKS_VERSION}-{hashlib.sha1(spec.encode()).hexdigest()[:8]}"
        split = split or "heldout"
        label = name
    else:
        version = "file-" + hashlib.sha1(source.file.read_bytes()).hexdigest()[:8]
        split = split or "all"
        label = str(source.file)
    web = web if web is not None else source.web
    return EvalSuite(label, version, split, select_split(source.tasks, split), str(web) if web is not None else None)


@dataclass
class EvalPolicy:
    name: str
    factory: Callable[[], Any]
    model: str
    """The name looked up in the price table."""
    config: dict[str, Any] = field(default_factory=dict)


def builtin_policy(name: str) -> EvalPolicy:
    if name not in ("scripted", "solver", "random"):
        raise ConfigError("--policy takes scripted, solver or random; describe other policies in --policies YAML")
    spec = PolicySpec(kind=name)
    return EvalPolicy(name, spec.factory(), name, {"kind": name})


def load_policies(path: str | Path) -> list[EvalPolicy]:
    """A YAML mapping ``name: {kind: openai|hf|scripted|random|callable, ...}`` (or a list with ``name``)."""
    data, text = read_yaml(path, "policies file")
    if isinstance(data, list):
        data = {str(item.get("name") or f"policy{i}"): item for i, item in enumerate(data) if isinstance(item, dict)}
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: expected a mapping of policy names to their settings")
    policies = []
    for name, settings in data.items():
        if not isinstance(settings, dict):
            raise ConfigError(f"{path}: policy {name!r}: expected a mapping of fields")
        try:
            spec = PolicySpec.model_validate({**settings, "name": settings.get("name", name)})
        except ValidationError as e:
            raise field_error(path, text, e, within=[str(name)], context=f"policy {name!r}") from None
        policies.append(EvalPolicy(str(name), spec.factory(), spec.model or str(name),
                                   spec.model_dump(exclude_defaults=True, exclude={"api_key"})))
    return policies


def run_eval(suite: EvalSuite, policies: list[EvalPolicy], out: str | Path, *, episodes_per_task: int = 1,
             workers: int = 1, seed: int = 0, env_kwargs: dict[str, Any] | None = None,
             prices: CostModel | None = None, pairwise_judge: LLMPairwiseJudge | None = None,
             show_progress: bool = True) -> dict[str, Any]:
    """Runs (or resumes) every policy on every task of the suite and returns the analysed results."""
    if not policies:
        raise ConfigError("no policies to evaluate: give --policy and/or --policies")
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise ConfigError(f"policy names must be unique, got {names}")
    if not len(suite.tasks):
        raise ConfigError(f"suite {suite.name!r} has no tasks in split {suite.split!r}")
    out = Path(out)
    (out / "trajectories").mkdir(parents=True, exist_ok=True)
    tasks_file = suite.tasks.save(out / "tasks.jsonl")
    env_kwargs = dict(env_kwargs or {})
    started = time.perf_counter()
    for policy in policies:
        for kind, env_id in ENV_IDS.items():
            n = sum(t.kind == kind for t in suite.tasks)
            if not n:
                continue
            rollout(env_id, policy.factory, n_episodes=n * episodes_per_task,
                    out=out / "trajectories" / f"{policy.name}.{kind}.jsonl", n_workers=workers, seed=seed,
                    env_kwargs={"tasks": str(tasks_file), **({"web": suite.web} if suite.web else {}), **env_kwargs},
                    policy_name=policy.name, show_progress=show_progress)
    results = analyse(suite, policies, out, prices=prices or load_prices(), pairwise_judge=pairwise_judge, seed=seed)
    results["run"] = {"episodes_per_task": episodes_per_task, "seed": seed, "workers": workers,
                      "env_kwargs": {k: repr(v) for k, v in env_kwargs.items()},
                      "seconds": round(time.perf_counter() - started, 1)}
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    return results


# -- analysis ---------------------------------------------------------------------------------------------

_KIND_OF_PREFIX = {kind[:3]: kind for kind in KINDS}


def task_facets(task: Any) -> tuple[str, str]:
    """(difficulty, domain) of a task: its own meta fields when it has them (imported tasks), else for
    procedural tasks the hop count or report template, and the kind of entity the question is about."""
    meta = task.meta
    difficulty = meta.get("difficulty")
    if difficulty is None:
        difficulty = f"{meta['hops']}-hop" if "hops" in meta else meta.get("template", "-")
    domain = meta.get("domain")
    if domain is None:
        first = (meta.get("gold_path") or [{}])[0].get("subject") if meta.get("gold_path") else \
            (meta.get("subgraph") or [None])[0]
        domain = _KIND_OF_PREFIX.get(str(first or "")[:3], "-")
    return str(difficulty), str(domain)



def _records(out: Path, policy: str) -> list[tuple[EpisodeRecord, str]]:
    """A policy's episodes, each with its trajectory file (relative to `out`)."""
    records = []
    for kind in ENV_IDS:
        path = out / "trajectories" / f"{policy}.{kind}.jsonl"
        records.extend((record, str(path.relative_to(out))) for record in read_records(path))
    return records


def _summary(values: list[float]) -> dict[str, float | int]:
    mean, half = mean_ci(values)
    return {"mean": round(mean, 4) if values else None, "ci95": round(half, 4) if values else None, "n": len(values)}


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def analyse(suite: EvalSuite, policies: list[EvalPolicy], out: str | Path, *, prices: CostModel,
            tie_margin: float = 0.02, bootstrap: int = 500, pairwise_judge: LLMPairwiseJudge | None = None,
            seed: int = 0) -> dict[str, Any]:
    """Everything in results.json, computed from the trajectory files (so a resumed run analyses the same)."""
    out = Path(out)
    tasks = {t.id: t for t in suite.tasks}
    results: dict[str, Any] = {"suite": suite.describe(), "currency": prices.currency,
                               "prices": {"file": prices.path, "models": {}, "tools": {
                                   name: {"per_call": p.per_call, "source": p.source} for name, p in prices.tools.items()}},
                               "policies": {}, "episodes": []}
    per_task_scores: dict[str, dict[str, list[float]]] = {}
    per_task_reports: dict[str, dict[str, str]] = {}
    for policy in policies:
        price_in, price_out, source = prices.model_price(policy.model)
        results["prices"]["models"][policy.name] = {"model": policy.model, "input_per_1k": price_in,
                                                    "output_per_1k": price_out, "source": source}
        records = [(r, file) for r, file in _records(out, policy.name) if r.task_id in tasks]
        rows = []
        for record, file in records:
            task = tasks[record.task_id]
            reward = record.reward if record.is_ok else 0.0
            cost = prices.episode(record, policy.model)
            difficulty, domain = task_facets(task)
            rows.append({"policy": policy.name, "task_id": task.id, "kind": task.kind, "index": record.index,
                         "seed": record.seed, "status": record.status, "error": record.error,
                         "reward": reward, "difficulty": difficulty, "domain": domain,
                         "turns": len(record.steps),
                         "tool_calls": sum(cost.tool_calls.values()), "tool_calls_by_name": cost.tool_calls,
                         "input_tokens": cost.input_tokens, "output_tokens": cost.output_tokens,
                         "token_source": cost.token_source, "cost": round(cost.total, 6),
                         "cost_model": round(cost.model, 6), "cost_tools": round(cost.tools, 6),
                         "wall_s": record.wall_s, "citations": record.citations.model_dump(),
                         "verdicts": [{"id": v.id, "verdict": v.verdict, "weight": v.weight, "axis": v.axis}
                                      for v in record.verdicts],
                         "truncated_by": record.truncated_by, "file": file})
        results["episodes"].extend(rows)
        results["policies"][policy.name] = _aggregate(rows, policy)
        for row, (record, _) in zip(rows, records):
            if row["kind"] == "deep_research":
                per_task_scores.setdefault(row["task_id"], {}).setdefault(policy.name, []).append(row["reward"])
                if row["status"] == "ok":  # the first episode's report stands for the policy in pairwise judging
                    per_task_reports.setdefault(row["task_id"], {}).setdefault(policy.name, record.submission)
    players = [p.name for p in policies]
    if pairwise_judge is None:
        comparisons = pairwise_comparisons(per_task_scores, players, tie_margin=tie_margin, seed=seed)
        judge = f"deterministic: higher rubric score wins, |difference| < {tie_margin} is a tie"
        undecided = 0
    else:
        comparisons, undecided = llm_comparisons(per_task_reports, players, tasks, pairwise_judge, seed=seed)
        judge = f"LLM pairwise preference ({pairwise_judge._judge.config.model}), order randomised per pair"
    ratings = elo_ratings(comparisons, players, bootstrap=bootstrap, seed=seed) if comparisons else []
    results["elo"] = {"judge": judge, "comparisons": len(comparisons), "undecided": undecided,
                      "preferences": [dataclasses.asdict(c) for c in comparisons],
                      "ratings": [dataclasses.asdict(r) for r in ratings]}
    return results


def llm_comparisons(reports: dict[str, dict[str, str]], players: list[str], tasks: dict[str, Any],
                    judge: LLMPairwiseJudge, *, seed: int = 0) -> tuple[list[Comparison], int]:
    """One LLM preference per deep_research task and pair of policies, shown in a random order."""
    rng = random.Random(seed)
    comparisons, undecided = [], 0
    for task_id in sorted(reports):
        for i, a in enumerate(players):
            for b in players[i + 1:]:
                if a not in reports[task_id] or b not in reports[task_id]:
                    continue
                first, second = (a, b) if rng.random() < 0.5 else (b, a)
                outcome, _ = judge.prefer(tasks[task_id].question, reports[task_id][first], reports[task_id][second])
                if outcome is None:
                    undecided += 1
                    continue
                comparisons.append(Comparison(task_id, first, second, outcome))
    return comparisons, undecided


def pairwise_comparisons(per_task: dict[str, dict[str, list[float]]], players: list[str], *,
                         tie_margin: float = 0.02, seed: int = 0) -> list[Comparison]:
    """One comparison per deep_research task and pair of policies, from their mean rubric scores on the task.

    The pair's order is drawn at random per task (seeded), as a pairwise judge would be shown them, so that no
    policy is always 'a'; the deterministic preference itself does not depend on the order.
    """
    rng = random.Random(seed)
    comparisons = []
    for task_id in sorted(per_task):
        scores = {p: sum(v) / len(v) for p, v in per_task[task_id].items() if v}
        for i, a in enumerate(players):
            for b in players[i + 1:]:
                if a not in scores or b not in scores:
                    continue
                first, second = (a, b) if rng.random() < 0.5 else (b, a)
                difference = scores[first] - scores[second]
                outcome = 0.5 if abs(difference) < tie_margin else (1.0 if difference > 0 else 0.0)
                comparisons.append(Comparison(task_id, first, second, outcome))
    return comparisons


def _aggregate(rows: list[dict[str, Any]], policy: EvalPolicy) -> dict[str, Any]:
    search = [r for r in rows if r["kind"] == "deep_search"]
    research = [r for r in rows if r["kind"] == "deep_research"]
    positive = [v for r in research for v in r["verdicts"] if (v.get("weight") or 0) > 0]
    faults = [v for r in research for v in r["verdicts"] if (v.get("weight") or 0) < 0]
    by_axis: dict[str, list[int]] = {}
    for v in positive:
        by_axis.setdefault(v.get("axis") or "general", []).append(v["verdict"] == "satisfied")
    mandatory = [v for v in positive if (v.get("weight") or 0) >= 4]
    cited = [r["citations"] for r in research if r["citations"]]

    def grouped(key: str) -> dict[str, Any]:
        groups: dict[str, list[float]] = {}
        for r in rows:
            groups.setdefault(r[key] or "-", []).append(r["reward"])
        return {k: _summary(v) for k, v in sorted(groups.items())}

    ordered = sorted(rows, key=lambda r: (r["reward"], -r["cost"]))
    link = lambda r: {"task_id": r["task_id"], "kind": r["kind"], "reward": r["reward"],  # noqa: E731
                      "replay": f"drgym replay {r['file']} --episode {r['index']}"}
    return {
        "config": policy.config, "model": policy.model,
        "episodes": len(rows), "failed": sum(r["status"] != "ok" for r in rows),
        "errors": sorted({r["error"] for r in rows if r["error"]})[:5],
        "score": _summary([r["reward"] for r in rows]),
        "deep_search_accuracy": _summary([r["reward"] for r in search]),
        "deep_research_score": _summary([r["reward"] for r in research]),
        "rubric_pass_rate": _rate(sum(v["verdict"] == "satisfied" for v in positive), len(positive)),
        "rubric_pass_rate_by_axis": {axis: _rate(sum(v), len(v)) for axis, v in sorted(by_axis.items())},
        "mandatory_pass_rate": _rate(sum(v["verdict"] == "satisfied" for v in mandatory), len(mandatory)),
        "fault_rate": _rate(sum(v["verdict"] == "satisfied" for v in faults), len(faults)),
        "citation_precision": _summary([c["precision"] for c in cited])["mean"],
        "citation_recall": _summary([c["recall"] for c in cited])["mean"],
        "tool_calls": _summary([r["tool_calls"] for r in rows]),
        "turns": _summary([r["turns"] for r in rows]),
        "input_tokens": _summary([r["input_tokens"] for r in rows]),
        "output_tokens": _summary([r["output_tokens"] for r in rows]),
        "token_source": sorted({r["token_source"] for r in rows}),
        "wall_s": _summary([r["wall_s"] for r in rows]),
        "cost_per_report": _summary([r["cost"] for r in research] or [r["cost"] for r in rows]),
        "cost_per_episode": _summary([r["cost"] for r in rows]),
        "by_difficulty": grouped("difficulty"), "by_domain": grouped("domain"), "by_kind": grouped("kind"),
        "best": [link(r) for r in ordered[::-1][:3]], "worst": [link(r) for r in ordered[:3]],
    }
