from __future__ import annotations

import gymnasium as gym
import pytest

import drgym  # noqa: F401
from drgym.agents import CallablePolicy, Policy, RandomPolicy, ScriptedResearcher


def _episode(env, policy, task_id):
    obs, info = env.reset(seed=0, options={"task_id": task_id})
    observations = []
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.act(info["messages"]))
        observations.append(obs)
        if terminated or truncated:
            return reward, observations, info


@pytest.mark.parametrize("env_id", ["drgym/DeepSearch-v1", "drgym/DeepResearch-v1"])
def test_scripted_researcher_solves_tiny_tasks_through_the_tools(tiny_world, env_id):
    env = gym.make(env_id, tasks=str(tiny_world.path))
    for task in env.unwrapped.tasks:
        reward, observations, info = _episode(env, ScriptedResearcher(), task.id)
        assert reward == 1.0, (task.id, info.get("verdicts"))
        assert not any(o.removeprefix("<tool_response>\n").startswith("error") for o in observations)
        assert info["usage"]["tool_calls"] >= 2
    env.close()


def test_random_policy_makes_valid_calls_and_answers(tiny_world):
    env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path))
    rewards = []
    for seed, task in enumerate(env.unwrapped.tasks):
        reward, observations, _ = _episode(env, RandomPolicy(seed=seed), task.id)
        assert not any(o.removeprefix("<tool_response>\n").startswith("error") for o in observations)
        rewards.append(reward)
    assert sum(rewards) < len(rewards)  # aimless: it does not solve them all
    env.close()


def test_callable_policy_and_protocol():
    policy = CallablePolicy(lambda messages: "<answer>42</answer>")
    assert isinstance(policy, Policy) and isinstance(ScriptedResearcher(), Policy)
    assert policy.act([{"role": "system", "content": ""}, {"role": "user", "content": "q"}]) == "<answer>42</answer>"


def test_scripted_researcher_survives_a_result_line_with_a_broken_date():
    """A truncated result can leave a result line whose date is not a date; the researcher must not crash."""
    question = "What is the year of birth of the person Ann Lee?"
    observation = ("## search: \"year of birth of Ann Lee\"\n"
                   "1. [tier 1] Archive record — https://people.archive.gov/a/1 (people.archive.gov, turns 3)\n"
                   "   ¶1: The year of birth of Ann Lee is 1945.\n[connection reset: the result was truncated]")
    messages = [{"role": "system", "content": "tools"}, {"role": "user", "content": question},
                {"role": "assistant", "content": "<tool_call>{}</tool_call>"}, {"role": "user", "content": observation}]
    researcher = ScriptedResearcher()
    researcher.act(messages[:2])
    assert researcher.act(messages) == "<answer>1945</answer>"
