from __future__ import annotations

import re

import pytest

from drgym.errors import CorpusError
from drgym.web.corpus import Corpus, Page


def _page(url: str, tier: int = 2, text: str = "Some text.") -> Page:
    return Page(url=url, domain=url.split("/")[2], title=url, published="2024-01-02", tier=tier, paragraphs=(text,),
                outlinks=("https://x.example/",))


def test_saved_corpus_loads_memory_mapped_with_same_pages(tmp_path):
    pages = [_page(f"https://site{i}.example/p", tier=1 + i % 3, text=f"Paragraph {i}.") for i in range(50)]
    Corpus.from_pages(pages, name="c").save(tmp_path / "c")
    loaded = Corpus.load(tmp_path / "c")
    assert len(loaded) == 50
    assert loaded.n_paragraphs == 50
    assert loaded.page("https://site7.example/p") == pages[7]
    assert list(loaded) == pages


def test_unknown_url_raises_corpus_error_and_get_returns_none():
    corpus = Corpus.from_pages([_page("https://a.example/1")])
    assert corpus.get("https://a.example/2") is None
    assert "https://a.example/1" in corpus
    with pytest.raises(CorpusError, match=re.escape("no page at 'https://a.example/2'")):
        corpus.page("https://a.example/2")


def test_duplicate_url_is_rejected():
    with pytest.raises(CorpusError, match="duplicate page url"):
        Corpus.from_pages([_page("https://a.example/1"), _page("https://a.example/1")])


def test_invalid_tier_is_rejected():
    with pytest.raises(CorpusError, match="tier must be 1, 2 or 3"):
        _page("https://a.example/1", tier=4)


def test_loading_a_folder_that_is_no_corpus_says_how_to_build_one(tmp_path):
    with pytest.raises(CorpusError, match="drgym web ingest"):
        Corpus.load(tmp_path)


def test_empty_corpus_round_trips(tmp_path):
    Corpus.from_pages([]).save(tmp_path / "empty")
    assert len(Corpus.load(tmp_path / "empty")) == 0
