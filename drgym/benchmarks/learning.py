"""The learning benchmark: does drgym's reward teach a policy to research? A small LM, from scratch, on a CPU.

    python -m drgym.benchmarks.learning --out runs/learning                       # the full run
    python -m drgym.benchmarks.learning --out runs/learning-mix --capability-mix  # atomic-capability SFT
    python -m drgym.benchmarks.learning --out runs/quick --quick                  # the plumbing, under a minute

1. A small procedural world (about 90 entities) and its one-hop deep_search tasks whose answer is a name or a year
   (search for a fact, read the results, answer), split into train and held-out tasks (`drgym.tasks.task_split`):
   held-out tasks ask facts no training task asks, about entities the training episodes have shown. Episodes use a
   short system prompt and the web tool only. Figures (prices, populations, molar masses) are left out: copying a
   number it has never seen digit by digit is beyond a 4-layer model trained in minutes.
2. SFT data: the scripted researcher's correct, shortest train episodes (`build_sft_dataset`), or with
   ``--capability-mix`` the seeking + reflection rows of `drgym synth` (70 : 30). With ``--rl-share S`` a share
   of the train tasks (by a hash of the id) is kept from SFT for PPO alone, whose answers SFT never saw (measured
   on one seed: SFT on the smaller part scored 0.050 held-out greedy instead of 0.225, and PPO on the unseen part,
   rewarded in about 1 episode of 16 at T = 0.6, did not improve it: 0.025).
3. Per seed, the whole pipeline: a small Llama (4 layers × 128) with random weights and a byte-level BPE tokenizer
   trained on *other* worlds' text, pretrained on compact transcripts of the scripted researcher's episodes in two
   other worlds (`drgym.train.reference.pretrain`: copying names from a question into a search and from results
   into an answer, as pretraining gives real LMs), SFT (reference trainer), then PPO (reference trainer, GAE
   γ = λ = 1, train tasks only, several samples per task) training low-rank adapters on every attention and MLP projection
   (`--lora-rank`; ``--lora-rank 0`` trains all parameters). The seed varies the model's initial weights,
   pretraining, SFT, PPO and the evaluation's sampling.
4. Baselines beside PPO, on the same held-out tasks: the *answer prior* (answers the most common train answer of
   the question's template, e.g. "year of birth of a person", without searching), SFT greedy, and SFT at its best
   temperature; each model's temperature is chosen on train tasks (`TEMPERATURES`; of the PPO part with
   ``--rl-share``), never on held-out ones. The
   claim compares PPO at its own train-chosen temperature with the best of the baselines, and holds only when the
   gain exceeds both the spread over seeds and 1.96 standard errors clustered by task.
5. Behaviour per stage: searches per episode, the share of episodes that answer, and the share of answers found in
   a tool result the policy read (grounded). And what reading alone earns: SFT and PPO greedy on tasks of another
   world (`PROBE_WORLD_SEED`, `--probe-tasks`) whose facts no stage saw, where recalling the evaluation world's
   pages cannot help. Writes ``results.json``, ``learning.png`` and a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from drgym.agents.hf_policy import from_local
from drgym.agents.rollout import episode_id, rollout
from drgym.agents.scripted import ScriptedResearcher
from drgym.agents.tiny_model import build_tiny_model
from drgym.core.protocol import format_answer
from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.tasks.schema import Task, TaskSet
from drgym.tasks.splits import select_split
from drgym.train.chat import ChatFormat
from drgym.train.episodes import EpisodeLabel, EpisodeSession
from drgym.train.reference.ppo import Episode, PPOConfig, run_episodes, train_ppo
from drgym.train.reference.pretrain import PretrainConfig, pretrain_copy
from drgym.train.reference.sft import SFTConfig, train_sft
from drgym.train.sft_data import SFTFilters, build_sft_dataset

WORLD = WorldSpec(seed=21, pages=400, distractor_rate=0.0, conflict_rate=0.1, outdated_rate=0.1, low_trust_rate=0.5,
                  n_deep_search=2000, n_deep_research=0, min_hops=1, max_hops=1)
"""A small world, every one-hop fact asked: each entity comes up in several tasks."""
PRETRAIN_WORLDS = [WorldSpec(seed=seed, pages=3000, distractor_rate=0.0, conflict_rate=0.1, n_deep_search=1000,
                             n_deep_research=0, min_hops=1, max_hops=1) for seed in (101, 102)]
"""Other worlds: the scripted researcher's episodes there are the pretraining text (their facts are not the
evaluation world's)."""
PROBE_WORLD_SEED = 31
"""A world that no stage trains on: greedy reward on its tasks is what a policy earns by reading search results,
without recalling facts it saw in training (held-out tasks ask about entities the training episodes have shown)."""
SYSTEM_PROMPT = ('Answer from the offline web; trust tier-1 sources. Search with <tool_call>{{"name": '
                 '"batch_web_surfer", "arguments": {{"queries": ["..."], "top_k": 3}}}}</tool_call>. {finish}')
