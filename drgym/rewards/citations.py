"""Citation support: does each cited page back the sentence that cites it?

Citations are ``\\cite{url, …}`` (the seed's format), ``[n]`` markers resolved through a reference list
(``[n] … url`` lines), and inline urls. For each citing sentence and each cited page:

* ``lexical`` (default, deterministic; exact on procedural worlds, whose pages state facts in plain sentences):
  supported when one paragraph of the page contains every number the sentence states (formats normalised) and,
  if the sentence names anything (capitalised words), at least one of those names; a sentence without numbers
  needs two of its names in one paragraph.
* ``dense``: cosine similarity between the sentence and the page's best paragraph (MiniLM) of at least
  ``DENSE_THRESHOLD`` = 0.6, for real corpora where wording differs.

A citation of a page that is not in the corpus, or (when `retrieved_urls` is given) that the agent never
retrieved in the episode, is fabricated and supports nothing. Precision = supported citations / citations;
recall = fact sentences (prose sentences stating a figure other than a year or a small count) with at least
one supporting citation / fact sentences.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from drgym.rewards.checks import _CITE, _INLINE_URL, _REF_LINE, _REF_MARK, _SENTENCE_END, parse_numbers
from drgym.rewards.guards import clean_report
from drgym.web.corpus import Corpus

__all__ = ["CitationReport", "DENSE_THRESHOLD", "check_citations", "parse_citations"]

DENSE_THRESHOLD = 0.6
_NAME = re.compile(r"\b[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*")
# A capitalised function word opening a sentence is no part of a name ("For Haleisport, …" names Haleisport).
_LEADING_FUNCTION_WORD = re.compile(r"^(?:(?:The|In|As|A|An|It|This|That|Its|For|On|At|By|Of|From|With|Since|"
                                    r"During|According|Overall|Between|When|While|And|But|Their|Its)\b\s*)+")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")


@dataclass(frozen=True)
class CitedSentence:
    sentence: str
    urls: tuple[str, ...]
    is_prose: bool = True
    """False for table rows and headings, which summarise rather than claim."""


@dataclass
class CitationReport:
    n_citations: int = 0
    n_supported: int = 0
    n_fabricated: int = 0
    n_fact_sentences: int = 0
    n_fact_sentences_supported: int = 0
    details: list[dict] = field(default_factory=list)
    """Per citation: sentence, url, status (supported, unsupported, fabricated)."""

    @property
    def precision(self) -> float:
        return self.n_supported / self.n_citations if self.n_citations else 0.0

    @property
    def recall(self) -> float:
        return self.n_fact_sentences_supported / self.n_fact_sentences if self.n_fact_sentences else 0.0


def parse_citations(report: str) -> list[CitedSentence]:
    """Every sentence (or table row) of the report, with the urls it cites."""
    references = dict(_REF_LINE.findall(report))
    sentences = []
    for block in re.split(r"\n\s*\n", report):
        is_prose = not block.lstrip().startswith(("|", "#"))
        for line in block.split("\n") if not is_prose else [block]:
            for sentence in _SENTENCE_END.split(line):
                if _REF_LINE.match(sentence):
                    continue
                urls = [u.strip() for group in _CITE.findall(sentence) for u in group.split(",") if u.strip()]
                urls += [u.rstrip(".") for u in _INLINE_URL.findall(_CITE.sub(" ", sentence))]
                urls += [references[n] for n in _REF_MARK.findall(sentence) if n in references]
                sentences.append(CitedSentence(sentence.strip(), tuple(dict.fromkeys(urls)), is_prose))
    return [s for s in sentences if s.sentence]


def _claim(sentence: str) -> str:
    return _INLINE_URL.sub(" ", _REF_MARK.sub(" ", _CITE.sub(" ", sentence)))


def _numbers(text: str) -> set[float]:
    return {round(n.value, 6) for n in parse_numbers(text)}


def _states_a_figure(claim: str) -> bool:
    """A number that is neither a year nor a small count ("4 companies")."""
    return any(not (n == int(n) and (_YEAR.match(str(int(n))) or 0 <= n <= 12)) for n in _numbers(claim))


def _lexically_supported(claim: str, paragraphs: tuple[str, ...]) -> bool:
    numbers = {n for n in _numbers(claim) if not _YEAR.match(str(int(n))) or n != int(n)}
    names = {_LEADING_FUNCTION_WORD.sub("", m.group(0)) for m in _NAME.finditer(claim)} - {""}
    for paragraph in paragraphs:
        stated = _numbers(paragraph)
        if numbers:
            if numbers <= stated and (not names or any(name in paragraph for name in names)):
                return True
        elif len([name for name in names if name in paragraph]) >= min(2, len(names)) and names:
            return True
    return False


def check_citations(report: str, corpus: Corpus, *, retrieved_urls: Collection[str] | None = None,
                    method: Literal["lexical", "dense"] = "lexical") -> CitationReport:
    """Checks every citation of `report` against the cited pages of `corpus`."""
    result = CitationReport()
    encoder = None
    for cited in parse_citations(clean_report(report)):
        claim = _claim(cited.sentence)
        is_fact = cited.is_prose and _states_a_figure(claim)
        result.n_fact_sentences += is_fact
        supported_here = False
        for url in cited.urls:
            result.n_citations += 1
            page = corpus.get(url)
            if page is None or (retrieved_urls is not None and url not in retrieved_urls):
                result.n_fabricated += 1
                status = "fabricated"
            else:
                if method == "dense":
                    if encoder is None:
                        from drgym.web.dense import DenseEncoder

                        encoder = DenseEncoder()
                    vectors = encoder.encode([claim, *page.paragraphs])
                    supported = float((vectors[1:] @ vectors[0]).max()) >= DENSE_THRESHOLD
                else:
                    supported = _lexically_supported(claim, page.paragraphs)
                status = "supported" if supported else "unsupported"
                result.n_supported += supported
                supported_here |= supported
            result.details.append({"sentence": cited.sentence, "url": url, "status": status})
        result.n_fact_sentences_supported += is_fact and supported_here
    return result
