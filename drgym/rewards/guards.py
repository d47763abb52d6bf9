"""What judges do to a report before and after grading, so that text in the report cannot buy a verdict.

Before: the report is rendered to the text a reader sees (`visible_text`: HTML comments, scripts, styles,
hidden elements, link titles, image alt text and zero-width characters removed), repeated
paragraphs and sentences are collapsed (padding earns nothing), and sentences that paste a rubric's criterion
back are dropped. After (LLM judge): an evidence quote counts only if it occurs in the report, is at least four
words long, does not talk about grading ("verdict", "criteria", "ignore previous instructions", …) and is not
the criterion itself.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from drgym.rewards.checks import ascii_words, attach_citations, split_sentences

__all__ = ["clean_report", "normalize_text", "usable_quote", "visible_text"]

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad\u034f\u180e]")
_GRADING_TALK = re.compile(
    r"\b(verdicts?|criteri(on|a)|rubrics?|grad(er|ing|ed)|judg(e|es|ing)|satisf(ied|ies|y)|scor(e|ed|ing)|"
    r"instructions?|ignore (all|any|the|previous)|system prompt|evaluator|assessor)\b|^\s*(system|assistant|user)\s*:",
    re.IGNORECASE)
MIN_QUOTE_WORDS = 4


_QUOTES_AND_DASHES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})
_BLOCK_BREAK = re.compile(r"\n\s*\n")


def normalize_text(text: str) -> str:
    """Lowercase, unified quotes and dashes, whitespace collapsed: the form quotes are compared in."""
    if text.isascii():  # no invisible characters, curly quotes or dashes to remove or unify
        return " ".join(text.lower().split())
    text = _INVISIBLE.sub("", text).lower().translate(_QUOTES_AND_DASHES)
    return " ".join(text.split())


_WORD = re.compile(r"\w+")


def _tokens(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _pastes(sentence: str, criteria: Sequence[str]) -> bool:
    """A sentence that copies a criterion: its leading verb ("States", "Cites", …) and 80 % of its words.

    A report stating a fact shares the criterion's entity and value but not its rubric phrasing.
    """
    return _pastes_one_of(sentence, *_paste_targets(tuple(criteria)))


def _pastes_one_of(sentence: str, verbs: tuple[re.Pattern, ...],
                   targets: tuple[tuple[str, tuple[frozenset[str], ...]], ...]) -> bool:
    lowered = sentence.lower()
    if not any(verb.search(lowered) for verb in verbs):  # a criterion's verb must be a word of the sentence
        return False
    words = set(ascii_words(lowered) if lowered.isascii() else _WORD.findall(lowered))
    if len(words) < 4:
        return False
    return any(len(words & wanted) / len(wanted) >= 0.8 for verb, wanted_sets in targets if verb in words
               for wanted in wanted_sets)


@lru_cache(maxsize=8192)
def _criterion_tokens(criterion: str) -> tuple[str, frozenset[str]]:
    return (criterion.split()[0].lower() if criterion.split() else ""), frozenset(_tokens(criterion))


@lru_cache(maxsize=1024)
def _paste_targets(criteria: tuple[str, ...]
                   ) -> tuple[tuple[re.Pattern, ...], tuple[tuple[str, tuple[frozenset[str], ...]], ...]]:
    """The criteria's leading verbs, each as a pattern that finds it as a whole word, and for each verb the words
    of the criteria it leads (a task's criteria are looked at once, not once per sentence). A verb that is not
    one word ("States:") is never a word of a sentence, and its criteria can never be pasted."""
    by_verb: dict[str, list[frozenset[str]]] = {}
    for verb, wanted in map(_criterion_tokens, criteria):
        if wanted and _ONE_WORD.fullmatch(verb):
            by_verb.setdefault(verb, []).append(wanted)
    return tuple(map(_whole_word, by_verb)), tuple((verb, tuple(wanted)) for verb, wanted in by_verb.items())


_ONE_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1024)
def _whole_word(word: str) -> re.Pattern:
    # the word first, so that the search runs as a plain substring search; then no word character on either side
    return re.compile(f"{re.escape(word)}(?<!\\w.{{{len(word)}}})(?!\\w)")


# -- what a reader sees ------------------------------------------------------------------------------------

_HIDING_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title", "iframe", "object", "svg",
                          "math", "canvas", "select", "textarea", "button", "datalist", "meta", "link"})
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                        "source", "track", "wbr"})
# Bounded, bracket-free runs: each match attempt stops at the next bracket, so a page of "![a](" stays linear.
# A markdown link reference definition ("[1]: url 'title'", "[//]: # (comment)") renders as nothing: keep the
# label and url (a reference list cites), drop the title.
_MD_REFERENCE_TITLE = re.compile(r"(?m)^([ \t]{0,3}\[[^\]\n]{1,300}\]:[ \t]*\S{1,2000})[ \t]+[\"'(][^\n]{0,2000}$")
_MD_IMAGE = re.compile(r"!\[[^\[\]\n]{0,300}\]\([^()\n]{0,300}\)")
_MD_LINK_TITLE = re.compile(r"(\]\(\s*<?[^\s()<>\[\]]{1,2000}>?)\s+(\"[^\"\n]{0,300}\"|'[^'\n]{0,300}'|\([^()\n]{0,300}\))\s*\)")
_MD_LINK = re.compile(r"(?<!!)\[([^\[\]\n]{0,300})\]\(\s*<?([^\s()<>\[\]]{1,2000})>?\s*\)")
_TAG_START = re.compile(r"<[a-zA-Z!/?]")


_RAW_TEXT_TAGS = frozenset({"script", "style", "textarea", "title", "xmp", "noembed", "noframes", "iframe",
                            "noscript", "plaintext"})
_BLOCK_TAGS = frozenset({"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section", "ul", "ol",
                         "blockquote", "pre", "br", "hr"})
_TAG_NAME = re.compile(r"(/?)([a-zA-Z][^\s/>]*)")
_TAG_REST = re.compile(r"(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")  # one way to match: linear, no backtracking blow-up
_ATTRIBUTE = re.compile(r"([^\s\"'>/=]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")


# Markup a report may use and a reader sees plainly. Anything else (styling, classes, ids, <font>, <details>,
# unknown tags), or these with any other attribute, may hide its content from a reader in ways no list of CSS
# patterns can foresee (a stylesheet rule, a white colour, a 1px font), so its content is not graded.
_VISIBLE_TAGS = frozenset({"p", "br", "hr", "div", "span", "b", "i", "em", "strong", "u", "s", "del", "ins",
                           "sub", "sup", "code", "pre", "kbd", "samp", "var", "blockquote", "q", "cite", "abbr",
                           "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "td",
                           "th", "caption", "h1", "h2", "h3", "h4", "h5", "h6", "a", "section", "article",
                           "header", "footer", "main", "figure", "figcaption", "mark", "small", "time", "html",
                           "body"})
_VISIBLE_ATTRIBUTES = frozenset({"href", "colspan", "rowspan", "align", "start", "datetime", "lang", "dir"})


def _hides(tag: str, attributes: str) -> bool:
    if tag in _HIDING_TAGS or tag not in _VISIBLE_TAGS:
        return True
    names = {m.group(1).lower() for m in _ATTRIBUTE.finditer(attributes)} - {"/"}
    return not names <= _VISIBLE_ATTRIBUTES


def _render_html(text: str) -> str:
    """Visible character data of `text` read the way a browser's tokenizer does, in one pass.

    An unclosed tag, quote or comment hides the rest of the document, as in a browser.
    """
    parts: list[str] = []
    stack: list[tuple[str, bool]] = []  # open elements: (tag, hides its content)
    open_count: dict[str, int] = {}  # an end tag that closes nothing costs O(1), not a stack scan
    position, size = 0, len(text)
    while position < size:
        at = text.find("<", position)
        if at == -1:
            at = size
        if at > position and not (stack and stack[-1][1]):
            parts.append(text[position:at])
        if at >= size:
            break
        if text.startswith("<!--", at):
            end = text.find("-->", at + 4)
            position = size if end == -1 else end + 3
            continue
        name = _TAG_NAME.match(text, at + 1)
        if name is None:
            if at + 1 < size and text[at + 1] in "!?":  # <!doctype …>, <?xml …?>: bogus comments up to ">"
                end = text.find(">", at)
                position = size if end == -1 else end + 1
                continue
            if not (stack and stack[-1][1]):
                parts.append("<")
            position = at + 1
            continue
        rest = _TAG_REST.match(text, name.end())
        if rest is None:  # end of input inside a tag: nothing more is shown
            break
        position = rest.end()
        is_end, tag = name.group(1) == "/", name.group(2).lower()
        hidden_here = bool(stack) and stack[-1][1]
        if tag in _BLOCK_TAGS and not hidden_here:
            parts.append("\n")
        if is_end:
            if open_count.get(tag):
                while stack:  # close the nearest open element of this name and whatever is open inside it
                    closed, _ = stack.pop()
                    open_count[closed] -= 1
                    if closed == tag:
                        break
            continue
        if tag in _VOID_TAGS:  # a browser ignores "/>" on other tags: <div hidden/> stays open
            continue
        if tag in _RAW_TEXT_TAGS:  # raw text up to the matching end tag
            end = re.compile(rf"</{re.escape(tag)}[\s/>]", re.IGNORECASE).search(text, position)
            if tag in _HIDING_TAGS or hidden_here or _hides(tag, text[name.end():rest.end() - 1]):
                position = size if end is None else end.start()
            continue
        stack.append((tag, hidden_here or _hides(tag, text[name.end():rest.end() - 1])))
        open_count[tag] = open_count.get(tag, 0) + 1
    return html.unescape("".join(parts))


# Letters of other scripts that look like Latin ones (Unicode confusables), folded in words that mix them with
# Latin letters: "іs hеаdquаrtеrеd" (Cyrillic і, е, а) reads as "is headquartered", and is matched as such.
_CONFUSABLE = str.maketrans({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g", "ɑ": "a",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X",
    "І": "I", "Ј": "J", "Ѕ": "S", "Ү": "Y", "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "ι": "i",
    "κ": "k", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X"})
_APOSTROPHES = str.maketrans({c: "'" for c in "ʼ’‘´`′ʹʻʽˈ＇"})
_LATIN = re.compile(r"[A-Za-z]")
_MIXED_WORD = re.compile(r"\w*[^\W\d_A-Za-z]\w*")


def _fold_unicode(text: str) -> str:
    """NFKC (full-width and compatibility forms), invisible format and combining characters removed (categories
    Cf, Mn, Me: zero-width joiners, variation selectors, tag characters), apostrophe variants as "'", and
    confusable letters folded to Latin in words that also hold Latin letters."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Mn", "Me") or c in "\n\t")
    text = text.translate(_APOSTROPHES)
    return _MIXED_WORD.sub(lambda m: m.group(0).translate(_CONFUSABLE) if _LATIN.search(m.group(0)) else m.group(0),
                           text)


