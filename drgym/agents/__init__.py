"""Policies: the protocol, a scripted researcher, a random policy and any callable."""

from drgym.agents.policy import CallablePolicy, Policy, RandomPolicy
from drgym.agents.scripted import ScriptedResearcher

__all__ = ["CallablePolicy", "Policy", "RandomPolicy", "ScriptedResearcher"]
