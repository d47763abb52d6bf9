"""Episodes as Qwen3-style chat templates and vLLM's Hermes tool parser read them.

The template below is written from Qwen3's documented rules, not copied: a user message that starts with
``<tool_response>`` and ends with ``</tool_response>`` is a tool turn, not a new query; ``role: tool`` messages
are wrapped in ``<tool_response>`` by the template; reasoning (``<think>``) is kept only for assistant turns after
the last real query. OpenRLHF's multi-turn SFT masks assume each turn's render is a prefix of the whole.
The Hermes parser is written from vLLM's documented behaviour: ``<tool_call>{json}</tool_call>`` blocks, the last
possibly left open.
"""

from __future__ import annotations

import json
import re

import gymnasium as gym
import pytest
from transformers import AutoTokenizer

from drgym.agents.tiny_model import build_tiny_model
from drgym.core.protocol import parse_action

QWEN3_STYLE = """
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) -%}
{%- for message in messages[::-1] -%}
{%- set index = (messages|length - 1) - loop.index0 -%}
{%- if ns.multi_step_tool and message.role == "user" and not (message.content.startswith('<tool_response>')
      and message.content.endswith('</tool_response>')) -%}
{%- set ns.multi_step_tool = false -%}{%- set ns.last_query_index = index -%}
{%- endif -%}
{%- endfor -%}
{%- for message in messages -%}
{%- if message.role == "system" or message.role == "user" -%}
<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% elif message.role == "assistant" -%}
{%- set content = message.content or "" -%}
{%- set reasoning = "" -%}
{%- if "</think>" in content -%}
{%- set reasoning = content.split("</think>")[0].split("<think>")[-1].strip() -%}
{%- set content = content.split("</think>")[-1].lstrip() -%}
{%- endif -%}
<|im_start|>assistant
{% if loop.index0 > ns.last_query_index and reasoning -%}
<think>
{{ reasoning }}
</think>

{% endif -%}
{{ content }}
{%- for call in message.tool_calls or [] %}
<tool_call>
{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments }}}
</tool_call>
{%- endfor %}<|im_end|>
{% elif message.role == "tool" -%}
{%- if loop.first or messages[loop.index0 - 1].role != "tool" -%}<|im_start|>user{%- endif %}
<tool_response>
{{ message.content }}
</tool_response>
{%- if loop.last or messages[loop.index0 + 1].role != "tool" %}<|im_end|>
{% endif -%}
{%- endif -%}
{%- endfor -%}
"""

_HERMES = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)


def hermes_calls(text: str) -> list[dict]:
    """Tool calls as vLLM's Hermes parser extracts them: the JSON of each block, the last possibly open."""
    return [json.loads(closed or opened) for closed, opened in _HERMES.findall(text)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return AutoTokenizer.from_pretrained(build_tiny_model(tmp_path_factory.mktemp("model") / "tiny"))


def _render(tokenizer, messages) -> str:
    return tokenizer.apply_chat_template(messages, chat_template=QWEN3_STYLE, tokenize=False)


def _call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def _episode(tiny_world, actions):
    env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path))
    _, info = env.reset(seed=0)
    for action in actions:
        *_, info = env.step(action)
    env.close()
    return info["messages"]


def _is_prefix_everywhere(tokenizer, messages) -> bool:
    """Each conversation up to an assistant turn renders as a prefix of the whole (OpenRLHF's SFT masks)."""
    whole = _render(tokenizer, messages)
    ends = [i + 1 for i, m in enumerate(messages) if m["role"] == "assistant"]
    return all(whole.startswith(_render(tokenizer, messages[:end])) for end in ends)


TEXT_ACTIONS = [
    "<think>first the mayor</think>" + _call("batch_web_surfer", queries=["mayor of Haleisport"]),
    "<think>now the plan</think>" + _call("todo", action="add", item="read the register entry"),
    "<think>a broken call</think><tool_call>{not json}</tool_call>",
    "<think>done</think><answer>Ann Lee</answer>",
]


def test_observations_are_tool_turns_so_every_turn_keeps_its_reasoning(tiny_world, tokenizer):
    messages = _episode(tiny_world, TEXT_ACTIONS)
    observations = [m["content"] for m in messages[2:] if m["role"] == "user"]
    assert all(o.startswith("<tool_response>") and o.endswith("</tool_response>") for o in observations)
    whole = _render(tokenizer, messages)
    for thought in ("first the mayor", "now the plan", "a broken call", "done"):
        assert f"<think>\n{thought}\n</think>" in whole  # after the last real query: the question
    assert _is_prefix_everywhere(tokenizer, messages)


def test_the_old_observation_form_breaks_the_prefix_property(tiny_world, tokenizer):
    messages = _episode(tiny_world, TEXT_ACTIONS)
    old = [{**m, "content": m["content"].replace("<tool_response>", '<tool_response name="x">', 1)}
           if m["role"] == "user" and m["content"].startswith("<tool_response>") else m for m in messages]
    assert not _is_prefix_everywhere(tokenizer, old)  # what the test guards against: reasoning dropped mid-episode


def test_native_tool_turns_render_once_wrapped_with_the_budget(tiny_world, tokenizer):
    call = {"id": "c1", "type": "function", "function": {"name": "todo", "arguments": '{"action": "list"}'}}
    messages = _episode(tiny_world, [{"role": "assistant", "content": None, "tool_calls": [call]},
                                     {"role": "assistant", "content": "Ann Lee"}])
    tool = next(m for m in messages if m["role"] == "tool")
    assert tool["tool_call_id"] == "c1" and "Budget left" in tool["content"]
    whole = _render(tokenizer, messages)
    assert "<tool_response>\ntodo list" in whole and "<tool_response>\n<tool_response>" not in whole
    assert _is_prefix_everywhere(tokenizer, messages)


def test_actions_parse_the_same_under_the_hermes_rules():
    for action in [TEXT_ACTIONS[0], _call("todo", action="list") + _call("file", action="list"),
                   '<think>x</think><tool_call>{"name": "todo", "arguments": {"action": "list"}}']:
        ours = [{"name": c.name, "arguments": c.arguments} for c in parse_action(action).tool_calls]
        assert ours == hermes_calls(action)