def visible_text(report: str) -> str:
    """The report as a reader sees it once rendered (markdown or HTML), in linear time.

    HTML comments, scripts, styles, elements hidden by attribute, inline style or a hiding class, tag
    attributes (link titles, alt text), markdown image alt text and link titles, and zero-width or
    direction-control characters are removed; character references are decoded. Markdown links keep their
    text and url (an inline url is a citation); everything else stays as written.
    """
    text = _fold_unicode(_without_invisible(report))
    # each pattern is run only on text with the characters every match of it holds
    if "]:" in text:
        text = _MD_REFERENCE_TITLE.sub(r"\1", text)
    if "![" in text:
        text = _MD_IMAGE.sub(" ", text)
    if "](" in text:
        text = _MD_LINK_TITLE.sub(r"\1)", text)
        text = _MD_LINK.sub(r"\1 (\2)", text)
    text = _render_html(text) if _TAG_START.search(text) else html.unescape(text)
    return _fold_unicode(_without_invisible(text))  # again: character references may have made new ones


def _without_invisible(text: str) -> str:
    return text if text.isascii() else _INVISIBLE.sub("", text)  # invisible characters are none of ASCII


def clean_report(report: str, criteria: Sequence[str] = ()) -> str:
    """The report as a reader sees it, without padding or pasted criteria."""
    text = attach_citations(visible_text(report))  # before de-duplication: "\\cite{u}" alone repeats
    seen_blocks: set[str] = set()
    seen_sentences: set[str] = set()
    verbs, targets = _paste_targets(tuple(criteria))
    kept_blocks = []
    for block in _BLOCK_BREAK.split(text):
        key = normalize_text(block)
        if not key or key in seen_blocks:
            continue
        seen_blocks.add(key)
        if block.lstrip().startswith(("|", "#")):  # table rows and headings are kept whole
            kept_blocks.append(block)
            continue
        sentences = []
        for sentence in split_sentences(block):
            normalized = normalize_text(sentence)
            if not normalized or normalized in seen_sentences or _pastes_one_of(sentence, verbs, targets):
                continue
            seen_sentences.add(normalized)
            sentences.append(sentence)
        if sentences:
            kept_blocks.append(" ".join(sentences))
    return "\n\n".join(kept_blocks)


def usable_quote(quote: str, report: str, criterion: str) -> bool:
    """Whether an evidence quote may support a verdict."""
    normalized = normalize_text(quote).strip(" .\"'")
    if len(normalized.split()) < MIN_QUOTE_WORDS:
        return False
    if normalized not in normalize_text(report):
        return False
    if _GRADING_TALK.search(quote):
        return False
    return not _pastes(quote, [criterion])
