"""The environments in Gymnasium's vector envs with default arguments (shared memory for Unicode text)."""

from __future__ import annotations

import gymnasium as gym

import drgym  # noqa: F401 - registers the environments
from drgym.agents.scripted import ScriptedResearcher


def _play(envs, n_steps: int) -> list[tuple[str, ...]]:
    observations, info = envs.reset(seed=0)
    seen = [tuple(observations)]
    policies = [ScriptedResearcher(), ScriptedResearcher()]
    for _ in range(n_steps):
        actions = tuple(policy.act(list(info["messages"][i])) for i, policy in enumerate(policies))
        observations, rewards, terminated, truncated, info = envs.step(actions)
        seen.append(tuple(observations))
        assert len(rewards) == 2 and not truncated.any()
    return seen


def test_async_vector_env_with_default_arguments_steps_the_scripted_policy(tiny_world):
    tasks = str(tiny_world.path / "tasks.jsonl")
    envs = gym.make_vec("drgym/DeepSearch-v1", num_envs=2, vectorization_mode="async", tasks=tasks)
    try:
        seen = _play(envs, 3)
    finally:
        envs.close()
    reference = gym.make_vec("drgym/DeepSearch-v1", num_envs=2, vectorization_mode="sync", tasks=tasks)
    try:
        assert seen == _play(reference, 3)  # what shared memory carries is exactly what the envs returned
    finally:
        reference.close()
    assert all(isinstance(text, str) and text for step in seen for text in step)
    assert "=" in "".join(seen[0])  # the character Gymnasium's Text shared memory failed on


def test_async_vector_env_class_carries_any_unicode(tiny_world):
    def make():
        return gym.make("drgym/DeepResearch-v1", tasks=str(tiny_world.path / "tasks.jsonl"))

    envs = gym.vector.AsyncVectorEnv([make, make])
    try:
        observations, info = envs.reset(seed=1)
        note = "Ünïcode ✓ 数据 \U0001F600 \ud800"  # a lone surrogate too: whatever Python strings hold
        action = f'<tool_call>{{"name": "todo", "arguments": {{"action": "add", "item": "{note}"}}}}</tool_call>'
        observations, *_ = envs.step((action, action))
        assert all(note in text for text in observations)
        assert observations[0] == observations[1]
    finally:
        envs.close()
