"""drgym episodes through SkyRL-gym, the way SkyRL's generator plays them, with drgym's scripted researcher as the
policy (CPU, no model). In a real SkyRL run the same dataset and env class train a model:

    drgym export skyrl --suite procedural:easy --out ~/data/drgym/train.parquet
    # in the SkyRL entry point (inside Ray): from drgym.train.skyrl import register_skyrl_env; register_skyrl_env()
    # then: data.train_data="['~/data/drgym/train.parquet']" generator.max_turns=24 \
    #       generator.use_conversation_multi_turn=true

Run: python examples/skyrl_drgym.py [--suite procedural:tiny] [--out /tmp/drgym-skyrl.parquet]
"""

from __future__ import annotations

import argparse

import datasets
import skyrl_gym

from drgym.agents.scripted import ScriptedResearcher
from drgym.train.peer_data import export_peer_dataset
from drgym.train.skyrl import register_skyrl_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="procedural:tiny")
    parser.add_argument("--out", default="/tmp/drgym-skyrl.parquet")
    parser.add_argument("--max-turns", type=int, default=24, help="SkyRL's generator.max_turns")
    args = parser.parse_args()

    rows = export_peer_dataset("skyrl", args.suite, args.out, env_kwargs={"budget": {"max_turns": 20}})
    print(f"wrote {rows} SkyRL rows to {args.out}")
    env_class = register_skyrl_env()
    dataset = datasets.load_dataset("parquet", data_files=args.out, split="train")
    for row in dataset:
        # SkyRL's PromptDataset: every column but prompt and env_class goes to the env; the generator adds max_turns
        extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")} | {"max_turns": args.max_turns}
        env = skyrl_gym.make(env_class, env_config={}, extras=extras)
        chat, _ = env.init(row["prompt"])
        policy, done, reward = ScriptedResearcher(), False, 0.0
        while not done:
            action = policy.act(chat)
            step = env.step(action)
            chat += [{"role": "assistant", "content": action}, *step["observations"]]
            done, reward = step["done"], step["reward"]
        metrics = env.get_metrics()
        env.close()
        print(f"{row['extra_info']['task_id']:>8}  reward {reward:.2f}  turns {metrics['turns']:.0f}  "
              f"tool calls {metrics['budget_tool_calls']:.0f}")


if __name__ == "__main__":
    main()
