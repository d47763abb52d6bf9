"""Gymnasium environments for deep-research agents (registered by `import drgym`)."""

from drgym.core.protocol import parse_action
from drgym.envs import shared_memory  # noqa: F401 - UnicodeText in AsyncVectorEnv's shared memory
from drgym.envs.budget import Budget, PriceTable
from drgym.envs.noise import NoiseConfig
from drgym.envs.research_env import DeepResearchEnv, DeepSearchEnv, ResearchEnv

__all__ = ["Budget", "DeepResearchEnv", "DeepSearchEnv", "NoiseConfig", "PriceTable", "ResearchEnv", "parse_action"]
