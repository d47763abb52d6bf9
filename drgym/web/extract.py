"""HTML to clean text paragraphs that keep the page's structure.

The main text is found by the page's own markup when it names it (``<main>``, ``role="main"``,
``itemprop="articleBody"``, a single ``<article>``: documentation generators, most CMSs); otherwise trafilatura
finds it among the boilerplate. Either way paragraphs are rebuilt from blocks:

- prose: whitespace collapsed, so hard-wrapped source lines join into one paragraph;
- code (``<pre>``): one paragraph with its line breaks kept;
- tables: one line per row, cells separated by `` | ``; lists: one line per item (``- item``); definition lists
  with short definitions: ``term: definition`` lines;
- footnotes kept as ``[label] body``; markup residue (pilcrows, ``[source]`` and header-link anchors) removed;
- every paragraph at most `max_paragraph_chars`: long prose split between sentences, code, tables and lists
  between lines (a table's header row repeated in each part), so an index page becomes many readable parts.

The date comes from the page's metadata only (meta tags, JSON-LD, ``<time itemprop="datePublished">``); a date
guessed from the text (htmldate's extensive search) only when asked with ``guess_dates=True``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlparse, uses_relative

import lxml.etree
import lxml.html
import trafilatura

__all__ = ["DEFAULT_MAX_PARAGRAPH_CHARS", "ExtractedPage", "extract_html", "parse_date", "resolve_link",
           "split_paragraph"]

logger = logging.getLogger(__name__)
# trafilatura logs every page it finds too short or cannot parse; ingest reports those pages itself
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
logging.getLogger("htmldate").setLevel(logging.CRITICAL)

DEFAULT_MAX_PARAGRAPH_CHARS = 1200
"""What the browse tool shows of a paragraph without clipping it."""

_WHITESPACE = re.compile(r"\s+")
_RESIDUE = re.compile(r"[¶\u200b\ufeff]|\s*\[source\](?=\s|$)")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(\s+)(?=[\"'“‘(\[]?[A-Z0-9])")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_MAX_OUTLINKS = 5000  # per page, links in the main text first: an index page keeps its entries, a link farm not all
_MAX_DEPTH = 120  # deeper markup is read as plain text (no recursion past this, whatever the page nests)

_DROPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "math", "form", "button", "input",
                           "select", "textarea", "nav", "iframe", "object", "embed", "canvas", "video", "audio",
                           "head", "title", "meta", "link", "search", "dialog"})
_DROPPED_CLASSES = frozenset({"headerlink", "viewcode-link", "viewcode-back", "hash-link", "anchorjs-link",
                              "sphinxsidebar", "related", "linenos", "copybutton", "skip-link", "screen-reader-text",
                              "sr-only", "visually-hidden", "md-clipboard"})
_DROPPED_ROLES = frozenset({"navigation", "search", "banner", "contentinfo", "complementary"})
_FOOTNOTE = re.compile(r"\b(footnote|endnote|citation)\b")
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_INLINE_TAGS = frozenset({"a", "span", "code", "tt", "em", "strong", "b", "i", "u", "s", "abbr", "sub", "sup", "kbd",
                          "var", "samp", "small", "mark", "q", "cite", "time", "del", "ins", "dfn", "bdi", "bdo",
                          "label", "font", "big", "img", "wbr", "data", "output", "strike", "acronym"})
_ASSET_SUFFIXES = (".css", ".js", ".mjs", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".woff",
                   ".woff2", ".ttf", ".eot", ".map", ".zip", ".gz", ".tar", ".whl", ".mp4", ".mp3")
_DATE_META = ("article:published_time", "og:published_time", "datepublished", "date", "dc.date", "dc.date.issued",
              "dcterms.issued", "dcterms.created", "dcterms.date", "citation_publication_date", "citation_date",
              "publication_date", "pubdate", "publish-date", "parsely-pub-date", "sailthru.date",
              "article:modified_time", "og:updated_time", "datemodified", "dcterms.modified", "last-modified")
_JSON_LD_DATES = ("datePublished", "dateCreated", "dateModified")
_MAX_JSON_LD_CHARS = 200_000
_REFRESH = re.compile(r"\s*(\d{1,4}(?:\.\d*)?)\s*[;,]\s*url\s*=\s*(\S.*)", re.IGNORECASE)


@dataclass(frozen=True)
class ExtractedPage:
    title: str
    published: str
    """ISO date from the page's metadata (or, when asked, guessed from its text); ``""`` when unknown."""
    paragraphs: tuple[str, ...]
    outlinks: tuple[str, ...]
    """Absolute urls, fragment dropped; links in the main text first, then the rest of the page (5,000 at most)."""
    redirect_to: str = ""
    """Where an immediate ``<meta http-equiv="refresh">`` sends the reader (a page that moved), else ``""``."""


