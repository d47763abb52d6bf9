"""The live web: search back-ends (SearXNG, Brave, Tavily), page fetching, authority tiers, record/replay."""

from drgym.web.live.backends import BACKENDS, LiveResult, make_backend
from drgym.web.live.cassette import Cassette
from drgym.web.live.fetch import Fetcher
from drgym.web.live.web import LiveConfig, LiveCorpus, LiveWeb

__all__ = ["BACKENDS", "Cassette", "Fetcher", "LiveConfig", "LiveCorpus", "LiveResult", "LiveWeb", "make_backend"]
