"""Any OpenAI-compatible chat endpoint (a vLLM server, a hosted API) as a policy.

``tool_mode="text"`` sends the episode as it is (the environment's system prompt carries the tools in Hermes
``<tools>`` form) and returns the raw text; ``"native"`` sends the tools as OpenAI ``tools`` instead (read from
that ``<tools>`` block, which is taken out of the system message so the model sees each schema once) and returns
the assistant message: its ``tool_calls``, its ``reasoning_content`` (vLLM's reasoning parser), and as content
"" rather than None; a reply without tool calls is the episode's final answer.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from drgym.agents.hf_policy import as_text_messages
from drgym.errors import PolicyError

__all__ = ["OpenAIChatPolicy"]

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
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
        self._client = httpx.Client(timeout=self.timeout_s)

    def act(self, messages: list[dict[str, Any]]) -> str | dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, **self.sampling}
        if self.tool_mode == "native":
            payload["tools"] = _tools_from_system(messages)
            payload["messages"] = _without_tools_block(messages)  # the server's template states them once
        else:
            payload["messages"] = as_text_messages(messages)
        message, usage = self._post(payload)
        if self.tool_mode == "native":  # a plain reply without tool calls is the final answer
            reply = {"role": "assistant", "content": message.get("content") or ""}
            if message.get("tool_calls"):
                reply["tool_calls"] = message["tool_calls"]
            if message.get("reasoning_content"):  # vLLM's reasoning parser: kept in the trajectory
                reply["reasoning_content"] = message["reasoning_content"]
            return reply
        return message.get("content") or ""

    def _post(self, payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        url = self.base_url.rstrip("/") + "/chat/completions"
        key = self.api_key or os.environ.get("OPENAI_API_KEY")
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
            started = time.perf_counter()
            try:
                response = self._client.post(url, json=payload, headers={"Authorization": f"Bearer {key}"} if key else {})
            except httpx.TimeoutException:
                problem = f"no answer within {self.timeout_s:g} s"
                continue
            except httpx.TransportError as e:
                raise PolicyError(f"the policy endpoint {self.base_url} is unreachable ({type(e).__name__}: {e}); "
                                  "is the server running?") from e
            if response.status_code in _RETRY_STATUS:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise PolicyError(f"the policy endpoint {self.base_url} answered HTTP {response.status_code}: "
                                  f"{response.text[:300]}")
            try:
                data = response.json()
                message = data["choices"][0]["message"]
            except (ValueError, KeyError, IndexError, TypeError):
                raise PolicyError(f"the policy endpoint {self.base_url} sent a reply that is not a chat "
                                  "completion") from None
            usage = data.get("usage") or {}
            prompt_tokens, completion_tokens = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
            self.usage.append({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                               "cost_usd": prompt_tokens / 1000 * self.usd_per_1k_input_tokens
                               + completion_tokens / 1000 * self.usd_per_1k_output_tokens,
                               "latency_s": round(time.perf_counter() - started, 4)})
            return message, usage
        raise PolicyError(f"the policy endpoint {self.base_url} failed {self.max_retries + 1} times: {problem}")

    def __getstate__(self) -> dict[str, Any]:  # the HTTP client is rebuilt in a worker process
        state = dict(self.__dict__)
        state.pop("_client", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client = httpx.Client(timeout=self.timeout_s)


def _without_tools_block(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The episode with the system message's ``# Tools <tools>…</tools>`` section removed."""
    return [{**m, "content": _TOOLS_SECTION.sub("", m.get("content") or "").rstrip()}
            if m.get("role") == "system" else m for m in messages]


def _tools_from_system(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
    block = _TOOLS_BLOCK.search(system)
    if block is None:
        raise PolicyError("native tool mode needs the environment's <tools> block in the system message")
    return [json.loads(line) for line in block.group(1).splitlines() if line.strip()]
