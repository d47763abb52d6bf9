"""batch_web_surfer: several searches and page reads in one call, at paragraph granularity."""

from __future__ import annotations

from drgym.core.clipping import preview
from drgym.envs.tools.base import EpisodeState, Tool, ToolError
from drgym.errors import LiveWebError
from drgym.web.index import SearchIndex

__all__ = ["BatchWebSurfer"]

MAX_QUERIES = 8
MAX_URLS = 5
MAX_QUERY_CHARS = 500
"""Longest query; a search query is a few words, and each is echoed in the result's heading."""
MAX_URL_CHARS = 2048
"""Longest url (what browsers and servers commonly accept)."""
MAX_FIND_CHARS = 200
PARAGRAPHS_PER_PAGE = 20
MAX_PARAGRAPH_CHARS = 1200
MAX_OUTLINKS_SHOWN = 15


class BatchWebSurfer(Tool):
    name = "batch_web_surfer"

    def __init__(self, index: SearchIndex, *, unsearchable: tuple[str, ...] = ()) -> None:  # or a LiveWeb
        self.index = index
        self.unsearchable = tuple(unsearchable)
        """Url fragments of pages search never returns: they are reached only by following links."""

    def run(self, state: EpisodeState, *, queries: list[str] | None = None, urls: list[str] | None = None,
            top_k: int = 5, find: str | None = None, page: int = 1) -> str:
        """Search the web and read pages, several at once. Results are paragraphs with their page's url, domain,
        authority tier (1 official, 2 reputable, 3 low-trust) and date. Example: {"queries": ["Kelvaport
        population"], "urls": ["https://census.statbureau.gov/entry/kelvaport-pla-00012"]}.

        Args:
            queries: search queries, each answered with its `top_k` best paragraphs (at most 8 queries of 500
                characters).
            urls: pages to read as numbered paragraphs (at most 5 urls).
            top_k: results per query, 1 to 10.
            find: when reading pages, show only paragraphs containing this text.
            page: which page of a long document to read (20 paragraphs a page).
        """
        queries, urls = queries or [], urls or []
        if not queries and not urls:
            raise ToolError('batch_web_surfer needs "queries" or "urls" (or both), e.g. {"queries": ["..."]}.')
        if len(queries) > MAX_QUERIES or len(urls) > MAX_URLS:
            raise ToolError(f"at most {MAX_QUERIES} queries and {MAX_URLS} urls per call; got {len(queries)} and "
                            f"{len(urls)}.")
        for query in queries:
            if len(query) > MAX_QUERY_CHARS:
                raise ToolError(f"a query has at most {MAX_QUERY_CHARS} characters, got {len(query):,} "
                                f"({preview(query, 40)}); search with a few keywords.")
        for url in urls:
            if len(url) > MAX_URL_CHARS:
                raise ToolError(f"a url has at most {MAX_URL_CHARS} characters, got {len(url):,} ({preview(url, 40)}); "
                                "use a url from search results or a page's links.")
        if find is not None and len(find) > MAX_FIND_CHARS:
            raise ToolError(f'"find" has at most {MAX_FIND_CHARS} characters, got {len(find):,} ({preview(find, 40)}).')
        if not 1 <= top_k <= 10:
            raise ToolError(f"top_k must be between 1 and 10, got {preview(top_k)}.")
        if page < 1:
            raise ToolError(f"page must be 1 or more, got {preview(page)}.")
        sections = [self._search(query, top_k, state) for query in queries]
        sections += [self._read(url, find, page, state) for url in urls]
        return "\n\n".join(sections)

    def _search(self, query: str, top_k: int, state: EpisodeState) -> str:
        try:
            hits = self.index.search(query, top_k + (20 if self.unsearchable else 0))
        except LiveWebError as e:  # one failed search does not sink the rest of the batch
            return f'## search: "{query}"\nerror: {e}'
        if self.unsearchable:
            hits = [h for h in hits if not any(part in h.url for part in self.unsearchable)][:top_k]

        if not hits:
            return f'## search: "{query}"\nno results.'
        lines = [f'## search: "{query}"']
        for rank, hit in enumerate(hits, start=1):
            state.seen_urls.add(hit.url)
            lines.append(f"{rank}. [tier {hit.tier}] {hit.title} — {hit.url} ({hit.domain}, {hit.published or 'undated'})")
            lines.append(f"   ¶{hit.paragraph_index}: {_clip(hit.text)}")
        return "\n".join(lines)

    def _read(self, url: str, find: str | None, page_number: int, state: EpisodeState) -> str:
        try:
            page = self.index.corpus.fetch(url)  # the live web downloads it, an offline corpus looks it up
        except LiveWebError as e:
            return f"## page: {url}\nerror: {e}"
        if page is None:
            return f"## page: {url}\nerror: no page at this url. Use a url from search results or a page's links."
        if url not in state.visited_urls:
            state.visited_urls.append(url)
        numbered = list(enumerate(page.paragraphs))
        if find:
            numbered = [(i, p) for i, p in numbered if find.lower() in p.lower()]
        n_pages = max(1, -(-len(numbered) // PARAGRAPHS_PER_PAGE))
        header = (f"## page: {page.title} — {url}\n[tier {page.tier}] {page.domain}, {page.published or 'undated'}; "
                  f"page {min(page_number, n_pages)} of {n_pages}" + (f", paragraphs containing {find!r}" if find else ""))
        if page_number > n_pages:
            return f"{header}\nerror: page {preview(page_number)} does not exist; this document has {n_pages}."
        chosen = numbered[(page_number - 1) * PARAGRAPHS_PER_PAGE: page_number * PARAGRAPHS_PER_PAGE]
        body = "\n".join(f"¶{i}: {_clip(p)}" for i, p in chosen) or "no paragraph matches."
        links = ""
        if page.images and not find:
            links += "\nimages: " + " ".join(f"{image.url} ({image.alt})" if image.alt else image.url
                                             for image in page.images)
        if page.outlinks and not find:
            shown = page.outlinks[:MAX_OUTLINKS_SHOWN]
            more = f" (+{len(page.outlinks) - len(shown)} more)" if len(page.outlinks) > len(shown) else ""
            links += "\nlinks: " + " ".join(shown) + more
        return f"{header}\n{body}{links}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_PARAGRAPH_CHARS else text[:MAX_PARAGRAPH_CHARS] + " …"
