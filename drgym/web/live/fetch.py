"""Fetching live pages with httpx: size and time caps, bounded redirects (loops detected), content-type checks,
robots.txt (RFC 9309) honoured by default, and HTML → paragraphs with trafilatura, as offline ingest does.

`Fetcher.fetch` returns the raw response as a JSON-able dict (so a cassette can store it); `to_page` turns such a
dict into a `Page`, the same way in a live run and in a replay.
"""

from __future__ import annotations

import base64
import io
import time
import urllib.robotparser
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx

from drgym.errors import LiveWebError
from drgym.web.authority import AuthorityTable
from drgym.web.corpus import Page
from drgym.web.extract import extract_html

__all__ = ["Fetcher", "robots_allows", "to_page"]

USER_AGENT = "drgym/0.1 (research agent; +https://github.com/drgym/drgym)"
HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/plain", "text/markdown")
PDF_TYPES = ("application/pdf",)


class Fetcher:
    """GETs one url within limits; raises LiveWebError with the reason otherwise.

    Args:
        max_bytes: largest body read (a bigger page is refused, not truncated silently).
        timeout_s: for the whole fetch, redirects and body included.
        max_redirects: redirects followed; a loop is reported as one.
    """

    def __init__(self, *, max_bytes: int = 3_000_000, timeout_s: float = 20.0, max_redirects: int = 5) -> None:
        self.max_bytes, self.timeout_s, self.max_redirects = max_bytes, timeout_s, max_redirects
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), headers={"User-Agent": USER_AGENT},
                                    follow_redirects=False)

    def fetch(self, url: str) -> dict[str, Any]:
        if urlparse(url).scheme not in ("http", "https"):
            raise LiveWebError(f"cannot fetch {url!r}: only http and https urls")
        deadline = time.monotonic() + self.timeout_s
        seen = [url]
        current = url
        for _ in range(self.max_redirects + 1):
            try:
                with self._client.stream("GET", current) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        current = urljoin(current, location)
                        if current in seen:
                            raise LiveWebError(f"redirect loop fetching {url}: {' -> '.join(seen + [current])}")
                        seen.append(current)
                        continue
                    if response.status_code != 200:
                        raise LiveWebError(f"{url} answered HTTP {response.status_code}")
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > self.max_bytes:
                        raise LiveWebError(f"{url} is {declared:,} bytes, over the {self.max_bytes:,}-byte limit")
                    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    if content_type not in HTML_TYPES + TEXT_TYPES + PDF_TYPES:
                        raise LiveWebError(f"{url} is {content_type or 'of no declared type'}, not a readable page "
                                           "(HTML, text or PDF)")
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > self.max_bytes:
                            raise LiveWebError(f"{url} is over the {self.max_bytes:,}-byte limit")
                        if time.monotonic() > deadline:
                            raise LiveWebError(f"{url} took over {self.timeout_s:g} s")
                    charset = response.charset_encoding or "utf-8"
            except httpx.TimeoutException:
                raise LiveWebError(f"{url} timed out after {self.timeout_s:g} s") from None
            except httpx.TransportError as e:
                raise LiveWebError(f"{url} is unreachable ({type(e).__name__})") from None
            if content_type in PDF_TYPES:
                return {"url": url, "final_url": current, "content_type": content_type,
                        "body_b64": base64.b64encode(bytes(body)).decode("ascii")}
            return {"url": url, "final_url": current, "content_type": content_type,
                    "body": bytes(body).decode(charset, errors="replace")}
        raise LiveWebError(f"{url}: more than {self.max_redirects} redirects")

    def robots(self, url: str) -> dict[str, Any]:
        """The host's robots.txt as {status, text}; 'unreachable' for a server error or no answer."""
        parts = urlparse(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        try:
            response = self._client.get(robots_url, follow_redirects=True)
        except httpx.HTTPError:
            return {"status": "unreachable", "text": ""}
        if response.status_code >= 500:
            return {"status": "unreachable", "text": ""}
        if response.status_code != 200:
            return {"status": "unavailable", "text": ""}
        return {"status": "ok", "text": response.text[:500_000]}


def robots_allows(robots: dict[str, Any], url: str, user_agent: str = "drgym") -> bool:
    """RFC 9309: no robots.txt (4xx) allows everything; an unreachable one (5xx, no answer) disallows."""
    if robots["status"] == "unavailable":
        return True
    if robots["status"] == "unreachable":
        return False
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(robots["text"].splitlines())
    return parser.can_fetch(user_agent, url)


def to_page(response: dict[str, Any], authority: AuthorityTable) -> Page:
    """A fetched response as a Page: HTML through trafilatura, text split at blank lines, PDF through pypdf."""
    url, final_url = response["url"], response["final_url"]
    domain = urlparse(final_url).hostname or ""
    content_type = response["content_type"]
    title, published, outlinks = "", "", ()
    if content_type in PDF_TYPES:
        paragraphs = _pdf_paragraphs(base64.b64decode(response["body_b64"]), url)
    elif content_type in TEXT_TYPES:
        paragraphs = tuple(" ".join(p.split()) for p in response["body"].split("\n\n") if p.strip())
    else:
        extracted = extract_html(response["body"], url=final_url)
        title, published, paragraphs, outlinks = (extracted.title, extracted.published, extracted.paragraphs,
                                                  extracted.outlinks)
    if not paragraphs:
        raise LiveWebError(f"{url} has no readable text")
    return Page(url=url, domain=domain, title=title or domain, published=published, tier=authority.tier(domain),
                paragraphs=tuple(paragraphs), outlinks=tuple(outlinks))


def _pdf_paragraphs(data: bytes, url: str) -> tuple[str, ...]:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise LiveWebError(f"{url} is a PDF; reading PDFs needs pypdf (pip install pypdf)") from None
    try:
        text = "\n\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    except Exception as e:  # pypdf raises many kinds of errors on broken files
        raise LiveWebError(f"{url}: the PDF cannot be read ({type(e).__name__})") from None
    return tuple(" ".join(p.split()) for p in text.split("\n\n") if p.strip())
