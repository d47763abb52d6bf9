"""The live web as a drop-in for an offline `SearchIndex`: search through a back-end, read pages by fetching
them, rank results with the same authority-aware formula, and record or replay every interaction.

Modes: ``live`` (network, nothing kept), ``record`` (network, every search and fetch written to the episode's
cassette), ``replay`` (the cassette only: no network; a request that is not in it is an error the agent sees).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from drgym.errors import ConfigError, LiveWebError
from drgym.web.authority import AuthorityTable
from drgym.web.corpus import Page
from drgym.web.index import RankingConfig, SearchHit
from drgym.web.live.backends import make_backend
from drgym.web.live.cassette import Cassette
from drgym.web.live.fetch import Fetcher, robots_allows, to_page

__all__ = ["LiveConfig", "LiveCorpus", "LiveWeb"]

MODES = ("live", "record", "replay")


@dataclass
class LiveConfig:
    """How an environment reaches the live web (``gym.make(..., web="live", live=LiveConfig(...) or a dict)``)."""

    backend: str = "searxng"
    """searxng, brave or tavily."""
    base_url: str | None = None
    """The back-end's address (required for SearXNG; the hosted APIs have defaults)."""
    api_key: str | None = None
    """Default: $BRAVE_API_KEY / $TAVILY_API_KEY."""
    mode: str = "live"
    cassette_dir: str | None = None
    """Where record writes and replay reads one cassette per episode (required for both)."""
    respect_robots: bool = True
    timeout_s: float = 15.0
    max_retries: int = 2
    min_interval_s: float = 0.0
    max_page_bytes: int = 3_000_000
    max_redirects: int = 5
    authority: str | None = None
    """An extra authority TSV on top of the shipped table."""
    ranking: RankingConfig = field(default_factory=RankingConfig)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"live mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode != "live" and not self.cassette_dir:
            raise ConfigError(f"live mode {self.mode!r} needs cassette_dir")
        if isinstance(self.ranking, dict):
            self.ranking = RankingConfig(**self.ranking)


class LiveCorpus:
    """Pages of the live web: `fetch` reads one (through the cassette), `get` returns one already read."""

    def __init__(self, web: LiveWeb) -> None:
        self._web = web
        self._pages: dict[str, Page] = {}
        self.name = "live web"

    def fetch(self, url: str) -> Page:
        if url not in self._pages:
            self._pages[url] = self._web.read(url)
        return self._pages[url]

    def get(self, url: str) -> Page | None:
        return self._pages.get(url)

    def clear(self) -> None:
        self._pages.clear()

    def find_image(self, url: str) -> None:
        """Images of live pages are not fetched (analyze_image reports the url as unknown)."""
        return None

    def image_bytes(self, url: str) -> None:
        return None


class LiveWeb:
    """Search and pages of the live web, with authority tiers and record/replay."""

    def __init__(self, config: LiveConfig | dict | None = None) -> None:
        self.config = config if isinstance(config, LiveConfig) else LiveConfig(**(config or {}))
        c = self.config
        self.authority = AuthorityTable.load(c.authority)
        self._backend = None  # built on first use: replay needs neither keys nor network
        self._fetcher = None
        self.corpus = LiveCorpus(self)
        self._cassette: Cassette | None = None
        self._robots: dict[str, dict] = {}

    # -- episodes ------------------------------------------------------------------------------------------

    def start_episode(self, name: str) -> None:
        """Opens the cassette of episode `name` (record / replay) and forgets the last episode's pages."""
        self.finish_episode()
        self.corpus.clear()
        self._robots.clear()
        if self.config.mode != "live":
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
            self._cassette = Cassette(Path(self.config.cassette_dir) / f"{safe}.jsonl", self.config.mode)

    def finish_episode(self) -> None:
        if self._cassette is not None:
            self._cassette.close()
            self._cassette = None

    # -- the SearchIndex interface the tools use ------------------------------------------------------------

    def search(self, query: str, k: int = 10, **_: Any) -> list[SearchHit]:
        results = self._interact("search", {"backend": self.config.backend, "query": query, "k": k},
                                 lambda: [r.__dict__ for r in self._get_backend().search(query, k)])
        ranking = self.config.ranking
        hits = []
        for rank, result in enumerate(results):
            domain = urlparse(result["url"]).hostname or ""
            tier = self.authority.tier(domain)
            relevance = 1.0 - rank / max(1, len(results))  # the back-end's order, best = 1
            score = relevance + ranking.authority_weight * ranking.tier_prior[tier - 1]
            hits.append(SearchHit(url=result["url"], title=result["title"] or domain, domain=domain, tier=tier,
                                  published=result["published"], paragraph_index=0,
                                  text=" ".join(result["snippet"].split()), score=score, relevance=relevance))
        return sorted(hits, key=lambda h: -h.score)

    def read(self, url: str) -> Page:
        if self.config.respect_robots:
            host = urlparse(url).netloc
            if host not in self._robots:
                self._robots[host] = self._interact("robots", {"host": host},
                                                    lambda: self._get_fetcher().robots(url))
            if not robots_allows(self._robots[host], url):
                raise LiveWebError(f"robots.txt of {host} does not allow fetching {url}")
        response = self._interact("fetch", {"url": url}, lambda: self._get_fetcher().fetch(url))
        return to_page(response, self.authority)

    # -- internals ---------------------------------------------------------------------------------------------

    def _interact(self, kind: str, request: dict[str, Any], perform: Callable[[], Any]) -> Any:
        mode = self.config.mode
        if mode == "replay":
            if self._cassette is None:
                raise LiveWebError("replay: no episode started (the environment opens one cassette per episode)")
            entry = self._cassette.take(kind, request)
            if entry["error"]:
                raise LiveWebError(entry["error"])
            return entry["response"]
        started = time.perf_counter()
        response, error = None, None
        try:
            response = perform()
        except LiveWebError as e:
            error = str(e)
        if mode == "record" and self._cassette is not None:
            self._cassette.append(kind, request, response, error, time.perf_counter() - started)
        if error is not None:
            raise LiveWebError(error)
        return response

    def _get_backend(self):
        if self._backend is None:
            c = self.config
            self._backend = make_backend(c.backend, base_url=c.base_url, api_key=c.api_key, timeout_s=c.timeout_s,
                                         max_retries=c.max_retries, min_interval_s=c.min_interval_s)
        return self._backend

    def _get_fetcher(self) -> Fetcher:
        if self._fetcher is None:
            c = self.config
            self._fetcher = Fetcher(max_bytes=c.max_page_bytes, timeout_s=c.timeout_s, max_redirects=c.max_redirects)
        return self._fetcher
