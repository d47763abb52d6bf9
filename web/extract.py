"""HTML to clean text paragraphs with trafilatura: boilerplate, navigation and scripts removed."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlparse

import lxml.html
import trafilatura

__all__ = ["ExtractedPage", "extract_html"]

logger = logging.getLogger(__name__)
logging.getLogger("trafilatura").setLevel(logging.ERROR)  # it logs every page it finds too short

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ExtractedPage:
    title: str
    published: str
    paragraphs: tuple[str, ...]
    outlinks: tuple[str, ...]


def extract_html(html: str, *, url: str = "") -> ExtractedPage:
    """Main-text paragraphs, title, publication date and absolute outlinks of one HTML document.

    Args:
        html: the document.
        url: its address, used to resolve relative links.

    Returns:
        An `ExtractedPage`; `paragraphs` is empty when the page has no main text.
    """
    document = trafilatura.bare_extraction(html, url=url or None, with_metadata=True, include_tables=True,
                                           include_comments=False, favor_recall=True)
    text = (document.text if document is not None else "") or ""
    paragraphs = tuple(p for p in (_WHITESPACE.sub(" ", line).strip() for line in text.split("\n")) if p)
    title = ((document.title if document is not None else None) or "").strip()
    published = ((document.date if document is not None else None) or "").strip()
    try:
        tree = lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        tree = None
    if not title and tree is not None:
        title = _WHITESPACE.sub(" ", tree.findtext(".//title") or "").strip()
    return ExtractedPage(title=title, published=published[:10], paragraphs=paragraphs,
                         outlinks=_outlinks(tree, url) if tree is not None else ())


def _outlinks(tree: lxml.html.HtmlElement, base_url: str) -> tuple[str, ...]:
    links: dict[str, None] = {}
    for anchor in tree.iterfind(".//a[@href]"):
        href = anchor.get("href", "").strip()
        if not href or href.startswith(("javascript:", "mailto:", "#")):
            continue
        absolute = urldefrag(urljoin(base_url, href)).url
        if urlparse(absolute).scheme in ("http", "https", "local") and absolute != base_url:
            links[absolute] = None
    return tuple(links)
