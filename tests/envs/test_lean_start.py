from __future__ import annotations

import json
import subprocess
import sys

HEAVY_MODULES = ["pandas", "torch", "transformers", "datasets", "httpx", "PIL", "imagehash", "lxml", "trafilatura",
                 "justext", "matplotlib", "scipy", "sklearn", "ray", "onnxruntime", "tokenizers"]

PLAY = """
import json, sys
import gymnasium as gym
import drgym
from drgym.agents import ScriptedResearcher

for env_id in ("drgym/DeepSearch-v1", "drgym/DeepResearch-v1"):
    env = gym.make(env_id, tasks=sys.argv[1])
    policy, done = ScriptedResearcher(), False
    _, info = env.reset(seed=0)
    while not done:
        _, reward, terminated, truncated, info = env.step(policy.act(info["messages"]))
        done = terminated or truncated
    env.close()
print(json.dumps([name for name in json.loads(sys.argv[2]) if name in sys.modules]))
"""


def test_offline_episodes_load_no_heavy_optional_module(tiny_world):
    """Every worker process pays for what an env imports: ingest, the live web, image analysis, dataframes and
    models are loaded on first use only."""
    done = subprocess.run([sys.executable, "-c", PLAY, str(tiny_world.path), json.dumps(HEAVY_MODULES)],
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
