"""One client for OpenAI-compatible ``/chat/completions`` endpoints (vLLM, hosted APIs), used by the endpoint
policy, the LLM judges and the vision back-end: one request shape, one retry policy, sync and async entry points.

Transient failures (a timeout, HTTP 408/409/429/5xx, a reply that is not a chat completion) are retried with
exponential backoff (one `tenacity` policy for both entry points), then raise `EndpointError` with ``transient=True``; an unreachable server or another HTTP
error raises at once. httpx and tenacity are imported on
first use, so an offline environment never loads them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from drgym.errors import EndpointError

__all__ = ["ChatClient", "ChatEndpoint", "ChatReply", "run_sync"]

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
"""HTTP answers worth another attempt: the server is busy, rate-limiting or restarting."""

T = TypeVar("T")


@dataclass(frozen=True)
class ChatEndpoint:
    """Where an OpenAI-compatible chat model is, and how patiently to call it."""

    base_url: str
    """e.g. ``http://127.0.0.1:8000/v1``."""
    api_key: str | None = None
    """None: the first of `api_key_env` that is set (no key: no Authorization header)."""
    api_key_env: tuple[str, ...] = ("OPENAI_API_KEY",)
    timeout_s: float = 120.0
    """Per request."""
    max_retries: int = 3
    """Extra attempts after a transient failure."""
    backoff_s: float = 0.5
    """First retry delay; doubles each time, at most 8 s."""

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def headers(self) -> dict[str, str]:
        key = self.api_key or next((os.environ[name] for name in self.api_key_env if os.environ.get(name)), None)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def delay_s(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1, 2, ...)."""
        return min(8.0, self.backoff_s * 2 ** (attempt - 1))


@dataclass(frozen=True)
class ChatReply:
    """One chat completion: the first choice's message, the usage block, and the request's latency."""

    message: dict[str, Any]
    usage: dict[str, Any] = field(default_factory=dict)
    latency_s: float = 0.0

    @property
    def content(self) -> str:
        return str(self.message.get("content") or "")


class ChatClient:
    """Calls one endpoint. `complete` blocks; `acomplete` is the coroutine (pass an ``httpx.AsyncClient`` to share
    its connection pool across concurrent calls). Picklable: the connection is rebuilt in a worker process."""

    def __init__(self, endpoint: ChatEndpoint) -> None:
        self.endpoint = endpoint
        self.requests = 0
        """HTTP requests sent (retries included)."""
        self._sync_client: Any = None

    def complete(self, payload: dict[str, Any], *, timeout_s: float | None = None) -> ChatReply:
        """POSTs `payload` (``model``, ``messages``, sampling fields) and returns the reply; `timeout_s` shortens
        the endpoint's timeout (an episode's time left). Raises `EndpointError`."""
        import httpx
        import tenacity

        if self._sync_client is None:
            self._sync_client = httpx.Client(timeout=self.endpoint.timeout_s)
        timeout = timeout_s or self.endpoint.timeout_s
        try:
            for attempt in tenacity.Retrying(**self._retry_policy()):
                with attempt, self._request(timeout) as started:
                    response = self._sync_client.post(self.endpoint.url, json=payload,
                                                      headers=self.endpoint.headers(), timeout=timeout)
                    return self._read(response, time.perf_counter() - started)
        except _Transient as e:
            raise self._gave_up(str(e)) from None
        raise AssertionError("unreachable: tenacity stops by raising")

    def async_session(self) -> Any:
        """An ``httpx.AsyncClient`` for this endpoint, to share across concurrent `acomplete` calls
        (``async with client.async_session() as session: await client.acomplete(payload, client=session)``)."""
        import httpx

        return httpx.AsyncClient(timeout=self.endpoint.timeout_s)

    async def acomplete(self, payload: dict[str, Any], *, client: Any = None) -> ChatReply:
        """`complete` as a coroutine; `client` is an ``httpx.AsyncClient`` to reuse (else one per call)."""
        import tenacity

        if client is None:
            async with self.async_session() as own:
                return await self.acomplete(payload, client=own)
        try:
            async for attempt in tenacity.AsyncRetrying(**self._retry_policy()):
                with attempt, self._request(self.endpoint.timeout_s) as started:
                    response = await client.post(self.endpoint.url, json=payload, headers=self.endpoint.headers())
                    return self._read(response, time.perf_counter() - started)
        except _Transient as e:
            raise self._gave_up(str(e)) from None
        raise AssertionError("unreachable: tenacity stops by raising")

    def _retry_policy(self) -> dict[str, Any]:
        """One retry policy for both entry points: transient failures only, exponential backoff capped at 8 s."""
        import tenacity

        return {"stop": tenacity.stop_after_attempt(self.endpoint.max_retries + 1),
                "wait": tenacity.wait_exponential(multiplier=self.endpoint.backoff_s, exp_base=2,
                                                  min=self.endpoint.backoff_s, max=8.0),
                "retry": tenacity.retry_if_exception_type(_Transient), "reraise": True}

    @contextlib.contextmanager
    def _request(self, timeout_s: float) -> Iterator[float]:
        """One HTTP request (yields its start time): counts it and sorts a transport failure into transient
        (a timeout: retried) or not (the server is unreachable)."""
        import httpx

        self.requests += 1
        try:
            yield time.perf_counter()
        except httpx.TimeoutException:
            raise _Transient(f"timed out after {timeout_s:g} s") from None
        except httpx.TransportError as e:
            raise self._unreachable(e) from e

    # -- one answer -------------------------------------------------------------------------------------------

    def _read(self, response: Any, latency_s: float) -> ChatReply:
        """The reply; raises `_Transient` for an answer worth another attempt, `EndpointError` for one that
        retrying cannot fix."""
        if response.status_code in RETRY_STATUS:
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise EndpointError(f"the endpoint {self.endpoint.base_url} answered HTTP {response.status_code}: "
                                f"{response.text[:300]}")
        try:
            data = response.json()
            message = data["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError
        except (ValueError, KeyError, IndexError, TypeError):  # a proxy's error page, a half-written reply
            raise _Transient("the reply is not a chat completion") from None
        return ChatReply(message, data.get("usage") or {}, round(latency_s, 4))

    def _unreachable(self, error: Exception) -> EndpointError:
        return EndpointError(f"the endpoint {self.endpoint.base_url} is unreachable ({type(error).__name__}: "
                             f"{error}); is the server running?")

    def _gave_up(self, problem: str) -> EndpointError:
        return EndpointError(f"the endpoint {self.endpoint.base_url} failed {self.endpoint.max_retries + 1} times: "
                             f"{problem}", transient=True)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sync_client": None}


class _Transient(Exception):
    """A failure worth another attempt (its message says what happened)."""


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs `coroutine` to completion from synchronous code, also where an event loop is already running in this
    thread (Jupyter, an async trainer): there it runs on a fresh loop in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