def extract_html(html: str, *, url: str = "", guess_dates: bool = False,
                 max_paragraph_chars: int = DEFAULT_MAX_PARAGRAPH_CHARS) -> ExtractedPage:
    """Main-text paragraphs, title, publication date and absolute outlinks of one HTML document.

    Args:
        html: the document.
        url: its address, used to resolve relative links (``local://`` addresses resolve too).
        guess_dates: when the metadata names no date, guess one from the text (htmldate's extensive search).
        max_paragraph_chars: longer blocks are split into parts of at most this many characters.

    Returns:
        An `ExtractedPage`; `paragraphs` is empty when the page has no main text.

    Example:
        >>> page = extract_html("<main><p>One\\nwrapped line.</p><pre>a = 1\\nb = 2</pre></main>")
        >>> page.paragraphs
        ('One wrapped line.', 'a = 1\\nb = 2')
    """
    if max_paragraph_chars < 80:
        raise ValueError(f"max_paragraph_chars must be at least 80, got {max_paragraph_chars}")
    tree = _parse(html)
    if tree is None:
        return ExtractedPage(title="", published="", paragraphs=(), outlinks=())
    base = _base_url(tree, url)
    main = _main_element(tree)
    paragraphs: tuple[str, ...] = ()
    if main is not None:
        blocks = _Blocks(max_paragraph_chars)
        blocks.walk(main, 0)
        paragraphs = blocks.paragraphs()
        main_links = _links(main, base)
    if not paragraphs:  # no main element named (or an empty one): trafilatura tells main text from boilerplate
        paragraphs, main_links = _trafilatura_paragraphs(html, base, max_paragraph_chars)
    outlinks = tuple(itertools.islice(dict.fromkeys(link for link in (*main_links, *_links(tree, base))
                                                    if link != url), _MAX_OUTLINKS))
    published = _metadata_date(tree)
    if not published and guess_dates:
        published = _guessed_date(tree)
    return ExtractedPage(title=_title(tree, main), published=published, paragraphs=paragraphs,
                         outlinks=outlinks, redirect_to=_refresh_target(tree, base))


def resolve_link(base: str, href: str) -> str:
    """`href` made absolute against `base`; schemes urllib does not join (``local://``) are joined like http."""
    scheme = urlparse(base).scheme
    if not scheme or scheme in uses_relative:
        return urljoin(base, href)
    joined = urljoin("http" + base[len(scheme):], href)
    if urlparse(href).scheme:  # already absolute
        return joined
    return scheme + joined[len("http"):]


def split_paragraph(text: str, max_chars: int = DEFAULT_MAX_PARAGRAPH_CHARS) -> list[str]:
    """`text` in parts of at most `max_chars`: prose cut between sentences, text with line breaks between lines."""
    if len(text) <= max_chars:
        return [text]
    return _split_lines(text, max_chars) if "\n" in text else _split_prose(text, max_chars)


