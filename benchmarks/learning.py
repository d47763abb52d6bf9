"""The learning benchmark: does drgym's reward teach a policy something? A small LM, from scratch, on a CPU.

    python -m drgym.benchmarks.learning --out runs/learning                     # scripted-trajectory SFT
    python -m drgym.benchmarks.learning --out runs/learning-mix --capability-mix  # atomic-capability SFT
    python -m drgym.benchmarks.learning --out runs/quick --quick                # the plumbing, in a minute

1. A small procedural world (about 90 entities) and its one-hop deep_search tasks whose answer is a name or a year
   (search for a fact, read the results, answer), split into train and held-out tasks (`drgym.tasks.task_split`):
   held-out tasks ask facts no training task asks, about entities the training episodes have shown. Episodes use a
   short system prompt and the web tool only. Figures (prices, populations, molar masses) are left out: copying a
   number it has never seen digit by digit is beyond a 4-layer model trained in minutes.
2. SFT data: the scripted researcher's correct, shortest train episodes (`build_sft_dataset`), or with
   ``--capability-mix`` the seeking + reflection rows of `drgym synth` (70 : 30).
3. A byte-level BPE tokenizer trained on other worlds' text and a small Llama (4 layers × 128) with random weights,
   pretrained on compact transcripts of the scripted researcher's episodes in two *other* worlds
   (`drgym.train.reference.pretrain`): a small model cannot learn from a few hundred episodes to copy names and
   figures it has never seen, as pretraining gives real LMs; those worlds' facts are not the evaluation's.
4. SFT once (reference trainer), then per seed: PPO from the SFT model (reference trainer, GAE γ = λ = 1, train
   tasks only, training the actor's final norm: `FINAL_NORM`), and held-out reward of the random-init, SFT and
   PPO models, sampled at temperature 1 (the policy PPO optimises; `--samples` episodes per task) and greedy. The
   seeds vary PPO and the evaluation's sampling. Episodes are played in batches
   (`drgym.train.reference.ppo.run_episodes`).
5. Prints the scores with mean ± std over seeds and writes ``results.json`` and ``reward_curve.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from drgym.agents.rollout import episode_id, rollout
from drgym.agents.scripted import ScriptedResearcher
from drgym.agents.tiny_model import build_tiny_model
from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.tasks.schema import Task, TaskSet
from drgym.tasks.splits import select_split
from drgym.train.chat import ChatFormat
from drgym.train.episodes import EpisodeLabel
from drgym.train.reference.ppo import PPOConfig, run_episodes, train_ppo
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
SYSTEM_PROMPT = ('Answer from the offline web; trust tier-1 sources. Search with <tool_call>{{"name": '
                 '"batch_web_surfer", "arguments": {{"queries": ["..."], "top_k": 3}}}}</tool_call>. {finish}')
"""A short system prompt: a small model's context is spent on the question and the results, not on instructions."""
FINAL_NORM = r"^model\.norm\."
"""PPO trains the actor's final RMSNorm weight only (128 numbers: a per-dimension scale of the logits). With all
parameters trainable, a few hundred episodes on 181 train tasks fit those tasks and held-out reward falls
(measured, README); the scale is what carries over: the SFT policy sampled at T = 1 scores far below its greedy
self on held-out tasks (0.119 vs 0.300 measured), and PPO learns how sharp to be from the reward."""
ENV_KWARGS = {"tools": ["batch_web_surfer"], "budget": {"max_turns": 4}, "system_prompt": SYSTEM_PROMPT}


def lookup_tasks(tasks: Iterable[Task]) -> TaskSet:
    """The tasks whose answer is a name or a year (not a figure to copy digit by digit)."""
    return TaskSet([t for t in tasks if not _FIGURE.fullmatch(t.answers[0]) or _YEAR.fullmatch(t.answers[0])],
                   name="lookup")


_FIGURE = re.compile(r"[-+]?[\d.,]+")
_YEAR = re.compile(r"(1[5-9]|20)\d\d")


