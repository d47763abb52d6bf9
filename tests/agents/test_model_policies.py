from __future__ import annotations

import json

import gymnasium as gym
import pytest

import drgym  # noqa: F401
from drgym.agents.hf_policy import HFPolicy
from drgym.agents.hf_server import HFChatServer
from drgym.agents.openai_policy import OpenAIChatPolicy
from drgym.agents.tiny_model import build_tiny_model
from drgym.envs import Budget
from drgym.errors import PolicyError

from ..rewards.chat_server import ChatServer


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


def _run(env, policy, task_id):
    obs, info = env.reset(seed=0, options={"task_id": task_id})
    steps = 0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.act(info["messages"]))
        steps += 1
        assert isinstance(obs, str) and obs
        if terminated or truncated:
            return steps, terminated, truncated, info


@pytest.mark.parametrize("tool_mode", ["text", "native"])
def test_openai_policy_drives_a_full_episode_against_a_served_tiny_model(tiny_world, tiny_model, tool_mode):
    env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path), budget=Budget(max_turns=3))
    with HFChatServer(str(tiny_model), model_name="tiny", max_new_tokens=24) as server:
        policy = OpenAIChatPolicy(server.url, "tiny", tool_mode=tool_mode, sampling={"max_tokens": 24})
        steps, terminated, truncated, info = _run(env, policy, "ds-0000")
    # the turn budget ends an episode the model does not end itself, at its third turn at the latest
    assert steps <= 3 and (terminated or (truncated and steps == 3 and info["truncated_by"].startswith("max_turns")))
    assert len(policy.usage) == steps and all(u["prompt_tokens"] > 100 for u in policy.usage)
    assert info["messages"][-2]["role"] == "assistant"
    env.close()


def test_native_tool_calls_come_back_as_a_message_the_env_runs(tiny_world):
    calls = [{"id": "c1", "type": "function", "function": {"name": "todo", "arguments": '{"action": "list"}'}}]

    def behaviour(body):
        assert [t["function"]["name"] for t in body["tools"]][:2] == ["batch_web_surfer", "todo"]
        assert "<tools>" not in body["messages"][0]["content"]  # each schema once: in `tools`, not the prompt
        if any(m["role"] == "tool" for m in body["messages"]):
            return 200, {"role": "assistant", "content": "Taquon", "reasoning_content": "the register says so"}
        return 200, {"role": "assistant", "content": None, "tool_calls": calls}

    env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path))
    with ChatServer(behaviour) as server:
        policy = OpenAIChatPolicy(server.url, "m", tool_mode="native")
        _, info = env.reset(seed=0)
        action = policy.act(info["messages"])
        assert action["tool_calls"] == calls
        obs, *_, info = env.step(action)
        assert obs.startswith("<tool_response>\n") and info["messages"][-1]["role"] == "tool"
        assert not info["messages"][-1]["content"].startswith("<tool_response>")  # the template wraps it once
        assert "Budget left" in info["messages"][-1]["content"]  # the budget reaches a native-mode model too
        assert info["messages"][-2]["content"] == ""  # None would break Qwen3's chat template
        final = policy.act(info["messages"])
        assert final == {"role": "assistant", "content": "Taquon", "reasoning_content": "the register says so"}
        *_, terminated, _, info = env.step(final)  # a plain reply is the final answer
        assert terminated and info["submission"] == "Taquon"
        assert info["messages"][-2]["reasoning_content"] == "the register says so"
    env.close()


def test_hf_policy_runs_the_tiny_model_in_process(tiny_world, tiny_model):
    env = gym.make("drgym/DeepResearch-v1", tasks=str(tiny_world.path), budget=Budget(max_turns=2))
    policy = HFPolicy(str(tiny_model), max_new_tokens=16)
    steps, terminated, truncated, info = _run(env, policy, "dr-0000")
    assert steps == len(policy.usage) and steps <= 2
    assert terminated or (truncated and steps == 2 and info["truncated_by"].startswith("max_turns"))
    assert all(u["completion_tokens"] <= 16 for u in policy.usage)
    env.close()


def test_unreachable_endpoint_names_the_url():
    policy = OpenAIChatPolicy("http://127.0.0.1:9/v1", "m", max_retries=0)
    with pytest.raises(PolicyError, match=r"http://127.0.0.1:9/v1 is unreachable"):
        policy.act([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}])
    assert json.dumps(policy.usage) == "[]"
