"""Atomic-capability data synthesis (`drgym synth`): planning, information seeking, reflection/verification and
report writing, each as closed-loop episodes in the environment, checked and tagged.

Teachers are the scripted researcher plus what the procedural world knows for certain (the task's subgraph,
its gold path, which pages state a low-trust value): the synthesis is exact instead of LLM-guessed. Every row is
an OpenRLHF multi-turn SFT row (``messages``) with a ``capability`` tag and a ``replay`` block (env, task, seed,
env settings, actions) that re-creates the episode: `replay_row` plays the actions again and the observations
and reward must come out the same.

- ``planning``: deep_research episodes that start by writing the task's plan (from its subgraph) to the todo
  list and complete its steps as they go; kept only when the tool calls cover the plan in order
  (`plan_consistent`). Plus ``reverse``: requests reverse-engineered from gold reports, answered by reading the
  cited pages and writing the report.
- ``seeking``: deep_search episodes, the shortest correct one of several researcher settings per task, after
  the difficulty filter (tasks a weaker researcher already solves are dropped); from graph paths, and link
  walks: when the answer sits only on archive pages, search is told never to return them
  (``unsearchable``), so the episode reaches them only by following links.
- ``reflection``: (a) ``recovery``: injected tool errors (``noise``, 5–10 %) each followed by a retry;
  (b) ``cross_check``: a tier-3 page's conflicting value is seen and the tier-1 source re-read before answering;
  (c) ``self_correction``: a wrong intermediate claim is stated, checked against the register and corrected.
  Every kept episode ends with the correct answer.
- ``report``: ⟨request, report⟩ episodes: read the sources, then submit the report (full, executive, general
  audience variants) with ``\\cite{url}`` citations, sections and a table, with the rubrics that grade it.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drgym.agents.scripted import ScriptedResearcher
from drgym.core.kinds import ENV_IDS
from drgym.core.protocol import format_answer, format_tool_call, parse_action
from drgym.errors import ConfigError, TaskFileError
from drgym.tasks.capabilities import plan_consistent, report_variants, research_plan, reverse_query
from drgym.tasks.procedural import ProceduralWorld
from drgym.tasks.schema import Task, TaskSet
from drgym.tasks.splits import select_split
from drgym.tasks.suites import SUITES, resolve_tasks
from drgym.train.sft_data import action_ngram_loop, sample_mixture, sft_messages

__all__ = ["CAPABILITIES", "SynthStats", "is_loop", "mix_rows", "replay_row", "synthesize"]

CAPABILITIES = ("planning", "seeking", "reflection", "report")


def _call(name: str, **arguments: Any) -> str:
    return format_tool_call(name, arguments)


@dataclass
class SynthStats:
    rows: Counter = field(default_factory=Counter)
    dropped: dict[str, Counter] = field(default_factory=dict)
    turns: dict[str, list[int]] = field(default_factory=dict)
    chars: dict[str, list[int]] = field(default_factory=dict)

    def drop(self, capability: str, reason: str) -> None:
        self.dropped.setdefault(capability, Counter())[reason] += 1

    def keep(self, capability: str, row: dict[str, Any]) -> None:
        self.rows[capability] += 1
        self.turns.setdefault(capability, []).append(sum(m["role"] == "assistant" for m in row["messages"]))
        self.chars.setdefault(capability, []).append(sum(len(m["content"]) for m in row["messages"]))

    def table(self) -> list[list[str]]:
        rows = [["capability", "rows", "mean turns", "mean tokens (≈ chars/4)", "dropped by filter"]]
        for capability in sorted(set(self.rows) | set(self.dropped)):
            turns, chars = self.turns.get(capability, []), self.chars.get(capability, [])
            dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.get(capability, Counter()).items()))
            rows.append([capability, str(self.rows[capability]),
                         f"{sum(turns) / len(turns):.1f}" if turns else "–",
                         f"{sum(chars) / len(chars) / 4:,.0f}" if chars else "–", dropped or "–"])
        return rows


# -- episodes ----------------------------------------------------------------------------------------------


@dataclass
class _Run:
    actions: list[str]
    observations: list[str]
    messages: list[dict[str, Any]]
    reward: float
    done: bool


Teacher = Callable[[list[dict[str, Any]], int, list[dict[str, Any]]], str]
"""A synthesis policy: (messages, turn, the previous turn's calls whose result an injected failure replaced)."""


def _play(env: Any, task: Task, seed: int, teacher: Teacher, max_turns: int = 40) -> _Run:
    _, info = env.reset(seed=seed, options={"task_id": task.id})
    actions, observations, reward, done = [], [], 0.0, False
    for turn in range(max_turns):
        failed = [call for call in env.unwrapped.last_tool_calls if call["noise"]] if turn else []
        action = teacher(info["messages"], turn, failed)
        observation, reward, terminated, truncated, info = env.step(action)
        actions.append(action)
        observations.append(observation)
        if terminated or truncated:
            done = True
            break
    return _Run(actions, observations, info["messages"], float(reward), done)


def _row(run: _Run, task: Task, capability: str, replay: dict[str, Any], **extra: Any) -> dict[str, Any]:
    messages = [{"role": m["role"], "content": m.get("content") or ""} for m in run.messages]
    return {"messages": sft_messages(messages), "capability": capability, "task_id": task.id, "kind": task.kind,
            "reward": run.reward, "turns": len(run.actions), "replay": {**replay, "actions": run.actions,
                                                                       "observations": run.observations}, **extra}


def is_loop(row: dict[str, Any], *, n: int = 2, repeats: int = 3) -> bool:
    """The n-gram loop filter of `drgym sft-data`, on a synthesised row's actions."""
    actions = row.get("replay", {}).get("actions") or [m["content"] for m in row["messages"] if m["role"] == "assistant"]
    return action_ngram_loop(actions, n=n, repeats=repeats)


def replay_row(row: dict[str, Any]) -> tuple[list[str], float]:
    """Plays the row's actions in a fresh environment; returns (observations, final reward)."""
    import gymnasium as gym

    import drgym  # noqa: F401

    replay = row["replay"]
    env = gym.make(replay["env_id"], tasks=replay["tasks"], web=replay["web"], **replay["env_kwargs"])
    try:
        env.reset(seed=replay["seed"], options={"task_id": row["task_id"]})
        observations, reward = [], 0.0
        for action in replay["actions"]:
            observation, reward, terminated, truncated, _ = env.step(action)
            observations.append(observation)
            if terminated or truncated:
                break
        return observations, float(reward)
    finally:
        env.close()


# -- teachers ----------------------------------------------------------------------------------------------


def _acting(policy: Any) -> Teacher:
    return lambda messages, turn, failed: policy.act(messages)


class _PlanTeacher:
    """Writes the plan to the todo list in the first turn, then researches like the scripted researcher,
    ticking off each step once a tool call has covered it."""

    def __init__(self, plan, researcher: ScriptedResearcher) -> None:
        self.plan, self.researcher = plan, researcher
        self.done: set[int] = set()
        self.history: list[str] = []

    def __call__(self, messages: list[dict[str, Any]], turn: int, failed: list[dict[str, Any]]) -> str:
        from drgym.tasks.capabilities import step_coverage

        action = self.researcher.act(messages)
        prefix = ""
        if turn == 0:
            prefix = "<think>Plan the report before searching.</think>" + "".join(
                _call("todo", action="add", item=f"step {i + 1}: {step.text}") for i, step in enumerate(self.plan))
        else:
            coverage = step_coverage(self.plan, self.history)
            newly = [i for i, at in enumerate(coverage) if at is not None and i not in self.done and self.plan[i].targets]
            self.done.update(newly)
            prefix = "".join(_call("todo", action="complete", id=i + 1) for i in newly)
        if "<answer" in action:  # todo calls cannot share a turn with the answer
            prefix = ""
        self.history.append(action)
        return prefix + action


class _RecoveryTeacher:
    """Retries a call whose result failed (a timeout, HTTP 503, an empty or truncated result), then goes on."""

    def __init__(self, researcher: ScriptedResearcher) -> None:
        self.researcher = researcher
        self.last = ""
        self.recoveries = 0

    _WHAT_HAPPENED = {"timeout": "timed out", "server_error": "failed (HTTP 503)", "empty_result": "came back empty",
                      "truncated": "was cut off"}

    def __call__(self, messages: list[dict[str, Any]], turn: int, failed: list[dict[str, Any]]) -> str:
        if failed:
            self.recoveries += 1
            kind = self._WHAT_HAPPENED[failed[0]["noise"]]
            retry = "".join(format_tool_call(call["name"], call["arguments"]) for call in failed)
            action = f"<think>The last call {kind}; the result says it can be retried, so I retry it.</think>{retry}"
        else:
            action = self.researcher.act(messages)
        self.last = action
        return action


class _CrossCheckTeacher:
    """Before answering, surfaces the low-trust value (a broad search) and re-reads the tier-1 source."""

    def __init__(self, researcher: ScriptedResearcher, conflict: dict[str, Any], tier1_url: str, query: str) -> None:
        self.researcher, self.conflict, self.tier1_url, self.query = researcher, conflict, tier1_url, query
        self.stage = 0
        self.answer = ""

    def __call__(self, messages: list[dict[str, Any]], turn: int, failed: list[dict[str, Any]]) -> str:
        if self.stage == 0:
            action = self.researcher.act(messages)
            if parse_action(action).answer is None:
                return action
            self.answer = parse_action(action).answer
            self.stage = 1
            return (f"<think>Before answering {self.answer}, I look for other sources on this figure.</think>"
                    + _call("batch_web_surfer", queries=[self.query], top_k=10))
        if self.stage == 1:
            self.stage = 2
            value, url = self.conflict["value"], self.conflict["url"]
            return (f"<think>A tier-3 page ({url}) states {value}, which disagrees with {self.answer}. Tier-3 pages "
                    "may carry wrong or outdated figures, so I re-read the tier-1 source before using either."
                    f"</think>" + _call("batch_web_surfer", urls=[self.tier1_url], find=self.answer.split()[0]))
        return (f"<think>The tier-1 source confirms {self.answer}; the tier-3 figure {self.conflict['value']} is "
                f"not supported.</think><answer>{self.answer}</answer>")


class _SelfCorrectionTeacher:
    """After the first search, states a wrong first hop, checks it against the register, and corrects it."""

    def __init__(self, researcher: ScriptedResearcher, hop: dict[str, Any], wrong: str) -> None:
        self.researcher, self.hop, self.wrong = researcher, hop, wrong
        self.stage = 0

    def __call__(self, messages: list[dict[str, Any]], turn: int, failed: list[dict[str, Any]]) -> str:
        from drgym.tasks.world import RELATIONS

        key = self.hop["key"].split(":", 1)[1]
        phrase = next(r.phrase for r in RELATIONS if r.key == key).format(x=self.hop["subject_name"])
        if self.stage == 0 and turn == 1:
            self.stage = 1
            entry = next((u for u in self.hop["urls"] if self.hop["subject"] in u), self.hop["urls"][0])
            return (f"<think>So {phrase} is probably {self.wrong}. I have not seen that on an official page yet, so "
                    f"I check the register entry.</think>"
                    + _call("batch_web_surfer", urls=[entry]))
        if self.stage == 1:
            self.stage = 2
            action = self.researcher.act(messages)
            return (f"<think>The register entry names {self.hop['object_name']}, not {self.wrong}: my earlier "
                    f"guess was wrong. I continue with {self.hop['object_name']}.</think>{action}")
        return self.researcher.act(messages)


# -- synthesis ---------------------------------------------------------------------------------------------


def _world_and_tasks(suite: str, split: str, web: str | Path | None) -> tuple[ProceduralWorld, TaskSet, str, str]:
    """The world, the split's tasks, the world's folder and the task file (`resolve_tasks` finds both)."""
    source = resolve_tasks(suite, find_web=web is None)
    folder = Path(web) if web is not None else source.web
    if folder is None or not (folder / "world.json").is_file():
        where = f"--web {web} is not one (no world.json)" if web is not None else (
            f"{suite!r} names none" if folder is None else f"{suite!r} names {folder}, a corpus of real pages")
        raise ConfigError(f"synthesis needs a procedural world, whose knowledge graph its teachers read: a suite "
                          f"({', '.join(SUITES)}), a world folder, or a task file with --web WORLD; {where}")
    world = source.world if source.world is not None and web is None else ProceduralWorld(folder)
    tasks = select_split(source.tasks, split)
    entities = {e["id"] for e in world.meta["graph"]["entities"]}
    # every world numbers its entities alike ("org-00000"): a task made in another world is told by the corpus it
    # names, or by an entity of its gold path that this world lacks
    corpus = world.corpus.name
    foreign = [t.id for t in tasks if (t.corpus and t.corpus != corpus)
               or any(hop.get("subject") not in entities for hop in t.meta.get("gold_path", ()))]
    if foreign:
        made_in = sorted({t.corpus for t in tasks if t.id in foreign[:5] and t.corpus})
        raise ConfigError(f"tasks {foreign[:5]} of {suite!r} are not tasks of the world {world.path} ({corpus}): "
                          f"they were made in {', '.join(made_in) or 'another world'}; pass the world they were made "
                          "in as --web, or leave --web out when the task file names it")
    return world, tasks, str(world.path), str(source.file)


def synthesize(capabilities: Iterable[str], suite: str, out: str | Path, *, n: int = 20, seed: int = 0,
               split: str = "train", noise: float = 0.08, env_kwargs: dict[str, Any] | None = None,
               difficulty_filter: bool = True, web: str | Path | None = None, show_progress: bool = True) -> SynthStats:
    """Writes ``out/<capability>.jsonl`` (and ``out/tasks.jsonl`` for synthesised requests); returns the stats.

    Args:
        suite: a suite name, a procedural world folder or a task file of a world's tasks; its `split` ('train')
            is used.
        n: rows per capability.
        noise: share of failing tool calls in the recovery episodes (5–10 % in the seed).
        env_kwargs: environment settings over the defaults (tools, budget, system_prompt, ...).
        difficulty_filter: drop seeking tasks that a weaker researcher solves.
        web: the world folder the tasks are played in (default: the suite's world, or the one the task file
            names); synthesis reads its knowledge graph, so a corpus of real pages is refused.
    """
    import gymnasium as gym
    from tqdm.auto import tqdm

    import drgym  # noqa: F401

    capabilities = list(capabilities)
    unknown = [c for c in capabilities if c not in CAPABILITIES]
    if unknown:
        raise ConfigError(f"unknown capabilities {unknown}; choose from {', '.join(CAPABILITIES)} or all")
    if split == "heldout":
        raise ConfigError("synthesis makes training data: the held-out split is for evaluation only")
    world, tasks, world_path, tasks_file = _world_and_tasks(suite, split, web)
    entities = {e["id"]: e for e in world.meta["graph"]["entities"]}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stats = SynthStats()
    rng = random.Random(seed)
    search_tasks = [t for t in tasks if t.kind == "deep_search"]
    research_tasks = [t for t in tasks if t.kind == "deep_research"]
    base_kwargs = {"tools": ["batch_web_surfer", "todo", "file"], "budget": {"max_turns": 40, "max_tool_calls": 80},
                   **(env_kwargs or {})}
    envs: dict[str, Any] = {}

    def env_for(kind: str, tasks_file: str, kwargs: dict[str, Any], fresh: bool = False) -> Any:
        key = json.dumps([kind, tasks_file, kwargs], sort_keys=True)
        if fresh and key in envs:  # the task file has grown: reload it
            envs.pop(key).close()
        if key not in envs:
            envs[key] = gym.make(ENV_IDS[kind], tasks=tasks_file, web=world_path, **kwargs)
        return envs[key]

    def replay(kind: str, tasks_file: str, kwargs: dict[str, Any], episode_seed: int) -> dict[str, Any]:
        return {"env_id": ENV_IDS[kind], "tasks": tasks_file, "web": world_path, "env_kwargs": kwargs,
                "seed": episode_seed}

    synthesized: list[Task] = []
    try:
        for capability in capabilities:
            rows: list[dict[str, Any]] = []
            progress = tqdm(desc=f"synth {capability}", total=n, unit="row", disable=not show_progress)
            candidates = {"planning": research_tasks, "report": research_tasks, "seeking": search_tasks,
                          "reflection": search_tasks}[capability]
            # reflection rows are shared out between its three kinds
            quota = Counter({"recovery": -(-n // 3), "cross_check": -(-n // 3), "self_correction": -(-n // 3)})
            for task in rng.sample(candidates, len(candidates)):
                if len(rows) >= n:
                    break
                episode_seed = rng.randrange(1_000_000)
                made = _synth_one(capability, task, episode_seed, entities, world, env_for, replay, tasks_file,
                                  base_kwargs, noise, stats, synthesized, out, difficulty_filter)
                for row in made:
                    if len(rows) >= n or (row.get("reflection") and quota[row["reflection"]] <= 0):
                        continue
                    if is_loop(row):
                        stats.drop(capability, "loop")
                        continue
                    quota[row.get("reflection", "")] -= 1
                    rows.append(row)
                    stats.keep(capability, row)
                    progress.update(1)
            progress.close()
            with (out / f"{capability}.jsonl").open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        for env in envs.values():
            env.close()
    if synthesized:
        TaskSet(synthesized, name="synthesized").save(out / "tasks.jsonl")
    return stats


def _synth_one(capability, task, episode_seed, entities, world, env_for, replay, tasks_file, base_kwargs, noise,
               stats, synthesized, out, difficulty_filter=True) -> list[dict[str, Any]]:
    if capability == "planning":
        plan = research_plan(task, entities)
        teacher = _PlanTeacher(plan, ScriptedResearcher())
        run = _play(env_for(task.kind, tasks_file, base_kwargs), task, episode_seed, teacher)
        if run.reward < 0.6:
            stats.drop(capability, "reward")
            return []
        if not plan_consistent(plan, run.actions):
            stats.drop(capability, "inconsistent plan")
            return []
        rows = [_row(run, task, "planning", replay(task.kind, tasks_file, base_kwargs, episode_seed),
                     plan=[s.text for s in plan], plan_targets=[list(s.targets) for s in plan])]
        # the reverse direction: a request read back from the gold report, answered by that report
        reverse = Task(id=f"{task.id}-reverse", kind="deep_research", question=reverse_query(task.meta["gold_report"]),
                       rubrics=task.rubrics, corpus=task.corpus, meta={**task.meta, "reverse_of": task.id})
        rows += _report_rows(reverse, episode_seed, env_for, replay, base_kwargs, stats, synthesized, out,
                             capability="planning", variant="reverse")
        return rows
    if capability == "report":
        rows = []
        for variant, question, report in report_variants(task):
            variant_task = Task(id=f"{task.id}-{variant}", kind="deep_research", question=question,
                                rubrics=task.rubrics, corpus=task.corpus,
                                meta={**task.meta, "gold_report": report, "variant_of": task.id})
            rows += _report_rows(variant_task, episode_seed, env_for, replay, base_kwargs, stats, synthesized, out,
                                 capability="report", variant=variant)
        return rows
    if capability == "seeking":
        weak = _play(env_for(task.kind, tasks_file, base_kwargs), task, episode_seed,
                     _acting(ScriptedResearcher(max_tries_per_hop=1, top_k=2))) if difficulty_filter else None
        if weak is not None and weak.reward >= 1.0:
            stats.drop(capability, "difficulty (a weaker researcher solves it)")
            return []
        # a link walk when the answer sits only on archive pages: search never returns them, so the episode
        # must reach them by following the register entry's links
        walk = all("/archive/" in u for u in task.meta["gold_path"][-1]["urls"])
        kwargs = {**base_kwargs, "unsearchable": ["/archive/"]} if walk else base_kwargs
        runs = [_play(env_for(task.kind, tasks_file, kwargs), task, episode_seed,
                      _acting(ScriptedResearcher(top_k=k))) for k in (3, 5, 10)]
        correct = [r for r in runs if r.reward >= 1.0]
        if not correct:
            stats.drop(capability, "no correct episode")
            return []
        best = min(correct, key=lambda r: (len(r.actions), sum(len(a) for a in r.actions)))
        return [_row(best, task, "seeking", replay(task.kind, tasks_file, kwargs, episode_seed),
                     hops=task.meta.get("hops"), source="link_walk" if walk else "graph_path")]
    # reflection: recovery, cross-check and self-correction episodes of the same task
    rows = []
    kwargs = {**base_kwargs, "noise": noise}
    teacher = _RecoveryTeacher(ScriptedResearcher())
    run = _play(env_for(task.kind, tasks_file, kwargs), task, episode_seed, teacher)
    if teacher.recoveries and run.reward >= 1.0:
        rows.append(_row(run, task, "reflection", replay(task.kind, tasks_file, kwargs, episode_seed),
                         reflection="recovery", recoveries=teacher.recoveries))
    else:
        stats.drop("reflection", "recovery: no injected error" if not teacher.recoveries else "recovery: wrong answer")
    last_hop = task.meta["gold_path"][-1]
    key = last_hop["key"]
    conflicts = [s for s in world.statements if s.entity_id == last_hop["subject"] and s.key == key
                 and s.status in ("conflict", "outdated") and s.tier == 3]
    if conflicts:
        conflict = {"value": conflicts[0].value, "url": conflicts[0].url}
        tier1 = next((u for u in last_hop["urls"] if "/archive/" in u or "/entry/" in u), last_hop["urls"][0])
        query = f"{key.split(':', 1)[1].replace('_musd', '').replace('_', ' ')} {last_hop['subject_name']}"
        teacher = _CrossCheckTeacher(ScriptedResearcher(), conflict, tier1, query)
        run = _play(env_for(task.kind, tasks_file, base_kwargs), task, episode_seed, teacher)
        seen = any(conflict["url"] in o and conflict["value"] in o for o in run.observations)
        if run.reward >= 1.0 and seen:
            rows.append(_row(run, task, "reflection", replay(task.kind, tasks_file, base_kwargs, episode_seed),
                             reflection="cross_check", conflict=conflict))
        else:
            stats.drop("reflection", "cross-check: low-trust value not met" if not seen else "cross-check: wrong answer")
    first = task.meta["gold_path"][0]
    if first["key"].startswith("rel:") and len(task.meta["gold_path"]) > 1:
        truth = entities[first["object"]]
        others = [e["name"] for e in entities.values() if e["kind"] == truth["kind"] and e["id"] != truth["id"]]
        wrong = entities[truth["twin_of"]]["name"] if truth.get("twin_of") in entities else \
            random.Random(episode_seed).choice(others)
        teacher = _SelfCorrectionTeacher(ScriptedResearcher(), first, wrong)
        run = _play(env_for(task.kind, tasks_file, base_kwargs), task, episode_seed, teacher)
        if run.reward >= 1.0 and teacher.stage == 2:
            rows.append(_row(run, task, "reflection", replay(task.kind, tasks_file, base_kwargs, episode_seed),
                             reflection="self_correction", wrong_claim=wrong, corrected_to=first["object_name"]))
        else:
            stats.drop("reflection", "self-correction: wrong answer")
    return rows


def _report_rows(task, episode_seed, env_for, replay, base_kwargs, stats, synthesized, out, *, capability,
                 variant) -> list[dict[str, Any]]:
    """Read the report's cited pages (five per call), then submit the report."""
    report = task.meta["gold_report"]
    cited = list(dict.fromkeys(re.findall(r"\\cite\{([^}]*)\}", report)))
    actions = [f"<think>Read the sources before writing ({len(cited)} pages).</think>"
               + _call("batch_web_surfer", urls=cited[i:i + 5]) for i in range(0, len(cited), 5)]
    actions.append(format_answer(report))
    synthesized.append(task)
    tasks_file = str(out / "tasks.jsonl")
    TaskSet(synthesized, name="synthesized").save(tasks_file)  # the env reads the request from here
    run = _play(env_for("deep_research", tasks_file, base_kwargs, fresh=True), task, episode_seed,
                lambda messages, turn, failed: actions[turn])
    if run.reward < 0.6:
        stats.drop(capability, f"{variant}: reward {run.reward:.2f}")
        return []
    return [_row(run, task, capability, replay("deep_research", tasks_file, base_kwargs, episode_seed),
                 variant=variant, rubrics=[r.model_dump(mode="json") for r in task.rubrics])]


# -- mixing ------------------------------------------------------------------------------------------------


def mix_rows(paths: Iterable[str | Path], ratio: dict[str, float], out: str | Path, *, seed: int = 0) -> Counter:
    """Subsamples rows to the given shares (keys: capabilities, or 'search'/'research' for the task kind) and
    writes them shuffled; rows with repetitive loops are dropped first. Returns rows per key (and 'loop')."""
    rows, loops = [], 0
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"synthesised data file {path} does not exist")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise TaskFileError(f"{path}:{number}: not JSON ({e.msg})") from None
                if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
                    raise TaskFileError(f"{path}:{number}: not a synthesised row (no 'messages' list); pass the "
                                        "<capability>.jsonl files of drgym synth, not its tasks.jsonl")
                if is_loop(row):
                    loops += 1
                else:
                    rows.append(row)
    kinds = {"search": "deep_search", "seeking_kind": "deep_search", "research": "deep_research"}

    def key_of(row: dict[str, Any]) -> str | None:
        for key in ratio:
            if row.get("capability") == key or row.get("kind") == kinds.get(key):
                return key
        return None

    groups: dict[str, list[dict[str, Any]]] = {key: [] for key in ratio}
    unmatched = 0
    for row in rows:
        key = key_of(row)
        if key is not None:
            groups[key].append(row)
        else:
            unmatched += 1
    empty = [k for k, v in groups.items() if not v and ratio[k] > 0]
    if empty:
        raise ConfigError(f"no rows for {empty} in the given files")
    rng = random.Random(seed)
    picked = sample_mixture(groups, ratio, rng)
    chosen = [row for group in picked.values() for row in group]
    counts = Counter({key: len(group) for key, group in picked.items()})
    rng.shuffle(chosen)
    counts["loop (dropped)"] = loops
    counts["not in the ratio (dropped)"] = unmatched
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row in chosen:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return counts
