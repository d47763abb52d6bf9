from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from drgym.errors import ConfigError, SearchIndexError
from drgym.web.corpus import Corpus, Page
from drgym.web.index import FORMAT_VERSION, RankingConfig, SearchIndex

PAGES = [
    Page("https://stats.kelvara.gov/pop", "stats.kelvara.gov", "Population", "2024-03-01", 1,
         ("Kelvaport has 120,000 inhabitants according to the census.", "The census is held every five years.")),
    Page("https://forum.example/t/9", "forum.example", "Thread", "2021-05-05", 3,
         ("Kelvaport has 150,000 inhabitants according to the census.", "Anyone been there?")),
    Page("https://news.example/a", "news.example", "Markets", "2023-01-01", 2,
         ("Stock markets fell sharply on Tuesday after the bank's announcement.", "Recipes need flour and eggs.")),
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    Corpus.from_pages(PAGES).save(folder)
    SearchIndex.build(Corpus.load(folder), show_progress=False)
    return folder


def test_search_returns_paragraph_hits_with_page_metadata(saved):
    index = SearchIndex.load(saved / "index")
    hit = index.search("flour eggs", k=1)[0]
    assert (hit.url, hit.paragraph_index, hit.tier, hit.domain) == ("https://news.example/a", 1, 2, "news.example")
    assert hit.text == "Recipes need flour and eggs."


def test_authority_prior_breaks_ties_towards_tier_one(saved):
    index = SearchIndex.load(saved / "index")
    assert [h.tier for h in index.search("Kelvaport inhabitants census", k=2)] == [1, 3]
    flat = SearchIndex.load(saved / "index", ranking=RankingConfig(authority_weight=0.0))
    hits = flat.search("Kelvaport inhabitants census", k=2)
    assert hits[0].relevance == pytest.approx(hits[1].relevance)


def test_filters_by_tier_domain_and_date(saved):
    index = SearchIndex.load(saved / "index")
    assert {h.tier for h in index.search("Kelvaport", tiers=[3])} == {3}
    assert {h.domain for h in index.search("Kelvaport", domains=["stats.kelvara.gov"])} == {"stats.kelvara.gov"}
    assert {h.url for h in index.search("Kelvaport", published_before="2022-01-01")} == {"https://forum.example/t/9"}
    assert {h.url for h in index.search("Kelvaport", published_after="2022")} == {"https://stats.kelvara.gov/pop"}


@pytest.mark.parametrize("query", ['"unbalanced', "title:(", "AND OR NOT", "-+*:^~", "", "   "])
def test_query_syntax_is_never_an_error(saved, query):
    index = SearchIndex.load(saved / "index")
    assert isinstance(index.search(query), list)


def test_hybrid_needs_dense_vectors(saved):
    with pytest.raises(ConfigError, match="drgym web index --dense"):
        SearchIndex.load(saved / "index").search("markets", mode="hybrid")


def test_stale_index_is_detected(tmp_path):
    Corpus.from_pages(PAGES[:2]).save(tmp_path)
    SearchIndex.build(Corpus.load(tmp_path), show_progress=False)
    Corpus.from_pages(PAGES).save(tmp_path)
    with pytest.raises(SearchIndexError, match="is stale"):
        SearchIndex.load(tmp_path / "index")


def test_missing_index_says_how_to_build_it(tmp_path):
    with pytest.raises(SearchIndexError, match="drgym web index"):
        SearchIndex.load(tmp_path / "index")


def test_bm25_index_builds_and_searches_without_importing_torch(saved, tmp_path):
    code = (
        "import sys\n"
        "from drgym.web.corpus import Corpus\n"
        "from drgym.web.index import SearchIndex\n"
        f"corpus = Corpus.load({str(saved)!r})\n"
        f"SearchIndex.build(corpus, {str(tmp_path / 'ix')!r}, show_progress=False)\n"
        f"assert SearchIndex.load({str(tmp_path / 'ix')!r}, corpus).search('Kelvaport')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hybrid_search_finds_a_paraphrase_bm25_misses(tmp_path):
    Corpus.from_pages(PAGES).save(tmp_path)
    index = SearchIndex.build(Corpus.load(tmp_path), dense=True, show_progress=False)
    assert index.search("equities dropped", mode="bm25") == []
    assert index.search("equities dropped", k=1, mode="hybrid")[0].url == "https://news.example/a"
    reloaded = SearchIndex.load(tmp_path / "index")
    assert reloaded.has_dense
    assert reloaded.search("equities dropped", k=1, mode="hybrid", tiers=[2])[0].tier == 2


@pytest.mark.parametrize("build", range(3))
def test_equal_scores_are_cut_in_corpus_order_on_every_build(tmp_path, build):
    """More paragraphs tie than the candidate limit keeps: the first ones in the corpus are kept, whatever the
    build (with several writer threads the segments, hence the ties' order, differed between builds)."""
    pages = [Page(f"https://archive.example/r{i}", "archive.example", f"Record {i}", "2024-01-01", 1,
                  (f"Archive record number {i}.", "The register lists the molar mass of a compound."))
             for i in range(400)]
    folder = tmp_path / "corpus"
    Corpus.from_pages(pages).save(folder)
    SearchIndex.build(Corpus.load(folder), show_progress=False)
    index = SearchIndex.load(folder / "index", ranking=RankingConfig(candidates=20))
    hits = index.search("register molar mass compound", k=20)
    assert [h.url for h in hits] == [f"https://archive.example/r{i}" for i in range(20)]


CODE_PAGES = [
    Page("https://docs.example/functools", "docs.example", "functools", "2024-01-01", 1,
         ("Decorate a function with functools.lru_cache to memoise its results.",
          "The cache grows without bound unless maxsize is set.")),
    Page("https://docs.example/http", "docs.example", "http", "2024-01-01", 1,
         ("HTTPStatus.IM_A_TEAPOT is the status 418 of RFC 2324.", "A status code is a number.")),
    Page("https://docs.example/pickle", "docs.example", "pickle", "2024-01-01", 1,
         ("pickle.DEFAULT_PROTOCOL is the protocol used when none is given.", "Pickle files hold objects.")),
    Page("https://docs.example/server", "docs.example", "http.server", "2024-01-01", 1,
         ("class HTTPServer(socketserver.TCPServer) stores the server address.",)),
    Page("https://blog.example/servers", "blog.example", "Servers", "2024-01-01", 2,
         ("Our http_server helper wraps the standard library for tests.",)),
    Page("https://blog.example/caching", "blog.example", "Caching", "2024-01-01", 2,
         ("An LRU cache evicts the least recently used entry; a default protocol is agreed first.",)),
]


@pytest.fixture(scope="module")
def code_index():
    return SearchIndex.build(Corpus.from_pages(CODE_PAGES), show_progress=False)


@pytest.mark.parametrize(("query", "url"), [
    ("lru_cache", "https://docs.example/functools"),
    ("functools.lru_cache", "https://docs.example/functools"),
    ("LruCache decorator", "https://docs.example/functools"),
    ("IM_A_TEAPOT", "https://docs.example/http"),
    ("HTTPStatus.IM_A_TEAPOT", "https://docs.example/http"),
    ("DEFAULT_PROTOCOL", "https://docs.example/pickle"),
    ("pickle.DEFAULT_PROTOCOL", "https://docs.example/pickle"),
    ("HTTPServer", "https://docs.example/server"),
    ("socketserver.TCPServer", "https://docs.example/server"),
])
def test_identifier_queries_find_their_page_first(code_index, query, url):
    assert code_index.search(query, k=1)[0].url == url


def test_camel_case_parts_are_words_and_snake_case_matches_camel_case(code_index):
    assert "https://docs.example/server" in {h.url for h in code_index.search("tcp server", k=3)}
    for query in ("HttpServer", "http_server"):
        found = {h.url for h in code_index.search(query, k=2)}
        assert found == {"https://docs.example/server", "https://blog.example/servers"}, query


def test_identifier_expansion():
    from drgym.web.index import _identifier_terms, _query_words

    assert _identifier_terms("functools.lru_cache") == ["lrucache", "functoolslrucache"]
    assert _identifier_terms("HTTPServer") == ["http", "server"]
    assert _identifier_terms("IM_A_TEAPOT") == ["imateapot"]
    assert _identifier_terms("lru") == []
    assert _query_words("Kelvaport population 3.5") == ["kelvaport", "population", "3", "5"]
    assert _query_words("lru_cache size") == ["lru", "cache", "lrucache", "size"]


def test_an_index_of_an_older_format_asks_to_be_rebuilt(tmp_path):
    Corpus.from_pages(PAGES).save(tmp_path)
    SearchIndex.build(Corpus.load(tmp_path), show_progress=False)
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    (tmp_path / "index" / "index.json").write_text(json.dumps({**meta, "format_version": FORMAT_VERSION - 1}))
    with pytest.raises(SearchIndexError, match=re.escape(f"index format {FORMAT_VERSION - 1} is not supported")):
        SearchIndex.load(tmp_path / "index")


def test_a_filter_that_keeps_everything_changes_no_score(saved):
    """Filters score nothing: tantivy's 1.0 per filter clause (0.0 for a date range covering every date) had
    compressed relevance to (s + 1) / (top + 1), so filtered searches leaned more on authority."""
    index = SearchIndex.load(saved / "index")
    plain = index.search("Kelvaport inhabitants census five", k=4)
    for filters in ({"tiers": [1, 2, 3]}, {"published_before": "2030-01-01"}, {"published_after": "2000-01-01"},
                    {"domains": [page.domain for page in PAGES]}):
        assert index.search("Kelvaport inhabitants census five", k=4, **filters) == plain, filters


def test_an_index_loaded_without_its_engine_opens_it_on_the_first_search(saved):
    """The files are loaded and the tantivy reader (it runs a thread) is not, until first needed: a process that
    forks workers loads the rest, which they share."""
    eager = SearchIndex.load(saved / "index")
    lazy = SearchIndex.load(saved / "index", open_engine=False)
    assert "_searcher" not in vars(lazy) and len(lazy) == len(eager)
    assert lazy.search("Kelvaport inhabitants census", k=3) == eager.search("Kelvaport inhabitants census", k=3)
    reader = vars(lazy)["_searcher"]
    lazy.open_engine()  # open already: nothing changes
    assert vars(lazy)["_searcher"] is reader
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        lazy.nothing_here  # noqa: B018


def test_a_broken_tantivy_folder_is_a_search_index_error_naming_it(tmp_path):
    Corpus.from_pages(PAGES).save(tmp_path)
    SearchIndex.build(Corpus.load(tmp_path), tmp_path / "index", show_progress=False)
    lazy = SearchIndex.load(tmp_path / "index", open_engine=False)
    (tmp_path / "index" / "tantivy" / "meta.json").write_text("garbage")
    for opening in (lazy.open_engine, lambda: SearchIndex.load(tmp_path / "index")):
        with pytest.raises(SearchIndexError, match=re.escape(f"{tmp_path / 'index'}: the tantivy index cannot be opened")):
            opening()
    (tmp_path / "index" / "tantivy" / "meta.json").unlink()
    with pytest.raises(SearchIndexError, match="tantivy index is missing"):
        SearchIndex.load(tmp_path / "index", open_engine=False)