"""A short system prompt: a small model's context is spent on the question and the results, not on instructions."""
ENV_KWARGS = {"tools": ["batch_web_surfer"], "budget": {"max_turns": 4}, "system_prompt": SYSTEM_PROMPT}
TEMPERATURES = (0.0, 0.3, 0.6, 1.0)
"""The sampling temperatures a model is evaluated at on train tasks to choose its best one (0: greedy)."""
BASELINES = ("answer_prior", "sft_greedy", "sft_best_t")
"""The stages PPO is compared with; the claim is PPO against the best of them."""
STAGES = ("answer_prior", "sft_greedy", "sft_t1", "sft_best_t", "ppo_greedy", "ppo_t1", "ppo_best_t",
          "sft_unseen_world", "ppo_unseen_world")
"""The rows of the table: held-out tasks of the evaluation world, then (greedy) the probe world's tasks."""


def rl_split(tasks: Iterable[Task], share: float) -> tuple[list[Task], list[Task]]:
    """(SFT tasks, RL tasks): about `share` of the tasks, chosen by a hash of the id, are kept for PPO only; with
    share 0, both are all the tasks."""
    if share <= 0:
        return list(tasks), list(tasks)
    sft, rl = [], []
    for task in tasks:
        bucket = int.from_bytes(hashlib.sha1(f"drgym-rl:{task.id}".encode()).digest()[:4], "big") % 1000
        (rl if bucket < share * 1000 else sft).append(task)
    return sft, rl


def lookup_tasks(tasks: Iterable[Task]) -> TaskSet:
    """The tasks whose answer is a name or a year (not a figure to copy digit by digit)."""
    return TaskSet([t for t in tasks if not _FIGURE.fullmatch(t.answers[0]) or _YEAR.fullmatch(t.answers[0])],
                   name="lookup")


_FIGURE = re.compile(r"[-+]?[\d.,]+")
_YEAR = re.compile(r"(1[5-9]|20)\d\d")


def scripted_policy() -> ScriptedResearcher:
    return ScriptedResearcher(top_k=3)


# -- what an episode did ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One evaluation episode, as the tables count it."""

    task_id: str
    reward: float
    searches: float
    """Tool calls the episode made (the web tool is the only tool here)."""
    answered: bool
    grounded: bool
    """The answer appears in a tool result the policy read before answering."""


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def outcome(episode: Episode) -> Outcome:
    answer = _normalise(episode.answer or "")
    read = episode.observations[:-1]  # the last observation acknowledges the answer itself
    return Outcome(task_id=episode.task_id, reward=episode.reward,
                   searches=episode.logs.get("budget_tool_calls", 0.0), answered=bool(answer),
                   grounded=bool(answer) and any(answer in _normalise(text) for text in read))


def template(task: Task) -> str:
    """The question's template: the relation or attribute of each hop of its gold path (e.g. 'attr:born')."""
    keys = [str(step.get("key")) for step in task.meta.get("gold_path") or [] if isinstance(step, dict)]
    return "/".join(keys) or task.question


def answer_prior(train_tasks: Iterable[Task]) -> tuple[dict[str, str], str]:
    """The most common train answer per template, and over all train tasks (for a template train never asks)."""
    per_template: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for task in train_tasks:
        per_template[template(task)][task.answers[0]] += 1
        overall[task.answers[0]] += 1
    return {key: counts.most_common(1)[0][0] for key, counts in per_template.items()}, overall.most_common(1)[0][0]


