"""Gymnasium environments for deep-research agents; registered on `import drgym`."""

from gymnasium.envs.registration import register, registry

from drgym.envs.budget import Budget, PriceTable
from drgym.envs.noise import NoiseConfig
from drgym.envs.protocol import parse_action
from drgym.envs.research_env import DeepResearchEnv, DeepSearchEnv, ResearchEnv

__all__ = ["Budget", "DeepResearchEnv", "DeepSearchEnv", "NoiseConfig", "PriceTable", "ResearchEnv", "parse_action"]

for _env_id, _entry_point in (("drgym/DeepSearch-v0", "drgym.envs.research_env:DeepSearchEnv"),
                              ("drgym/DeepResearch-v0", "drgym.envs.research_env:DeepResearchEnv")):
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point)
