"""What the environment and its tools need of a web, offline or live: one interface, so the env never asks which
web it holds. `SearchIndex` (and the sharded index) implement it over a corpus on disk, `LiveWeb` over a search
API and real pages."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from drgym.web.corpus import Page, PageImage
from drgym.web.index import SearchHit

__all__ = ["Web", "WebCorpus"]


@runtime_checkable
class WebCorpus(Protocol):
    """The pages of a web."""

    name: str

    def fetch(self, url: str) -> Page | None:
        """The page the agent asks for (None: no page there). Offline: looked up; live: downloaded (a failure
        raises `LiveWebError`, which the agent sees as a tool error)."""

    def get(self, url: str) -> Page | None:
        """A page already available (offline: any page; live: one fetched in this episode)."""

    def find_image(self, url: str) -> tuple[PageImage, str] | None: ...

    def image_bytes(self, url: str) -> bytes | None: ...


@runtime_checkable
class Web(Protocol):
    """Search plus pages, with episode boundaries (the live web records and replays one cassette per episode)."""

    corpus: Any
    """A `WebCorpus`."""

    def search(self, query: str, k: int = 10, **options: Any) -> list[SearchHit]: ...

    def start_episode(self, name: str) -> None:
        """An episode named `name` (task and seed) begins."""

    def finish_episode(self) -> None:
        """The current episode is over."""