def evaluate_answer_prior(tasks: list[Task], labels: list[EpisodeLabel], prior: tuple[dict[str, str], str]
                          ) -> list[Outcome]:
    """Answers each task from the prior at once, graded by the same environment and judge as the models."""
    by_template, fallback = prior
    outcomes = []
    for task, label in zip(tasks, labels):
        session = EpisodeSession(label, allow_heldout=True)
        session.start()
        try:
            result = session.step(format_answer(by_template.get(template(task), fallback)))
        finally:
            session.close()
        outcomes.append(Outcome(task_id=task.id, reward=result.reward, searches=0.0, answered=True, grounded=False))
    return outcomes


def evaluate_model(model: Any, tokenizer: Any, labels: list[EpisodeLabel], *, temperature: float, seed: int,
                   max_new_tokens: int, max_length: int) -> list[Outcome]:
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    episodes = run_episodes(model, tokenizer, ChatFormat(tokenizer), labels, max_new_tokens=max_new_tokens,
                            max_length=max_length, temperature=temperature, generator=generator, allow_heldout=True)
    return [outcome(episode) for episode in episodes]


def mean_reward(outcomes: list[Outcome]) -> float:
    return sum(o.reward for o in outcomes) / len(outcomes)


def behaviour(outcomes: list[Outcome]) -> dict[str, float]:
    answered = [o for o in outcomes if o.answered]
    return {"reward": mean_reward(outcomes), "searches": sum(o.searches for o in outcomes) / len(outcomes),
            "answered": len(answered) / len(outcomes),
            "grounded": sum(o.grounded for o in answered) / len(answered) if answered else 0.0}


