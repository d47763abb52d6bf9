"""Live search back-ends behind one protocol: SearXNG (self-hosted JSON API), Brave Search and Tavily.

Each back-end maps a query to ``LiveResult(url, title, snippet, published)`` in the back-end's rank order:

=========  ==========================================================  ============================================
back-end   request                                                     response fields used
=========  ==========================================================  ============================================
searxng    ``GET {base_url}/search?q=…&format=json&pageno=1``          ``results[].url, title, content,
           (enable ``json`` in the instance's ``search.formats``)      publishedDate``
brave      ``GET {base_url}/res/v1/web/search?q=…&count=k``,           ``web.results[].url, title, description,
           header ``X-Subscription-Token: $BRAVE_API_KEY``             page_age``
tavily     ``POST {base_url}/search`` JSON ``{query, max_results}``,   ``results[].url, title, content,
           header ``Authorization: Bearer $TAVILY_API_KEY``            published_date``
=========  ==========================================================  ============================================

Requests time out, are retried with exponential backoff on timeouts, 429 and 5xx, and are spaced by a minimum
interval (rate limit). Failures raise `LiveWebError` with the cause spelled out (bad key, quota, unreachable).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from drgym.errors import ConfigError, LiveWebError

__all__ = ["BACKENDS", "BraveBackend", "LiveResult", "SearchBackend", "SearXNGBackend", "TavilyBackend",
           "make_backend"]


@dataclass(frozen=True)
class LiveResult:
    url: str
    title: str
    snippet: str
    published: str = ""


class SearchBackend:
    """Common HTTP behaviour: timeout, retries with backoff, rate limiting, and clear errors."""

    name = "base"
    default_url = ""
    key_env: str | None = None

    def __init__(self, base_url: str | None = None, *, api_key: str | None = None, timeout_s: float = 15.0,
                 max_retries: int = 2, backoff_s: float = 0.5, min_interval_s: float = 0.0) -> None:
        self.base_url = (base_url or self.default_url).rstrip("/")
        if not self.base_url:
            raise ConfigError(f"the {self.name} back-end needs base_url (your instance, e.g. http://127.0.0.1:8888)")
        self.api_key = api_key or (os.environ.get(self.key_env) if self.key_env else None)
        if self.key_env and not self.api_key:
            raise ConfigError(f"the {self.name} back-end needs an API key: set ${self.key_env} or pass api_key")
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self.min_interval_s = min_interval_s
        self._last = 0.0
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=timeout_s, headers={"User-Agent": "drgym/0.1 (research agent)"})

    def search(self, query: str, k: int) -> list[LiveResult]:
        return self.parse(self._request(query, k), k)

    # -- overridden per back-end ----------------------------------------------------------------------

    def build(self, query: str, k: int) -> httpx.Request:
        raise NotImplementedError

    def parse(self, payload: Any, k: int) -> list[LiveResult]:
        raise NotImplementedError

    # -- HTTP -------------------------------------------------------------------------------------------

    def _wait_turn(self) -> None:
        with self._lock:
            wait = self._last + self.min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()

    def _request(self, query: str, k: int) -> Any:
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            self._wait_turn()
            try:
                response = self._client.send(self.build(query, k))
            except httpx.TimeoutException:
                problem = f"timed out after {self.timeout_s:g} s"
                continue
            except httpx.TransportError as e:
                raise LiveWebError(f"search back-end {self.name} at {self.base_url} is unreachable "
                                   f"({type(e).__name__})") from None
            status = response.status_code
            if status in (401, 403):
                raise LiveWebError(f"search back-end {self.name} refused the API key (HTTP {status}); check "
                                   f"${self.key_env or 'the key'}")
            if status == 429:
                problem = "quota or rate limit exceeded (HTTP 429)"
                continue
            if status >= 500:
                problem = f"server error (HTTP {status})"
                continue
            if status != 200:
                raise LiveWebError(f"search back-end {self.name} answered HTTP {status}: {response.text[:200]}")
            try:
                return response.json()
            except ValueError:
                raise LiveWebError(f"search back-end {self.name} did not answer JSON (is the json format "
                                   "enabled?)") from None
        raise LiveWebError(f"search back-end {self.name}: {problem} after {self.max_retries + 1} attempts")


class SearXNGBackend(SearchBackend):
    name = "searxng"

    def build(self, query: str, k: int) -> httpx.Request:
        return self._client.build_request("GET", f"{self.base_url}/search",
                                          params={"q": query, "format": "json", "pageno": 1})

    def parse(self, payload: Any, k: int) -> list[LiveResult]:
        return [LiveResult(str(r.get("url", "")), str(r.get("title", "")), str(r.get("content", "")),
                           str(r.get("publishedDate") or "")[:10]) for r in (payload.get("results") or [])[:k]
                if r.get("url")]


class BraveBackend(SearchBackend):
    name = "brave"
    default_url = "https://api.search.brave.com"
    key_env = "BRAVE_API_KEY"

    def build(self, query: str, k: int) -> httpx.Request:
        return self._client.build_request("GET", f"{self.base_url}/res/v1/web/search",
                                          params={"q": query, "count": min(k, 20)},
                                          headers={"X-Subscription-Token": self.api_key, "Accept": "application/json"})

    def parse(self, payload: Any, k: int) -> list[LiveResult]:
        results = ((payload.get("web") or {}).get("results") or [])[:k]
        return [LiveResult(str(r.get("url", "")), str(r.get("title", "")), str(r.get("description", "")),
                           str(r.get("page_age") or "")[:10]) for r in results if r.get("url")]


class TavilyBackend(SearchBackend):
    name = "tavily"
    default_url = "https://api.tavily.com"
    key_env = "TAVILY_API_KEY"

    def build(self, query: str, k: int) -> httpx.Request:
        return self._client.build_request("POST", f"{self.base_url}/search",
                                          json={"query": query, "max_results": k, "search_depth": "basic"},
                                          headers={"Authorization": f"Bearer {self.api_key}"})

    def parse(self, payload: Any, k: int) -> list[LiveResult]:
        return [LiveResult(str(r.get("url", "")), str(r.get("title", "")), str(r.get("content", "")),
                           str(r.get("published_date") or "")[:10]) for r in (payload.get("results") or [])[:k]
                if r.get("url")]


BACKENDS: dict[str, type[SearchBackend]] = {"searxng": SearXNGBackend, "brave": BraveBackend,
                                             "tavily": TavilyBackend}


def make_backend(name: str, **kwargs: Any) -> SearchBackend:
    if name not in BACKENDS:
        raise ConfigError(f"unknown search back-end {name!r}; choose from {', '.join(BACKENDS)}")
    return BACKENDS[name](**kwargs)
