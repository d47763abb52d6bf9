"""drgym for veRL: writes the parquet dataset and the agent-loop config a veRL run needs, and prints the run's
command (veRL runs on GPU machines; `pip install 'drgym[verl]'` there). The loop itself is
`drgym.train.verl_agent_loop.DrgymAgentLoop`: token-in-token-out turns through veRL's server manager, the drgym env
parsing each turn's text, observations in the model's chat template with response mask 0, and the env judge's score
as ``reward_score``.

Run: python examples/verl_drgym.py [--suite procedural:easy] [--out-dir ~/data/drgym-verl]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from drgym.train.peer_data import export_peer_dataset, write_verl_agent_loop_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="procedural:easy")
    parser.add_argument("--out-dir", default=str(Path.home() / "data" / "drgym-verl"))
    parser.add_argument("--model", default="Qwen/Qwen3-4B")
    args = parser.parse_args()

    out = Path(args.out_dir).expanduser()
    budget = {"budget": {"max_turns": 20, "max_tool_calls": 40}}
    train = export_peer_dataset("verl", args.suite, out / "train.parquet", env_kwargs=budget, show_progress=True)
    val = export_peer_dataset("verl", args.suite, out / "val.parquet", split="heldout", for_eval=True,
                              env_kwargs=budget, show_progress=True)
    config = write_verl_agent_loop_config(out / "agent_loop.yaml")
    print(f"wrote {train} training rows, {val} held-out rows and {config}")
    print(f"""
python3 -m verl.trainer.main_ppo \\
    algorithm.adv_estimator=grpo \\
    data.train_files={out / 'train.parquet'} data.val_files={out / 'val.parquet'} \\
    data.max_prompt_length=4096 data.max_response_length=28672 data.return_raw_chat=True \\
    actor_rollout_ref.model.path={args.model} \\
    actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.mode=async actor_rollout_ref.rollout.n=8 \\
    actor_rollout_ref.rollout.agent.agent_loop_config_path={config} \\
    actor_rollout_ref.rollout.agent.default_agent_loop=drgym_agent""")


if __name__ == "__main__":
    main()