def scripted_policy() -> ScriptedResearcher:
    return ScriptedResearcher(top_k=3)


def evaluate(model_path: str | Path, labels: list[EpisodeLabel], *, temperature: float, seed: int,
             max_new_tokens: int, max_length: int) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path).eval()
    return evaluate_model(model, tokenizer, labels, temperature=temperature, seed=seed,
                          max_new_tokens=max_new_tokens, max_length=max_length)


def evaluate_model(model: Any, tokenizer: Any, labels: list[EpisodeLabel], *, temperature: float, seed: int,
                   max_new_tokens: int, max_length: int) -> float:
    chat = ChatFormat(tokenizer)
    generator = torch.Generator().manual_seed(seed)
    rewards = [episode.reward for episode in run_episodes(model, tokenizer, chat, labels, max_new_tokens=max_new_tokens,
                                                          max_length=max_length, temperature=temperature,
                                                          generator=generator, allow_heldout=True)]
    return sum(rewards) / len(rewards)


def _pretraining_texts(out: Path, quick: bool) -> list[str]:
    """Compact transcripts (question, search, results, answer) of the scripted researcher's correct episodes
    in other worlds: they teach a small model to copy names from a question into a search and figures from
    results into an answer, which a few hundred in-domain SFT episodes cannot teach it."""
    from drgym.agents.trajectories import read_trajectories

    texts = []
    for spec in PRETRAIN_WORLDS[:1] if quick else PRETRAIN_WORLDS:
        spec = dataclasses.replace(spec, pages=200, n_deep_search=30) if quick else spec
        path = out / f"pretrain-world-{spec.seed}"
        world = ProceduralWorld(path) if (path / "world.json").is_file() else ProceduralWorld.build(path, spec)
        trajectories = out / f"pretrain-world-{spec.seed}.jsonl"
        env_kwargs = {"tasks": str(path), **ENV_KWARGS}
        rollout("drgym/DeepSearch-v0", scripted_policy, n_episodes=len(world.tasks), out=trajectories,
                env_kwargs=env_kwargs, policy_name="scripted", show_progress=False)
        # this run's episodes only: a folder copied from elsewhere holds the other path's run too (its episode ids
        # differ), which would count every transcript twice
        run = {episode_id("drgym/DeepSearch-v0", env_kwargs, 0, i) for i in range(len(world.tasks))}
        for record in read_trajectories(trajectories):
            if record["episode_id"] in run and record.get("reward") == 1.0 and len(record["steps"]) >= 2:
                first = record["steps"][0]
                results = first["observation"].split("\n\nBudget")[0]
                texts.append(f"Q: {record['messages'][1]['content']}\n{first['action']}\n{results}\n"
                             f"{record['steps'][-1]['action']}")
    return texts


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/learning")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sft-epochs", type=int, default=10)
    parser.add_argument("--pretrain-steps", type=int, default=900)
    parser.add_argument("--actor-lr", type=float, default=5e-2)
    parser.add_argument("--actor-trainable", default=FINAL_NORM,
                        help="regex of the actor parameters PPO trains (default: the final norm); 'all' trains all")
    parser.add_argument("--ppo-iterations", type=int, default=15)
    parser.add_argument("--episodes-per-iteration", type=int, default=16)
    parser.add_argument("--eval-tasks", type=int, default=40)
    parser.add_argument("--samples", type=int, default=4, help="sampled episodes per held-out task (T = 1)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--mix", default=None, help="an SFT JSONL to train on instead of scripted trajectories")
    parser.add_argument("--capability-mix", action="store_true",
                        help="SFT on the atomic-capability mix of drgym synth (seeking + reflection) instead")
    parser.add_argument("--quick", action="store_true", help="tiny settings: checks the pipeline in about a minute")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.sft_epochs, args.ppo_iterations, args.episodes_per_iteration = 1, 1, 2, 4
        args.pretrain_steps = 5
        args.eval_tasks, args.hidden, args.layers, args.vocab, args.samples = 6, 32, 2, 512, 1
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(args.out)
    started = time.perf_counter()
    world_path = out / "world"
    spec = dataclasses.replace(WORLD, pages=150) if args.quick else WORLD
    world = ProceduralWorld(world_path) if (world_path / "world.json").is_file() else \
        ProceduralWorld.build(world_path, spec)
    suite = lookup_tasks(world.tasks)
    suite_file = suite.save(out / "suite.jsonl")
    train_tasks = select_split(suite, "train")
    heldout = list(select_split(suite, "heldout"))[:args.eval_tasks]
    print(f"world: {len(world.corpus)} pages, {len(world.tasks)} one-hop tasks, {len(suite)} with a name or year "
          f"answer: {len(train_tasks)} train, {len(heldout)} held-out")

    def label(task_id: str, seed: int = 0) -> EpisodeLabel:
        return EpisodeLabel(task_id=task_id, tasks=str(suite_file), web=str(world_path), env_id="drgym/DeepSearch-v0",
                            seed=seed, env_kwargs=ENV_KWARGS)

    sft_file = Path(args.mix) if args.mix else out / ("sft_capability_mix.jsonl" if args.capability_mix else "sft.jsonl")
    if args.capability_mix:
        from drgym.train.synth import mix_rows, synthesize

        stats = synthesize(["seeking", "reflection"], str(world_path), out / "synth", n=len(train_tasks),
                           env_kwargs={**ENV_KWARGS, "budget": {"max_turns": 6}}, difficulty_filter=False)
        for row in stats.table():
            print("  ".join(row))
        counts = mix_rows([out / "synth" / "seeking.jsonl", out / "synth" / "reflection.jsonl"],
                          {"seeking": 0.7, "reflection": 0.3}, sft_file)
        print(f"capability mix: {dict(counts)}")
    elif not args.mix:
        train_file = out / "train_tasks.jsonl"
        train_tasks.save(train_file)
        trajectories = out / "scripted.jsonl"
        rollout("drgym/DeepSearch-v0", scripted_policy, n_episodes=len(train_tasks), out=trajectories,
                env_kwargs={"tasks": str(train_file), "web": str(world_path), **ENV_KWARGS}, policy_name="scripted")
        summary = build_sft_dataset([trajectories], sft_file, SFTFilters())
        print(summary.table())
    rows = [json.loads(line) for line in sft_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    heldout_labels = [label(t.id, seed=i) for i, t in enumerate(heldout)]
    train_labels = [label(t.id).__dict__ for t in train_tasks]
    lengths = {"max_new_tokens": 96, "max_length": 1536}
    results: dict[str, Any] = {"world": spec.__dict__, "env_kwargs": ENV_KWARGS, "sft_rows": len(rows),
                               "suite_tasks": len(suite), "samples_per_task": args.samples,
                               "sft_epochs": args.sft_epochs, "pretrain_steps": args.pretrain_steps,
                               "ppo": {"iterations": args.ppo_iterations, "episodes": args.episodes_per_iteration,
                                       "actor_lr": args.actor_lr, "actor_trainable": args.actor_trainable},
                               "sft_data": "capability mix" if args.capability_mix else args.mix or "scripted",
                               "train_tasks": len(train_tasks), "heldout_tasks": len(heldout), "seeds": [],
                               "model": {"hidden": args.hidden, "layers": args.layers, "vocab": args.vocab}}
    # one model, pretrained for copying on other worlds' text and fine-tuned once; the seeds vary PPO and the
    # evaluation's sampling. The tokenizer learns from the other worlds too: trained on the evaluation world, it
    # gives each of that world's names a token of its own, which the model has hardly seen and cannot copy
    # (measured once: held-out reward after SFT 0.025 sampled / 0.050 greedy); trained elsewhere, names split into common pieces.
    texts = _pretraining_texts(out, args.quick)
    protocol = [m["content"] for m in rows[0]["messages"] if m["role"] == "system"]
    init = build_tiny_model(out / "init", seed=0, vocab_size=args.vocab, corpus=texts + protocol,
                            hidden_size=args.hidden, layers=args.layers, heads=4, max_positions=2048)
    pretrained = pretrain_copy(PretrainConfig(model=str(init), texts=texts,
                                              out=str(out / "pretrained"), steps=args.pretrain_steps, seq_len=384,
                                              repeat=False))
    sft = train_sft(SFTConfig(model=str(pretrained), data=str(sft_file), out=str(out / "sft"), epochs=args.sft_epochs,
                              lr=1e-3, batch_tokens=4096, max_len=lengths["max_length"], seed=0))
    curves = []
    for seed in range(args.seeds):
        scores: dict[str, dict[str, float]] = {}

        def sampled(path: Path, seed: int = seed) -> float:
            return evaluate(path, heldout_labels * args.samples, temperature=1.0, seed=seed, **lengths)

        def greedy(path: Path) -> float:
            return evaluate(path, heldout_labels, temperature=0.0, seed=0, **lengths)

        if seed == 0:  # a random model scores 0 whatever the seed, and greedy decoding uses no seed: evaluated once
            random_init = {"sampled": sampled(init), "greedy": greedy(init)}
            sft_greedy = greedy(sft)
        scores["random_init"] = random_init
        scores["sft"] = {"sampled": sampled(sft), "greedy": sft_greedy}
        ppo = train_ppo(PPOConfig(model=str(sft), labels=train_labels, out=str(out / f"ppo-seed{seed}"),
                                  iterations=args.ppo_iterations, episodes_per_iteration=args.episodes_per_iteration,
                                  minibatch_episodes=8, micro_batch_episodes=2, actor_lr=args.actor_lr,
                                  actor_trainable=None if args.actor_trainable == "all" else args.actor_trainable,
                                  critic_lr=5e-4, kl_coef=0.01,
                                  seed=seed, **lengths))
        scores["ppo"] = {"sampled": sampled(ppo), "greedy": greedy(ppo)}
        curve = [float(line.split(",")[1]) for line in (ppo / "ppo_metrics.csv").read_text().splitlines()[1:]]
        curves.append(curve)
        results["seeds"].append({"seed": seed, **scores, "ppo_train_reward": curve})
        print(f"seed {seed}: " + ", ".join(f"{k} {v['sampled']:.3f} (greedy {v['greedy']:.3f})"
                                           for k, v in scores.items()), flush=True)
    table = {stage: {mode: [s[stage][mode] for s in results["seeds"]] for mode in ("sampled", "greedy")}
             for stage in ("random_init", "sft", "ppo")}
    results["summary"] = {stage: {mode: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
                                  for mode, v in modes.items()} for stage, modes in table.items()}
    results["minutes"] = round((time.perf_counter() - started) / 60, 1)
    print(f"\nheld-out reward over {args.seeds} seed(s), {len(heldout)} tasks ({results['minutes']} min):")
    print(f"{'stage':<14}{'sampled (T=1)':>18}{'greedy':>18}")
    for stage, modes in table.items():
        print(f"{stage:<14}{_spread(modes['sampled']):>18}{_spread(modes['greedy']):>18}")
    (out / "results.json").write_text(json.dumps(results, indent=2))
    _plot(curves, out / "reward_curve.png")
    print(f"wrote {out / 'results.json'} and {out / 'reward_curve.png'}")
    return results


def _plot(curves: list[list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for seed, curve in enumerate(curves):
        ax.plot(range(1, len(curve) + 1), curve, alpha=0.8, label=f"seed {seed}")
    ax.set_xlabel("PPO iteration")
    ax.set_ylabel("mean training reward")
    ax.set_title("drgym learning benchmark: PPO after SFT")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