def parse_date(value: str) -> str:
    """An ISO date ``YYYY-MM-DD`` from an ISO timestamp, an HTTP date or ``YYYY/MM/DD``; ``""`` if none."""
    value = (value or "").strip()[:64]
    match = re.match(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", value) or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", value)
    if match:
        try:
            return dt.date(*map(int, match.groups())).isoformat()
        except ValueError:
            return ""
    try:
        return email.utils.parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError, OverflowError):
        return ""


# -- parsing and the main element ---------------------------------------------------------------------------

def _parse(html: str) -> lxml.html.HtmlElement | None:
    html = _XML_DECLARATION.sub("", html, count=1)  # lxml refuses str input that declares an encoding
    if not html.strip():
        return None
    try:
        return lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return None


def _main_element(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    for path in ("//*[@itemprop='articleBody']", "//*[@role='main']", "//main"):
        found = tree.xpath(path)
        if found:
            return found[0]
    articles = tree.xpath("//article")
    return articles[0] if len(articles) == 1 else None


def _base_url(tree: lxml.html.HtmlElement, url: str) -> str:
    for base in tree.iterfind(".//base[@href]"):
        href = (base.get("href") or "").strip()
        if href:
            return resolve_link(url, href) if url else href
    return url


def _is_dropped(element: lxml.html.HtmlElement) -> bool:
    if element.tag in _DROPPED_TAGS or element.get("hidden") is not None or element.get("aria-hidden") == "true":
        return True
    if element.get("role") in _DROPPED_ROLES:
        return True
    classes = element.get("class")
    if classes and not _DROPPED_CLASSES.isdisjoint(classes.split()):
        return True
    if element.tag == "aside":
        return not _is_footnote(element)
    return False


def _is_footnote(element: lxml.html.HtmlElement) -> bool:
    role = element.get("role") or ""
    return role in ("doc-footnote", "doc-endnote", "doc-endnotes", "doc-footnotes") or bool(
        _FOOTNOTE.search(element.get("class") or ""))


def _clean(text: str) -> str:
    return _WHITESPACE.sub(" ", _RESIDUE.sub("", text)).strip()


def _title(tree: lxml.html.HtmlElement, main: lxml.html.HtmlElement | None) -> str:
    title = _clean(tree.findtext("head/title") or "")
    if not title:
        heading = (main if main is not None else tree).find(".//h1")
        title = _clean(_inline_text(heading)) if heading is not None else ""
    return title[:500]


def _inline_text(element: lxml.html.HtmlElement, *, keep_lines: bool = False) -> str:
    """All visible text under `element`, dropped parts (scripts, header links, line numbers) left out.

    Iterative, so any nesting depth is read. With `keep_lines`, ``<br>`` is a line break and blocks add no
    spaces (code); otherwise blocks and line breaks separate words.
    """
    parts: list[str] = []
    skipping: lxml.html.HtmlElement | None = None
    separator = "\n" if keep_lines else " "
    for event, node in lxml.etree.iterwalk(element, events=("start", "end")):
        is_element = isinstance(node.tag, str)
        if event == "start":
            if skipping is not None:
                continue
            if is_element and node is not element and _is_dropped(node):
                skipping = node
                continue
            if is_element and node.tag in ("br", "img"):
                parts.append(separator)
            if is_element:
                parts.append(node.text or "")
        else:
            if node is skipping:
                skipping = None
            elif skipping is not None:
                continue
            if node is not element:
                if is_element and not keep_lines and node.tag in _BLOCK_TAGS:
                    parts.append(" ")
                parts.append(node.tail or "")
    return "".join(parts)


# -- blocks -------------------------------------------------------------------------------------------------

class _Blocks:
    """Walks an HTML element into blocks: ("text" | "code" | "rows", text), then fits them into paragraphs."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.blocks: list[tuple[str, str]] = []
        self._inline: list[str] = []

    def flush(self) -> None:
        text = _clean("".join(self._inline))
        self._inline = []
        if text:
            self.blocks.append(("text", text))

    def add(self, kind: str, text: str) -> None:
        self.flush()
        if text.strip():
            self.blocks.append((kind, text))

    def walk_children(self, element: lxml.html.HtmlElement, depth: int) -> None:
        if element.text:
            self._inline.append(element.text)
        for child in element:
            if isinstance(child.tag, str):
                self.walk(child, depth + 1)
            if child.tail:
                self._inline.append(child.tail)

    def walk(self, element: lxml.html.HtmlElement, depth: int) -> None:
        tag = element.tag
        if _is_dropped(element):
            return
        if depth > _MAX_DEPTH:
            self._inline.append(" " + _inline_text(element) + " ")
            return
        if tag == "br" or tag == "img":
            self._inline.append(" ")
        elif tag in _INLINE_TAGS or tag not in _BLOCK_TAGS:
            self.walk_children(element, depth)
        elif tag == "pre":
            self.add("code", _code_text(element))
        elif tag in _HEADINGS:
            self.add("text", _clean(_inline_text(element)))
        elif tag in ("ul", "ol", "dl"):
            self.flush()
            self._list(element, depth)
        elif tag == "table":
            self.flush()
            self._table(element, depth)
        elif _is_footnote(element) and element.find(".//aside") is None:
            self.add("text", _footnote_text(element))
        elif "admonition" in (element.get("class") or "").split():
            self._admonition(element, depth)
        else:
            self.flush()
            self.walk_children(element, depth)
            self.flush()

    def _sub_blocks(self, element: lxml.html.HtmlElement, depth: int) -> list[tuple[str, str]]:
        sub = _Blocks(self.max_chars)
        sub.walk_children(element, depth)
        sub.flush()
        return sub.blocks

    def _admonition(self, element: lxml.html.HtmlElement, depth: int) -> None:
        """A note box (Sphinx, MkDocs: ``<p class="admonition-title">Note</p>`` then its text): 'Note: text'."""
        self.flush()
        blocks = self._sub_blocks(element, depth)
        first = next((child for child in element if isinstance(child.tag, str)), None)
        has_title = first is not None and "admonition-title" in (first.get("class") or "").split()
        if has_title and len(blocks) >= 2 and blocks[0][0] == "text" and len(blocks[0][1]) <= 60 \
                and blocks[1][0] in ("text", "rows"):
            title, (kind, text) = blocks[0][1], blocks[1]
            if kind == "text":
                merged = ("text", f"{title} {text}" if title.endswith(":") else f"{title}: {text}")
            else:
                merged = ("rows", f"{title}\n{text}")
            blocks = [merged, *blocks[2:]]
        self.blocks.extend(blocks)

    def _list(self, element: lxml.html.HtmlElement, depth: int) -> None:
        lines: list[str] = []

        def emit_lines() -> None:
            if lines:
                self.blocks.append(("rows", "\n".join(lines)))
                lines.clear()

        ordered = element.tag == "ol"
        items = [child for child in element if isinstance(child.tag, str) and not _is_dropped(child)]
        if element.tag == "dl":
            self._definitions(element, items, depth)
            return
        for number, item in enumerate(items, start=1):
            marker = f"{number}. " if ordered else "- "
            sub = self._sub_blocks(item, depth + 1) if item.tag == "li" else [("text", _clean(_inline_text(item)))]
            if all(kind in ("text", "rows") for kind, _ in sub):
                text = " ".join(t for kind, t in sub if kind == "text")
                if text:
                    lines.append(marker + text)
                for kind, nested in sub:
                    if kind == "rows":
                        lines.extend("  " + line for line in nested.split("\n"))
            else:  # an item holding code or a table: the list so far, then the item's own blocks
                emit_lines()
                for index, (kind, text) in enumerate(sub):
                    self.blocks.append((kind, marker + text if index == 0 and kind == "text" else text))
        emit_lines()

    def _definitions(self, element: lxml.html.HtmlElement, items: list, depth: int) -> None:
        entries: list[tuple[str, list[tuple[str, str]]]] = []
        for item in items:
            if item.tag == "div":  # HTML5 allows <div> around dt/dd groups
                for child in item:
                    if isinstance(child.tag, str) and not _is_dropped(child):
                        entries.append((child.tag, self._sub_blocks(child, depth + 2)))
            else:
                entries.append((item.tag, self._sub_blocks(item, depth + 1)))
        is_short = all(len(blocks) <= 1 and all(kind == "text" and len(text) <= 200 for kind, text in blocks)
                       for _, blocks in entries)
        if is_short:
            lines: list[str] = []
            for tag, blocks in entries:
                text = blocks[0][1] if blocks else ""
                if tag == "dd" and lines and text:
                    lines[-1] = f"{lines[-1]}: {text}" if not lines[-1].endswith(":") else f"{lines[-1]} {text}"
                elif text:
                    lines.append(text)
            if lines:
                self.blocks.append(("rows", "\n".join(lines)))
            return
        # A term opens its definition's first block, so that a hit on it shows what it means: a field name
        # ("Return type:") on the value's line, a name or signature on the line above its description.
        terms: list[str] = []
        for tag, blocks in entries:
            if tag == "dt" and len(blocks) == 1 and blocks[0][0] == "text" and len(blocks[0][1]) <= 300:
                terms.append(blocks[0][1])
                continue
            if terms and tag == "dd" and blocks and blocks[0][0] in ("text", "rows"):
                kind, text = blocks[0]
                if len(terms) == 1 and terms[0].endswith(":") and len(terms[0]) <= 60:
                    blocks = [(kind, f"{terms[0]} {text}" if kind == "text" else f"{terms[0]}\n{text}"), *blocks[1:]]
                    terms = []
                elif sum(len(t) + 1 for t in terms) + len(text) <= self.max_chars:
                    blocks = [("rows", "\n".join([*terms, text])), *blocks[1:]]
                    terms = []
            if terms:
                self.blocks.append(("rows" if len(terms) > 1 else "text", "\n".join(terms)))
                terms = []
            self.blocks.extend(blocks)
        if terms:
            self.blocks.append(("rows" if len(terms) > 1 else "text", "\n".join(terms)))

    def _table(self, element: lxml.html.HtmlElement, depth: int) -> None:
        rows = [row for row in element.iter("tr") if not _is_dropped(row)]
        cells = [[cell for cell in row if cell.tag in ("td", "th")] for row in rows]
        is_layout = any(cell.find(f".//{tag}") is not None for row in cells for cell in row
                        for tag in ("table", "ul", "ol", "dl", "pre")) or any(len(row) > 40 for row in cells)
        if is_layout:  # a table that lays out blocks (an index page): read its cells as blocks
            for row in cells:
                for cell in row:
                    self.flush()
                    self.walk_children(cell, depth + 1)
                    self.flush()
            return
        lines = []
        for row in cells:
            texts = [_clean(_inline_text(cell)) for cell in row]
            if any(texts):
                lines.append(" | ".join(texts))
        has_header = bool(cells and cells[0]) and (rows[0].getparent().tag == "thead"
                                                   or all(cell.tag == "th" for cell in cells[0]))
        caption = element.find("caption")
        if caption is not None and _clean(_inline_text(caption)):
            self.blocks.append(("text", _clean(_inline_text(caption))))
        if lines:
            self.blocks.append(("table" if has_header and len(lines) > 1 else "rows", "\n".join(lines)))

    def paragraphs(self) -> tuple[str, ...]:
        self.flush()
        out: list[str] = []
        for kind, text in self.blocks:
            if kind == "text":
                out.extend(_split_prose(text, self.max_chars))
            elif kind == "code":
                out.extend(_split_lines(text, self.max_chars))
            elif kind == "table":
                header, _, body = text.partition("\n")
                out.extend(_split_lines(body, self.max_chars, header=header))
            else:
                out.extend(_split_lines(text, self.max_chars, keep_items=True))
        return tuple(p for p in out if p.strip())


_BLOCK_TAGS = frozenset({"p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote",
                         "figure", "figcaption", "details", "summary", "address", "center", "fieldset", "legend",
                         "hgroup", "body", "html", "pre", "ul", "ol", "dl", "li", "dt", "dd", "table", "caption",
                         "thead", "tbody", "tfoot", "tr", "td", "th", "hr", "menu", "picture", *_HEADINGS})


def _code_text(element: lxml.html.HtmlElement) -> str:
    text = _inline_text(element, keep_lines=True)
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _footnote_text(element: lxml.html.HtmlElement) -> str:
    label = element.find(".//*[@class='label']")
    label_text = _clean(_inline_text(label)) if label is not None else ""
    if label is not None:
        label.drop_tree()
    body = _clean(_inline_text(element))
    if label_text and not label_text.startswith("["):
        label_text = f"[{label_text}]"
    return f"{label_text} {body}".strip()


def _split_prose(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    parts: list[str] = []
    current = ""
    for sentence in _sentences(text):
        for piece in _split_words(sentence, max_chars):
            if current and len(current) + 1 + len(piece) > max_chars:
                parts.append(current)
                current = piece
            else:
                current = f"{current} {piece}" if current else piece
    if current:
        parts.append(current)
    return parts


def _sentences(text: str) -> list[str]:
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        sentences.append(text[start:match.start(1)])
        start = match.end(1)
    sentences.append(text[start:])
    return [s for s in sentences if s]


def _split_words(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    parts, current = [], ""
    for word in text.split(" "):
        while len(word) > max_chars:  # a 'word' longer than a paragraph (a hash, base64): cut it
            if current:
                parts.append(current)
                current = ""
            parts.append(word[:max_chars])
            word = word[max_chars:]
        if current and len(current) + 1 + len(word) > max_chars:
            parts.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        parts.append(current)
    return parts


def _split_lines(text: str, max_chars: int, *, header: str = "", keep_items: bool = False) -> list[str]:
    """Parts of at most `max_chars` cut between lines (a table's header line opens each part).

    With `keep_items`, a list item's indented sub-items stay in its part unless the item alone is too long.
    """
    if len(header) > max_chars // 2:
        header = header[: max_chars // 2 - 1] + "…"
    room = max_chars - (len(header) + 1 if header else 0)
    lines = [piece for line in text.split("\n") for piece in (_split_words(line, room) if len(line) > room else [line])]
    units: list[list[str]] = []
    for line in lines:
        if keep_items and units and line.startswith(" ") and sum(len(x) + 1 for x in units[-1]) + len(line) <= room:
            units[-1].append(line)
        else:
            units.append([line])
    parts: list[list[str]] = []
    current: list[str] = []
    size = 0  # length of "\n".join(current) + 1
    for unit in units:
        unit_size = sum(len(line) + 1 for line in unit)
        if current and size + unit_size - 1 > room:
            parts.append(current)
            current, size = [], 0
        current.extend(unit)
        size += unit_size
    if current:
        parts.append(current)
    opening = [header] if header else []
    return ["\n".join(opening + part) for part in parts] or opening


# -- links and dates ----------------------------------------------------------------------------------------

def _links(element: lxml.html.HtmlElement, base: str) -> list[str]:
    links: list[str] = []
    for anchor in element.iterfind(".//a[@href]"):
        href = (anchor.get("href") or "").strip()
        if not href or href.startswith(("javascript:", "mailto:", "tel:", "data:", "#")):
            continue
        try:
            absolute = urldefrag(resolve_link(base, href)).url
            parsed = urlparse(absolute)
        except ValueError:  # an invalid IPv6 host, a bad port: no link
            continue
        if parsed.scheme in ("http", "https", "local") and not parsed.path.lower().endswith(_ASSET_SUFFIXES):
            links.append(absolute)
    return links


def _refresh_target(tree: lxml.html.HtmlElement, base: str) -> str:
    for meta in tree.iterfind(".//meta[@http-equiv]"):
        if (meta.get("http-equiv") or "").lower() != "refresh":
            continue
        match = _REFRESH.match(meta.get("content") or "")
        if match and float(match.group(1)) <= 5:
            try:
                return urldefrag(resolve_link(base, match.group(2).strip("'\" "))).url
            except ValueError:
                return ""
    return ""


def _metadata_date(tree: lxml.html.HtmlElement) -> str:
    found: dict[str, str] = {}
    for meta in tree.iterfind(".//meta[@content]"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or meta.get("http-equiv") or "").lower()
        if key in _DATE_META and key not in found:
            found[key] = meta.get("content") or ""
    for key in _DATE_META:
        if key in found and parse_date(found[key]):
            return parse_date(found[key])
    for time in tree.iterfind(".//time[@datetime]"):
        if time.get("itemprop") == "datePublished" or time.get("pubdate") is not None:
            if parse_date(time.get("datetime") or ""):
                return parse_date(time.get("datetime") or "")
    for script in tree.iterfind(".//script[@type='application/ld+json']"):
        date = _json_ld_date(script.text or "")
        if date:
            return date
    return ""


def _json_ld_date(text: str) -> str:
    if len(text) > _MAX_JSON_LD_CHARS:
        return ""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return ""
    queue = [data]
    found: dict[str, str] = {}
    while queue and len(found) < len(_JSON_LD_DATES):
        node = queue.pop(0)
        if isinstance(node, dict):
            for key in _JSON_LD_DATES:
                if isinstance(node.get(key), str) and key not in found:
                    found[key] = node[key]
            queue.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            queue.extend(v for v in node if isinstance(v, dict | list))
    for key in _JSON_LD_DATES:
        if key in found and parse_date(found[key]):
            return parse_date(found[key])
    return ""


def _guessed_date(tree: lxml.html.HtmlElement) -> str:
    from htmldate import find_date

    try:
        return parse_date(find_date(tree, extensive_search=True, original_date=True) or "")
    except Exception:  # htmldate raises many kinds on odd markup; a guess is optional
        return ""


# -- pages without a named main element ---------------------------------------------------------------------

_TRAFILATURA_TAGS = {"head": "h2", "list": "ul", "item": "li", "row": "tr", "cell": "td", "quote": "blockquote",
                     "lb": "br", "hi": "span", "ref": "a", "graphic": "img", "del": "del", "main": "div",
                     "doc": "div", "body": "div"}


def _trafilatura_paragraphs(html: str, base: str,
                            max_chars: int) -> tuple[tuple[str, ...], list[str]]:
    # no url: trafilatura would resolve relative links against the site's root, not the page
    document = trafilatura.bare_extraction(html, with_metadata=False, include_tables=True,
                                           include_comments=False, include_links=True, favor_recall=True)
    body = getattr(document, "body", None) if document is not None else None
    if body is None:
        return (), []
    links: list[str] = []
    for element in body.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag == "ref" and element.get("target"):
            links.append(element.get("target"))
            element.attrib.clear()
        if (element.tag == "code" and _is_code_block(element)) or (
                element.tag == "quote" and len(element) == 0 and "\n" in (element.text or "").strip()):
            element.tag = "pre"  # trafilatura writes a <pre> without <code> as a <quote>
        elif element.tag == "cell" and element.get("role") == "head":
            element.tag = "th"
        elif element.tag in _TRAFILATURA_TAGS:
            element.tag = _TRAFILATURA_TAGS[element.tag]
        element.attrib.pop("class", None)
        element.attrib.pop("role", None)
    blocks = _Blocks(max_chars)
    blocks.walk(body, 0)
    resolved = []
    for href in links:
        try:
            absolute = urldefrag(resolve_link(base, href)).url
        except ValueError:
            continue
        if urlparse(absolute).scheme in ("http", "https", "local"):
            resolved.append(absolute)
    return blocks.paragraphs(), resolved


def _is_code_block(element) -> bool:
    parent = element.getparent()
    return parent is not None and parent.tag in ("body", "doc", "main", "item", "quote", "cell", "div")
