"""How well a corpus's pages were extracted: paragraph lengths, sentences cut between paragraphs, links.

`quality_report(corpus)` reads any corpus (ingested, procedural, or built by an older drgym, to compare) and
returns a `QualityReport`; `drgym web ingest` prints it after every ingest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np

from drgym.web.corpus import Corpus

__all__ = ["QualityReport", "ends_mid_sentence", "quality_report"]

_LENGTH_BUCKETS = ((0, 40), (40, 120), (120, 400), (400, 800), (800, 1201), (1201, None))
_RUNS_ON = re.compile(r"(?:[,(\-–/&]|\b(?:the|a|an|of|to|and|or|in|on|with|for|by|from|as|at|is|are|was|were|"
                      r"that|which|between|into|than|its|their|this|these|be|if|when|not))$", re.IGNORECASE)
_ENDS_OPEN = re.compile(r"[\w]$")
_GOES_ON = re.compile(r"\s*[a-z]+[,;]?\s+[a-z]")
_RESIDUE = re.compile(r"¶|\[source\]")
_N_EXAMPLES = 5


@dataclass(frozen=True)
class QualityReport:
    """Extraction quality figures of one corpus."""

    n_pages: int
    n_paragraphs: int
    n_prose_paragraphs: int
    """Paragraphs of one line; the others are code, tables and lists, which keep their line breaks."""
    n_mid_sentence: int
    """Prose paragraphs whose sentence runs on into the next paragraph: ending on a comma or a word such as
    'the', or without final punctuation before a paragraph that starts in lower case."""
    chars_p10: int
    chars_p50: int
    chars_p90: int
    chars_max: int
    length_histogram: tuple[tuple[str, int], ...]
    """Paragraph counts by length in characters, e.g. ``("40-119", 812)``."""
    n_links_resolved: int
    """Outlinks to a page of the corpus: an agent can follow them."""
    n_links_unresolved: int
    """Outlinks to a domain of the corpus where the corpus has no page."""
    n_links_external: int
    unresolved_examples: tuple[str, ...]
    n_residue: int
    """Paragraphs still holding markup residue (a pilcrow or '[source]')."""
    n_pages_without_text: int | None = None
    """Pages skipped at ingest because no main text was found; None when not known (a corpus read from disk)."""

    @property
    def share_mid_sentence(self) -> float:
        return self.n_mid_sentence / self.n_prose_paragraphs if self.n_prose_paragraphs else 0.0

    @property
    def share_links_resolved(self) -> float:
        internal = self.n_links_resolved + self.n_links_unresolved
        return self.n_links_resolved / internal if internal else 0.0

    def rows(self) -> list[tuple[str, str]]:
        """(figure, value) pairs in reading order, for a table."""
        rows = [
            ("pages", f"{self.n_pages:,}"),
            ("paragraphs", f"{self.n_paragraphs:,} ({self.n_prose_paragraphs:,} prose, "
                           f"{self.n_paragraphs - self.n_prose_paragraphs:,} code/table/list)"),
            ("paragraph chars p10 / p50 / p90 / max",
             f"{self.chars_p10:,} / {self.chars_p50:,} / {self.chars_p90:,} / {self.chars_max:,}"),
            ("paragraphs by length", ", ".join(f"{label}: {count:,}" for label, count in self.length_histogram)),
            ("prose ending mid-sentence", f"{self.n_mid_sentence:,} ({self.share_mid_sentence:.1%})"),
            ("paragraphs with markup residue", f"{self.n_residue:,}"),
            ("internal links resolved", f"{self.n_links_resolved:,} of "
                                        f"{self.n_links_resolved + self.n_links_unresolved:,} "
                                        f"({self.share_links_resolved:.1%})"),
            ("external links", f"{self.n_links_external:,}"),
        ]
        if self.unresolved_examples:
            rows.append(("unresolved, e.g.", " ".join(self.unresolved_examples)))
        if self.n_pages_without_text is not None:
            rows.append(("pages without main text (skipped)", f"{self.n_pages_without_text:,}"))
        return rows


def ends_mid_sentence(paragraph: str, next_paragraph: str | None) -> bool:
    """Whether a prose paragraph's last sentence runs on into the next paragraph of its page.

    It does when it ends on a comma or a word such as 'the' (unless code or a list follows: "For example,"
    before a code block is whole), or when a paragraph of five or more words ends without punctuation and the
    next one goes on in lower-case prose (a heading followed by an identifier such as ``tls_verify`` does not).
    """
    text = paragraph.rstrip()
    next_is_block = next_paragraph is not None and "\n" in next_paragraph
    if _RUNS_ON.search(text):
        return not next_is_block
    return (bool(_ENDS_OPEN.search(text)) and len(text.split()) >= 5 and next_paragraph is not None
            and not next_is_block and bool(_GOES_ON.match(next_paragraph)))


def quality_report(corpus: Corpus, *, n_pages_without_text: int | None = None) -> QualityReport:
    """Figures on how a corpus's pages were extracted.

    Args:
        corpus: any corpus.
        n_pages_without_text: pages the ingest skipped for want of main text (`IngestReport.n_without_text`).
    """
    domains = set(corpus.column("domain").to_pylist())
    lengths: list[int] = []
    n_prose = n_mid = n_residue = 0
    n_resolved = n_unresolved = n_external = 0
    examples: dict[str, None] = {}
    for batch in corpus.table.select(["paragraphs", "outlinks"]).to_batches():
        for paragraphs, outlinks in zip(batch.column("paragraphs").to_pylist(), batch.column("outlinks").to_pylist(),
                                        strict=True):
            paragraphs = paragraphs or []
            for index, paragraph in enumerate(paragraphs):
                lengths.append(len(paragraph))
                n_residue += bool(_RESIDUE.search(paragraph))
                if "\n" in paragraph:
                    continue
                n_prose += 1
                following = paragraphs[index + 1] if index + 1 < len(paragraphs) else None
                n_mid += ends_mid_sentence(paragraph, following)
            for link in outlinks or []:
                if link in corpus:
                    n_resolved += 1
                elif urlparse(link).netloc.lower() in domains:
                    n_unresolved += 1
                    if len(examples) < _N_EXAMPLES:
                        examples[link] = None
                else:
                    n_external += 1
    sizes = np.asarray(lengths or [0])
    p10, p50, p90 = (int(v) for v in np.percentile(sizes, [10, 50, 90]))
    histogram = []
    for low, high in _LENGTH_BUCKETS:
        count = int(np.count_nonzero((sizes >= low) & (sizes < high if high is not None else True))) if lengths else 0
        histogram.append((f"{low}-{high - 1}" if high is not None else f">{low - 1}", count))
    return QualityReport(n_pages=len(corpus), n_paragraphs=len(lengths), n_prose_paragraphs=n_prose,
                         n_mid_sentence=n_mid, chars_p10=p10, chars_p50=p50, chars_p90=p90,
                         chars_max=int(sizes.max()), length_histogram=tuple(histogram), n_links_resolved=n_resolved,
                         n_links_unresolved=n_unresolved, n_links_external=n_external,
                         unresolved_examples=tuple(examples), n_residue=n_residue,
                         n_pages_without_text=n_pages_without_text)
