from __future__ import annotations

import copy
import json
import pickle

import gymnasium as gym
import pytest

import drgym  # noqa: F401 - registers the environments
from drgym.core.protocol import format_tool_call
from drgym.envs.history import MessageHistory


def test_info_messages_is_one_growing_history_not_a_copy_per_step(tiny_world):
    env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path))
    _, first = env.reset(seed=0)
    for _ in range(3):
        _, _, _, _, info = env.step(format_tool_call("todo", {"action": "list"}))
    assert info["messages"] is first["messages"] and len(first["messages"]) == 2 + 2 * 3
    _, after_reset = env.reset(seed=1)
    assert after_reset["messages"] is not first["messages"] and len(after_reset["messages"]) == 2
    env.close()


def test_a_policy_cannot_edit_the_history_in_place_but_can_copy_it():
    history = MessageHistory([{"role": "user", "content": "q"}])
    for edit in (lambda h: h.append({}), lambda h: h.extend([{}]), lambda h: h.pop(), lambda h: h.clear(),
                 lambda h: h.__setitem__(0, {}), lambda h: h.__delitem__(0), lambda h: h.__iadd__([{}])):
        with pytest.raises(TypeError, match=r"copy it with list\(messages\)"):
            edit(history)
    copied = list(history) + [{"role": "assistant", "content": "a"}]
    assert len(history) == 1 and len(copied) == 2


def test_the_history_serialises_as_a_plain_list():
    history = MessageHistory([{"role": "user", "content": "q"}])
    history.record({"role": "assistant", "content": "a"})
    for clone in (pickle.loads(pickle.dumps(history)), copy.deepcopy(history), copy.copy(history)):
        assert type(clone) is list and clone == history
    assert json.loads(json.dumps(history)) == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