def evaluate_stages(name: str, model_path: Path, *, select: list[EpisodeLabel], heldout: list[EpisodeLabel],
                    probe: list[EpisodeLabel], samples: int, select_samples: int, seed: int, lengths: dict[str, int]
                    ) -> tuple[dict[str, list[Outcome]], dict[str, Any]]:
    """Held-out outcomes of one model greedy, at T = 1 and at the temperature that scores best on the train
    selection tasks (ties: the lower temperature), and greedy on the probe world's tasks; returns them and the
    selection's figures."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = from_local(AutoTokenizer, model_path)
    model = from_local(AutoModelForCausalLM, model_path).eval()

    def run(labels: list[EpisodeLabel], temperature: float, copies: int) -> list[Outcome]:
        return evaluate_model(model, tokenizer, labels * (1 if temperature == 0 else copies), temperature=temperature,
                              seed=seed, **lengths)

    on_train = {t: mean_reward(run(select, t, select_samples)) for t in TEMPERATURES}
    best = max(TEMPERATURES, key=lambda t: (on_train[t], -t))
    held = {0.0: run(heldout, 0.0, samples), 1.0: run(heldout, 1.0, samples)}
    if best not in held:
        held[best] = run(heldout, best, samples)
    stages = {f"{name}_greedy": held[0.0], f"{name}_t1": held[1.0], f"{name}_best_t": held[best],
              f"{name}_unseen_world": run(probe, 0.0, 1)}
    return stages, {"train_reward_by_temperature": {str(t): r for t, r in on_train.items()}, "best_temperature": best}


# -- statistics ------------------------------------------------------------------------------------------


def per_task(outcomes: Iterable[Outcome]) -> dict[str, float]:
    rewards: dict[str, list[float]] = defaultdict(list)
    for o in outcomes:
        rewards[o.task_id].append(o.reward)
    return {task: sum(r) / len(r) for task, r in rewards.items()}


def task_clustered(means: dict[str, float]) -> tuple[float, float]:
    """Mean over tasks and its standard error with tasks as clusters (episodes of a task are not independent)."""
    values = list(means.values())
    mean = sum(values) / len(values)
    error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, error


def compare(ppo: list[list[Outcome]], baseline: list[list[Outcome]]) -> dict[str, Any]:
    """PPO minus a baseline on held-out reward: the mean gain, its spread over seeds (std of the per-seed gains)
    and its task-clustered standard error (per task: PPO's mean over seeds and samples minus the baseline's)."""
    gains = [mean_reward(p) - mean_reward(b) for p, b in zip(ppo, baseline)]
    ppo_tasks = per_task(o for seed in ppo for o in seed)
    base_tasks = per_task(o for seed in baseline for o in seed)
    gain, task_error = task_clustered({t: ppo_tasks[t] - base_tasks[t] for t in ppo_tasks})
    seed_spread = statistics.stdev(gains) if len(gains) > 1 else None
    beats = gain > 1.96 * task_error and (seed_spread is None or gain > seed_spread)
    return {"gain": gain, "per_seed_gain": gains, "seed_spread": seed_spread, "task_clustered_se": task_error,
            "beats": beats}


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


# -- the pipeline ----------------------------------------------------------------------------------------


def _pretraining_texts(out: Path, quick: bool) -> list[str]:
    """Compact transcripts (question, search, results, answer) of the scripted researcher's correct episodes
    in other worlds: they teach a small model to copy names from a question into a search and figures from
    results into an answer, which a few hundred in-domain SFT episodes cannot teach it."""
    from drgym.core.records import read_records

    texts = []
    for spec in PRETRAIN_WORLDS[:1] if quick else PRETRAIN_WORLDS:
        spec = dataclasses.replace(spec, pages=150, n_deep_search=20) if quick else spec
        path = out / f"pretrain-world-{spec.seed}"
        world = ProceduralWorld(path) if (path / "world.json").is_file() else ProceduralWorld.build(path, spec)
        trajectories = out / f"pretrain-world-{spec.seed}.jsonl"
        env_kwargs = {"tasks": str(path), **ENV_KWARGS}
        rollout("drgym/DeepSearch-v1", scripted_policy, n_episodes=len(world.tasks), out=trajectories,
                env_kwargs=env_kwargs, policy_name="scripted", show_progress=False)
        # this run's episodes only: a folder copied from elsewhere holds the other path's run too (its episode ids
        # differ), which would count every transcript twice
        run = {episode_id("drgym/DeepSearch-v1", env_kwargs, 0, i) for i in range(len(world.tasks))}
        for record in read_records(trajectories):
            if record.episode_id in run and record.reward == 1.0 and len(record.steps) >= 2:
                first = record.steps[0]
                results = first.observation.split("\n\nBudget")[0]
                texts.append(f"Q: {record.messages[1].content}\n{first.action}\n{results}\n{record.steps[-1].action}")
    return texts


def _probe_labels(out: Path, spec: WorldSpec, n: int) -> list[EpisodeLabel]:
    """Labels of the first `n` name-or-year tasks of the probe world (built once into `out`)."""
    path = out / f"probe-world-{spec.seed}"
    world = ProceduralWorld(path) if (path / "world.json").is_file() else ProceduralWorld.build(path, spec)
    tasks = TaskSet(list(lookup_tasks(world.tasks))[:n], name=f"probe-{spec.seed}")
    suite_file = tasks.save(out / f"probe-suite-{spec.seed}.jsonl")
    return [EpisodeLabel(task_id=t.id, tasks=str(suite_file), web=str(path), env_id="drgym/DeepSearch-v1", seed=i,
                         env_kwargs=ENV_KWARGS) for i, t in enumerate(tasks)]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/learning")
    parser.add_argument("--seeds", type=int, default=3, help="pipeline seeds: init, pretraining, SFT, PPO, sampling")
    parser.add_argument("--sft-epochs", type=int, default=10)
    parser.add_argument("--pretrain-steps", type=int, default=900)
    parser.add_argument("--lora-rank", type=int, default=8, help="PPO trains adapters of this rank; 0: all weights")
    parser.add_argument("--actor-lr", type=float, default=5e-4)
    parser.add_argument("--ppo-iterations", type=int, default=40)
    parser.add_argument("--episodes-per-iteration", type=int, default=16)
    parser.add_argument("--samples-per-task", type=int, default=4, help="PPO episodes per task in an iteration")
    parser.add_argument("--ppo-temperature", type=float, default=1.0,
                        help="PPO's sampling temperature (its log-probabilities are taken at the same one)")
    parser.add_argument("--rl-share", type=float, default=0.0,
                        help="share of the train tasks kept from SFT for PPO alone (0: both train on all of them)")
    parser.add_argument("--world-pages", type=int, default=WORLD.pages,
                        help="pages of the evaluation world (more pages: more distinct one-hop tasks)")
    parser.add_argument("--eval-tasks", type=int, default=40, help="held-out tasks evaluated")
    parser.add_argument("--probe-tasks", type=int, default=40,
                        help=f"tasks of the unseen world (seed {PROBE_WORLD_SEED}) evaluated greedy")
    parser.add_argument("--samples", type=int, default=4, help="sampled episodes per held-out task (T > 0)")
    parser.add_argument("--select-tasks", type=int, default=32, help="train tasks that choose each temperature")
    parser.add_argument("--select-samples", type=int, default=2, help="sampled episodes per selection task")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--mix", default=None, help="an SFT JSONL to train on instead of scripted trajectories")
    parser.add_argument("--capability-mix", action="store_true",
                        help="SFT on the atomic-capability mix of drgym synth (seeking + reflection) instead")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared machine a second thread made decoding 20x slower)")
    parser.add_argument("--only-seed", type=int, default=None,
                        help="run this seed's pipeline only (seeds in parallel processes; a run without it then "
                             "collects every seed's saved results)")
    parser.add_argument("--quick", action="store_true", help="toy sizes: checks every stage in under a minute")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.sft_epochs, args.ppo_iterations, args.episodes_per_iteration = 1, 1, 1, 4
        args.samples_per_task = 2
        args.pretrain_steps, args.eval_tasks, args.samples, args.select_tasks, args.select_samples = 2, 4, 1, 2, 1
        args.probe_tasks = 2
        args.hidden, args.layers, args.vocab = 32, 2, 384
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _arguments(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)  # small matrices, often on a busy machine
    try:
        return _benchmark(args)
    finally:
        torch.set_num_threads(threads)


def _benchmark(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out)
    started = time.perf_counter()
    world_path = out / "world"
    spec = dataclasses.replace(WORLD, pages=150 if args.quick else args.world_pages)
    world = ProceduralWorld(world_path) if (world_path / "world.json").is_file() else \
        ProceduralWorld.build(world_path, spec)
    suite = lookup_tasks(world.tasks)
    suite_file = suite.save(out / "suite.jsonl")
    train_tasks = select_split(suite, "train")
    heldout = list(select_split(suite, "heldout"))[:args.eval_tasks]
    print(f"world: {len(world.corpus)} pages, {len(world.tasks)} one-hop tasks, {len(suite)} with a name or year "
          f"answer: {len(train_tasks)} train, {len(heldout)} held-out")

    def label(task_id: str, seed: int = 0) -> EpisodeLabel:
        return EpisodeLabel(task_id=task_id, tasks=str(suite_file), web=str(world_path), env_id="drgym/DeepSearch-v1",
                            seed=seed, env_kwargs=ENV_KWARGS)

    sft_part, rl_part = rl_split(train_tasks, args.rl_share)
    if args.quick:
        sft_part, rl_part = sft_part[:12], rl_part[:8]
    sft_tasks = TaskSet(sft_part, name="train-sft")
    print(f"train tasks: {len(sft_part)} for SFT, {len(rl_part)} for PPO only (--rl-share {args.rl_share})"
          if args.rl_share > 0 else f"train tasks: {len(sft_part)} for SFT and PPO")
    # a rollout resumes by episode number within a task file: another SFT part gets files of its own
    part = "" if args.rl_share <= 0 else "-" + hashlib.sha1(",".join(t.id for t in sft_part).encode()).hexdigest()[:8]
    sft_file = Path(args.mix) if args.mix else out / ("sft_capability_mix.jsonl" if args.capability_mix
                                                      else f"sft{part}.jsonl")
    if args.capability_mix:
        from drgym.train.synth import mix_rows, synthesize

        stats = synthesize(["seeking", "reflection"], str(world_path), out / "synth", n=len(sft_tasks),
                           env_kwargs={**ENV_KWARGS, "budget": {"max_turns": 6}}, difficulty_filter=False)
        for row in stats.table():
            print("  ".join(row))
        counts = mix_rows([out / "synth" / "seeking.jsonl", out / "synth" / "reflection.jsonl"],
                          {"seeking": 0.7, "reflection": 0.3}, sft_file)
        print(f"capability mix: {dict(counts)}")
    elif not args.mix:
        train_file = out / f"train_tasks{part}.jsonl"
        sft_tasks.save(train_file)
        trajectories = out / f"scripted{part}.jsonl"
        rollout("drgym/DeepSearch-v1", scripted_policy, n_episodes=len(sft_tasks), out=trajectories,
                env_kwargs={"tasks": str(train_file), "web": str(world_path), **ENV_KWARGS}, policy_name="scripted",
                show_progress=not args.quick)
        summary = build_sft_dataset([trajectories], sft_file, SFTFilters())
        print(summary.table())
    rows = [json.loads(line) for line in sft_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    heldout_labels = [label(t.id, seed=i) for i, t in enumerate(heldout)]
    select_labels = [label(t.id, seed=i) for i, t in enumerate(rl_part[:args.select_tasks])]
    train_labels = [label(t.id).__dict__ for t in rl_part]
    probe_labels = _probe_labels(out, dataclasses.replace(spec, seed=PROBE_WORLD_SEED), args.probe_tasks)
    lengths = {"max_new_tokens": 24 if args.quick else 96, "max_length": 1536}
    settings = {key: value for key, value in vars(args).items() if key not in ("out", "only_seed")}
    results: dict[str, Any] = {"world": spec.__dict__, "env_kwargs": ENV_KWARGS, "settings": settings,
                               "sft_rows": len(rows), "suite_tasks": len(suite), "train_tasks": len(train_tasks),
                               "sft_tasks": len(sft_part), "rl_tasks": len(rl_part),
                               "heldout_tasks": len(heldout), "temperatures": list(TEMPERATURES),
                               "sft_data": "capability mix" if args.capability_mix else args.mix or "scripted",
                               "seeds": []}
    prior = answer_prior(train_tasks)
    prior_outcomes = evaluate_answer_prior(heldout, heldout_labels, prior)
    results["answer_prior"] = {"templates": len(prior[0]), "fallback": prior[1]}
    print(f"answer prior ({len(prior[0])} templates, no search): held-out reward {mean_reward(prior_outcomes):.3f}")
    # The tokenizer learns from the other worlds: trained on the evaluation world, it gives each of that world's
    # names a token of its own, which the model has hardly seen and cannot copy (measured: held-out reward after SFT
    # 0.025 sampled / 0.050 greedy); trained elsewhere, names split into common pieces.
    texts = _pretraining_texts(out, args.quick)
    protocol = [m["content"] for m in rows[0]["messages"] if m["role"] == "system"]
    outcomes: dict[str, list[list[Outcome]]] = {stage: [] for stage in STAGES}
    curves = []
    for seed in range(args.seeds):
        if args.only_seed is not None and seed != args.only_seed:
            continue
        seed_dir = out / f"seed{seed}"
        saved = seed_dir / "seed_results.json"
        if saved.is_file() and json.loads(saved.read_text())["settings"] == settings:  # a re-run resumes by seed
            record = json.loads(saved.read_text())
            print(f"seed {seed}: reusing {saved}")
        else:
            record = _run_seed(seed, seed_dir, args, texts=texts, protocol=protocol, sft_file=sft_file,
                               train_labels=train_labels, select=select_labels, heldout=heldout_labels,
                               probe=probe_labels, lengths=lengths, settings=settings)
            saved.write_text(json.dumps(record))
        record["stages"]["answer_prior"] = [dataclasses.asdict(o) for o in prior_outcomes]
        for stage in STAGES:
            outcomes[stage].append([Outcome(**o) for o in record["stages"][stage]])
        curves.append(record["ppo_train_reward"])
        results["seeds"].append({"seed": seed, "minutes": record["minutes"], "selection": record["selection"],
                                 "ppo_train_reward": record["ppo_train_reward"],
                                 "heldout": {stage: behaviour(outcomes[stage][-1]) for stage in STAGES}})
        print(f"seed {seed} ({record['minutes']} min): " + ", ".join(
            f"{stage} {mean_reward(outcomes[stage][-1]):.3f}" for stage in STAGES), flush=True)
    if args.only_seed is not None:
        return results
    results["summary"] = _summary(outcomes)
    results["minutes"] = round((time.perf_counter() - started) / 60, 1)
    results["load_average"] = os.getloadavg()
    table = markdown_table(results)
    print(f"\nheld-out, {args.seeds} seed(s), {len(heldout)} tasks, {results['minutes']} min:\n{table}")
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(table + "\n")
    _plot(curves, results, out / "learning.png")
    print(f"wrote {out / 'results.json'}, {out / 'results.md'} and {out / 'learning.png'}")
    return results


def _run_seed(seed: int, seed_dir: Path, args: argparse.Namespace, *, texts: list[str], protocol: list[str],
              sft_file: Path, train_labels: list[dict], select: list[EpisodeLabel], heldout: list[EpisodeLabel],
              probe: list[EpisodeLabel], lengths: dict[str, int], settings: dict[str, Any]) -> dict[str, Any]:
    """The pipeline of one seed: init, pretraining, SFT, PPO, and the held-out evaluation of SFT and PPO."""
    started = time.perf_counter()
    init = build_tiny_model(seed_dir / "init", seed=seed, vocab_size=args.vocab, corpus=texts + protocol,
                            hidden_size=args.hidden, layers=args.layers, heads=4, max_positions=2048)
    pretrain = PretrainConfig(model=str(init), texts=texts, out=str(seed_dir / "pretrained"),
                              steps=args.pretrain_steps, seq_len=384, repeat=False, seed=seed,
                              show_progress=not args.quick)
    pretrained = _stage(pretrain_copy, pretrain, inputs=[init])
    sft_config = SFTConfig(model=str(pretrained), data=str(sft_file), out=str(seed_dir / "sft"),
                           epochs=args.sft_epochs, lr=1e-3, batch_tokens=4096, max_len=lengths["max_length"],
                           seed=seed, show_progress=not args.quick)
    sft = _stage(train_sft, sft_config, inputs=[pretrained, sft_file])
    ppo_config = PPOConfig(model=str(sft), labels=train_labels, out=str(seed_dir / "ppo"),
                           iterations=args.ppo_iterations, episodes_per_iteration=args.episodes_per_iteration,
                           samples_per_task=args.samples_per_task, minibatch_episodes=8, micro_batch_episodes=2, actor_lr=args.actor_lr,
                           lora_rank=args.lora_rank, critic_lr=5e-4, kl_coef=0.01, seed=seed,
                           temperature=args.ppo_temperature,
                           show_progress=not args.quick, **lengths)
    ppo = _stage(train_ppo, ppo_config, inputs=[sft])
    stages: dict[str, list[Outcome]] = {}
    selection = {}
    for name, path in (("sft", sft), ("ppo", ppo)):
        found, selection[name] = evaluate_stages(name, path, select=select, heldout=heldout, probe=probe,
                                                 samples=args.samples,
                                                 select_samples=args.select_samples, seed=seed, lengths=lengths)
        stages.update(found)
    curve = [float(row.split(",")[1]) for row in (ppo / "ppo_metrics.csv").read_text().splitlines()[1:]]
    return {"settings": settings, "selection": selection, "ppo_train_reward": curve,
            "minutes": round((time.perf_counter() - started) / 60, 1),
            "stages": {stage: [dataclasses.asdict(o) for o in found] for stage, found in stages.items()}}


def _fingerprint(config: Any, inputs: list[Path]) -> str:
    """A hash of a stage's settings and of the bytes of its input models and data."""
    digest = hashlib.sha256(json.dumps({k: v for k, v in dataclasses.asdict(config).items()
                                        if k not in ("show_progress", "on_iteration")},
                                       sort_keys=True, default=str).encode())
    for path in inputs:
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file() and file.name != "stage.json":
                digest.update(file.name.encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def _stage(train: Any, config: Any, *, inputs: list[Path]) -> Path:
    """Runs a training stage, or reuses its output folder when it holds a finished run of the same settings on
    the same inputs (an interrupted benchmark resumes by stage; a stage that did not finish runs again)."""
    out = Path(config.out)
    fingerprint = _fingerprint(config, inputs)
    marker = out / "stage.json"
    if marker.is_file() and json.loads(marker.read_text()).get("fingerprint") == fingerprint:
        print(f"reusing {out} (finished earlier with the same settings and inputs)")
        return out
    started = time.perf_counter()
    train(config)
    marker.write_text(json.dumps({"fingerprint": fingerprint, "minutes": round((time.perf_counter() - started) / 60, 2),
                                  "load_average": os.getloadavg()}))
    return out


def _summary(outcomes: dict[str, list[list[Outcome]]]) -> dict[str, Any]:
    """Per stage: mean and spread over seeds, task-clustered error, behaviour; and PPO against the best baseline."""
    stages = {}
    for stage, by_seed in outcomes.items():
        per_seed = [mean_reward(seed) for seed in by_seed]
        pooled = [o for seed in by_seed for o in seed]
        _, task_error = task_clustered(per_task(pooled))
        stages[stage] = {"mean": statistics.mean(per_seed),
                         "seed_spread": statistics.stdev(per_seed) if len(per_seed) > 1 else None,
                         "task_clustered_se": task_error, "per_seed": per_seed, **behaviour(pooled)}
    best = max(BASELINES, key=lambda stage: stages[stage]["mean"])
    claim = {"best_baseline": best, "ppo": "ppo_best_t", **compare(outcomes["ppo_best_t"], outcomes[best])}
    return {"stages": stages, "claim": claim}


_LABELS = {"answer_prior": "answer prior (no search)", "sft_greedy": "SFT, greedy", "sft_t1": "SFT, T = 1",
           "sft_best_t": "SFT, best T on train", "ppo_greedy": "PPO, greedy", "ppo_t1": "PPO, T = 1",
           "ppo_best_t": "PPO, best T on train", "sft_unseen_world": "SFT, greedy, unseen world's tasks",
           "ppo_unseen_world": "PPO, greedy, unseen world's tasks"}


def markdown_table(results: dict[str, Any]) -> str:
    """The README table: reward (mean ± spread over seeds, task-clustered SE) and behaviour per stage, on the
    evaluation world's held-out tasks and (the last rows) on the unseen world's."""
    stages, claim = results["summary"]["stages"], results["summary"]["claim"]
    lines = ["| stage | reward (± seeds) | task-clustered SE | searches / episode | answered | "
             "answers found in what it read |", "| --- | --- | --- | --- | --- | --- |"]
    for stage in STAGES:
        s = stages[stage]
        spread = f"{s['mean']:.3f}" + (f" ± {s['seed_spread']:.3f}" if s["seed_spread"] is not None else "")
        lines.append(f"| {_LABELS[stage]} | {spread} | {s['task_clustered_se']:.3f} | {s['searches']:.2f} | "
                     f"{s['answered']:.2f} | {s['grounded']:.2f} |")
    spread = "n/a" if claim["seed_spread"] is None else f"{claim['seed_spread']:.3f}"
    verdict = "beats" if claim["beats"] else "does NOT beat"
    lines.append("")
    lines.append(f"PPO (best T on train) {verdict} the best baseline ({_LABELS[claim['best_baseline']]}): gain "
                 f"{claim['gain']:+.3f}, spread over seeds {spread}, task-clustered SE {claim['task_clustered_se']:.3f} "
                 f"(the claim needs gain > spread and > 1.96 SE). Rows without \"unseen world\" are the evaluation "
                 f"world's held-out tasks; the unseen world's tasks ask facts that no stage trained on: what reading "
                 f"search results alone earns.")
    return "\n".join(lines)


def _plot(curves: list[list[float]], results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for seed, curve in enumerate(curves):
        left.plot(range(1, len(curve) + 1), curve, alpha=0.8, label=f"seed {seed}")
    left.set_xlabel("PPO iteration")
    left.set_ylabel("mean training reward (T = 1)")
    left.set_ylim(-0.02, 1.02)
    left.legend()
    stages = results["summary"]["stages"]
    means = [stages[s]["mean"] for s in STAGES]
    errors = [stages[s]["seed_spread"] or 0.0 for s in STAGES]
    right.barh([_LABELS[s] for s in STAGES], means, xerr=errors,
               color=["tab:blue" if s.startswith("ppo") else "0.6" for s in STAGES])
    right.invert_yaxis()
    right.set_xlabel("reward (± spread over seeds)")
    fig.suptitle("drgym learning benchmark")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
