"""`Corpus.write`: pages streamed to disk as they come, with the bytes of an in-memory corpus saved."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drgym.errors import CorpusError
from drgym.web.corpus import Corpus, Page, PageImage

_FILES = ("pages.arrow", "urls.npy", "rows.npy", "corpus.json")


def _pages(count: int, html_until: int = 0):
    """Pages with every kind of field; html on every fifth page, and on all of the first `html_until` (pieces of
    the batches without a missing value, next to pieces with some)."""
    for number in range(count):
        images = (PageImage(f"https://a.example/{number}.png", "alt", "caption"),) if number % 7 == 0 else ()
        yield Page(f"https://a.example/{number}", "a.example", f"Page {number}", "2024-01-02", 1 + number % 3,
                   tuple(f"Paragraph {i} of page {number}." for i in range(number % 4)),
                   outlinks=(f"https://a.example/{number + 1}",), html="<p>x</p>" if number % 5 == 0 or number < html_until else "",
                   images=images)


@pytest.mark.parametrize(("count", "html_until"), [(0, 0), (1, 0), (8191, 0), (8192, 0), (8193, 0), (20000, 0),
                                                   (20000, 3000)])
def test_written_corpus_has_the_bytes_of_a_saved_in_memory_corpus(tmp_path: Path, count: int, html_until: int):
    Corpus.from_pages(_pages(count, html_until), name="w").save(tmp_path / "saved")
    written = Corpus.write(tmp_path / "written", _pages(count, html_until), name="w")
    for name in _FILES:
        assert (tmp_path / "written" / name).read_bytes() == (tmp_path / "saved" / name).read_bytes(), name
    assert len(written) == count and written.path == tmp_path / "written"
    if count:
        assert written.page(f"https://a.example/{count - 1}") == next(p for p in _pages(count) if
                                                                       p.url == f"https://a.example/{count - 1}")


def test_pages_are_taken_from_the_iterator_as_they_come(tmp_path: Path):
    taken = []

    def pages():
        for page in _pages(20000):
            taken.append(page.url)
            yield page

    corpus = Corpus.write(tmp_path, pages())
    assert len(taken) == len(corpus) == 20000  # one pass over a generator that cannot be replayed


def test_a_url_seen_twice_is_an_error_that_names_it_and_leaves_no_files(tmp_path: Path):
    pages = [*_pages(9000), Page("https://a.example/17", "a.example", "Again", "", 2, ("Copy.",)),
             Page("https://a.example/3", "a.example", "Again", "", 2, ("Copy.",))]
    with pytest.raises(CorpusError, match=re.escape("duplicate page url 'https://a.example/17'")):
        Corpus.write(tmp_path, pages)
    assert not any((tmp_path / name).exists() for name in _FILES)
