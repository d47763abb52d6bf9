"""Any OpenAI-compatible chat endpoint (a vLLM server, a hosted API) as a policy.

``tool_mode="text"`` sends the episode as it is (the environment's system prompt carries the tools in Hermes
``<tools>`` form) and returns the raw text; ``"native"`` sends the tools as OpenAI ``tools`` instead (read from
that ``<tools>`` block, which is taken out of the system message so the model sees each schema once) and returns
the assistant message: its ``tool_calls``, its ``reasoning_content`` (vLLM's reasoning parser), and as content
"" rather than None; a reply without tool calls is the episode's final answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from drgym.agents.hf_policy import as_text_messages
from drgym.core.chat_client import ChatClient, ChatEndpoint
from drgym.envs.budget import PriceTable
from drgym.errors import EndpointError, PolicyError

__all__ = ["OpenAIChatPolicy", "tools_from_system", "without_tools_block"]

_TOOLS_BLOCK = re.compile(r"<tools>\n(.*?)\n</tools>", re.DOTALL)
_TOOLS_SECTION = re.compile(r"(?:# Tools\n)?<tools>\n.*?\n</tools>", re.DOTALL)


@dataclass
class OpenAIChatPolicy:
    """A policy behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        model: the served model's name.
        api_key: defaults to OPENAI_API_KEY.
        tool_mode: "text" or "native".
        sampling: extra request fields (temperature, max_tokens, top_p, stop, …).
        timeout_s: per request.
        max_retries: extra attempts after a timeout or a 429/5xx answer.
        usd_per_1k_input_tokens: price used for the recorded cost.
        usd_per_1k_output_tokens: price used for the recorded cost.
    """

    base_url: str
    model: str
    api_key: str | None = None
    tool_mode: Literal["text", "native"] = "text"
    sampling: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.0, "max_tokens": 1024})
    timeout_s: float = 120.0
    max_retries: int = 3
    usd_per_1k_input_tokens: float = 0.0
    usd_per_1k_output_tokens: float = 0.0
    usage: list[dict[str, float]] = field(default_factory=list)
    """One entry per call: prompt and completion tokens, cost, latency."""

    def __post_init__(self) -> None:
        if self.tool_mode not in ("text", "native"):
            raise PolicyError(f"tool_mode must be 'text' or 'native', got {self.tool_mode!r}")
        self._client = ChatClient(ChatEndpoint(self.base_url, api_key=self.api_key, timeout_s=self.timeout_s,
                                               max_retries=self.max_retries))

    def act(self, messages: list[dict[str, Any]]) -> str | dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, **self.sampling}
        if self.tool_mode == "native":
            payload["tools"] = tools_from_system(messages)
            payload["messages"] = without_tools_block(messages)  # the server's template states them once
        else:
            payload["messages"] = as_text_messages(messages)
        try:
            reply = self._client.complete(payload)
        except EndpointError as e:
            raise PolicyError(f"policy: {e}") from e
        prompt_tokens = int(reply.usage.get("prompt_tokens", 0))
        completion_tokens = int(reply.usage.get("completion_tokens", 0))
        prices = PriceTable(usd_per_1k_input_tokens=self.usd_per_1k_input_tokens,
                            usd_per_1k_output_tokens=self.usd_per_1k_output_tokens)
        self.usage.append({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                           "cost_usd": prices.token_cost(prompt_tokens, completion_tokens),
                           "latency_s": reply.latency_s})
        message = reply.message
        if self.tool_mode == "native":  # a plain reply without tool calls is the final answer
            answer = {"role": "assistant", "content": message.get("content") or ""}
            if message.get("tool_calls"):
                answer["tool_calls"] = message["tool_calls"]
            if message.get("reasoning_content"):  # vLLM's reasoning parser: kept in the trajectory
                answer["reasoning_content"] = message["reasoning_content"]
            return answer
        return reply.content


def without_tools_block(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The episode with the system message's ``# Tools <tools>…</tools>`` section removed."""
    return [{**m, "content": _TOOLS_SECTION.sub("", m.get("content") or "").rstrip()}
            if m.get("role") == "system" else m for m in messages]


def tools_from_system(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
    block = _TOOLS_BLOCK.search(system)
    if block is None:
        raise PolicyError("native tool mode needs the environment's <tools> block in the system message")
    return [json.loads(line) for line in block.group(1).splitlines() if line.strip()]
