"""`SearchIndex.search` reads only the candidates its re-rank needs and builds hits from the Arrow buffers; these
tests hold it to a straightforward implementation (every candidate fetched, numpy re-rank, one Arrow lookup per
field) on a seeded procedural world and on a corpus made of ties."""

from __future__ import annotations

import random

import numpy as np
import pytest
import tantivy

from drgym.web import index as index_module
from drgym.web.corpus import Corpus, Page
from drgym.web.index import RankingConfig, SearchHit, SearchIndex, _query_words

RANKINGS = [
    RankingConfig(),
    RankingConfig(authority_weight=0.0),
    RankingConfig(authority_weight=0.3, candidates=20),
    RankingConfig(authority_weight=0.05, tier_prior=(0.0, 0.5, 1.0), candidates=7),
]
FILTERS = [{}, {"tiers": [1, 2]}, {"published_after": "2021-06-01"}, {"tiers": [3], "published_before": "2024-12-31"}]


def reference_search(index: SearchIndex, query: str, k: int, **filters) -> list[SearchHit]:
    """The ranking the module docstring describes, computed the plain way: all candidates, then re-rank."""
    words = _query_words(query)
    if k <= 0 or not words:
        return []
    text_query = index._text_query(words, filters.get("domains"), filters.get("tiers"),
                                   filters.get("published_after"), filters.get("published_before"))
    hits = index._searcher.search(text_query, max(index.ranking.candidates, k), count=False).hits
    if not hits:
        return []
    pids = np.array(index._searcher.fast_field_values("pid", [address for _, address in hits]), dtype=np.int64)
    scores = np.array([score for score, _ in hits], dtype=np.float64)
    relevance = scores / scores.max() if scores.max() > 0 else np.ones_like(scores)
    corpus = index.corpus
    rows = np.asarray(index._para_row)[pids]
    tiers = corpus.column("tier").to_numpy()[rows].astype(np.int64)
    final = relevance + index.ranking.authority_weight * np.asarray(index.ranking.tier_prior, dtype=np.float64)[tiers - 1]
    result = []
    for i in np.lexsort((pids, -final))[:k]:
        row, number = int(rows[i]), int(np.asarray(index._para_idx)[pids[i]])
        column = corpus.column
        result.append(SearchHit(url=column("url")[row].as_py(), title=column("title")[row].as_py(),
                                domain=column("domain")[row].as_py(), tier=int(tiers[i]),
                                published=column("published")[row].as_py(), paragraph_index=number,
                                text=corpus.paragraph(row, number), score=float(final[i]),
                                relevance=float(relevance[i])))
    return result


def _world_queries(world, n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    entities = world.meta["graph"]["entities"]
    vocabulary = sorted({word for page in world.corpus for p in page.paragraphs for word in p.split()[:12]})
    attributes = ("population", "revenue", "chief executive", "headquartered", "founding year", "melting point",
                  "workforce", "unit price", "mayor", "organised", "table", "latest figures")
    queries = [f"{rng.choice(entities)['name']} {rng.choice(attributes)}" for _ in range(n // 2)]
    queries += [" ".join(rng.sample(vocabulary, rng.randint(1, 4))) for _ in range(n - len(queries))]
    return queries


def _reopened(index: SearchIndex, ranking: RankingConfig, *, doc_is_pid: bool) -> SearchIndex:
    return SearchIndex(index.corpus, tantivy.Index.open(str(index.path / "tantivy")),
                       np.load(index.path / "para_row.npy", mmap_mode="r"),
                       np.load(index.path / "para_idx.npy", mmap_mode="r"), path=index.path, ranking=ranking,
                       segment_starts=[0] if doc_is_pid else None)


@pytest.fixture(scope="module")
def tie_index(tmp_path_factory):
    """Paragraphs drawn from six sentences on 240 pages of all three tiers: scores tie everywhere."""
    rng = random.Random(7)
    sentences = ("The register lists the molar mass of the compound.", "Molar mass of the compound, per the register.",
                 "The compound has a molar mass listed in the register and in the annual register.",
                 "Register entries list the compound.", "Mass and molar mass differ.", "The annual report lists revenue.")
    pages = [Page(f"https://site{i % 9}.example/p{i}", f"site{i % 9}.example", f"Record {i}",
                  f"20{18 + i % 8}-0{1 + i % 9}-1{i % 10}", 1 + i % 3,
                  tuple(rng.choice(sentences) for _ in range(rng.randint(1, 4))))
             for i in range(240)]
    folder = tmp_path_factory.mktemp("ties")
    Corpus.from_pages(pages).save(folder)
    return SearchIndex.build(Corpus.load(folder), show_progress=False)


@pytest.mark.parametrize("ranking", RANKINGS, ids=["default", "no-authority", "strong-authority", "reversed-priors"])
@pytest.mark.parametrize("doc_is_pid", [True, False], ids=["doc-ids", "pid-field"])
def test_search_equals_the_reference_on_a_procedural_world(tiny_world, ranking, doc_is_pid):
    index = _reopened(tiny_world.index, ranking, doc_is_pid=doc_is_pid)
    assert index._segment_starts == ([0] if doc_is_pid else None)
    limits: list[int] = []
    engine = index._bm25

    def counted_engine(query, limit):
        limits.append(limit)
        return engine(query, limit)

    index._bm25 = counted_engine
    engine_calls = []
    for n, query in enumerate(_world_queries(tiny_world, 360)):
        k = (1, 3, 10, 25)[n % 4]
        filters = FILTERS[n % len(FILTERS)] if n % 3 == 0 else {}
        limits.clear()
        assert index.search(query, k, **filters) == reference_search(index, query, k, **filters), (query, k, filters)
        engine_calls.append(len(limits))
    # both ends of the rule ran: some searches stopped at 3k candidates, others went on to read them all
    assert engine_calls.count(1) > 10 and engine_calls.count(2) > 10


@pytest.mark.parametrize("ranking", RANKINGS, ids=["default", "no-authority", "strong-authority", "reversed-priors"])
def test_search_equals_the_reference_when_scores_tie(tie_index, ranking):
    index = _reopened(tie_index, ranking, doc_is_pid=True)
    words = ("register", "molar", "mass", "compound", "annual", "lists", "revenue", "differ")
    rng = random.Random(3)
    tied_cuts = 0
    for n in range(150):
        query = " ".join(rng.sample(words, rng.randint(1, 3)))
        k = (1, 2, 5, 10, 30)[n % 5]
        filters = FILTERS[n % len(FILTERS)] if n % 2 else {}
        expected = reference_search(index, query, k, **filters)
        assert index.search(query, k, **filters) == expected, (query, k, filters)
        tied_cuts += len(expected) == k and k > 1 and expected[-1].score == expected[-2].score
    assert tied_cuts > 20  # the cut at k falls inside a tie often: the paragraph-id tie-break is exercised


def test_one_writer_thread_gives_doc_ids_equal_to_paragraph_ids(tie_index):
    reloaded = SearchIndex.load(tie_index.path)
    assert reloaded._segment_starts == [0]


def test_hits_are_search_hits_like_any_other(tie_index):
    """Hits are built without `SearchHit.__init__` (it costs a fifth of a search): they are still frozen
    SearchHits that compare, hash, print and copy like constructed ones."""
    import dataclasses

    hit = tie_index.search("molar mass", 1)[0]
    built = SearchHit(**dataclasses.asdict(hit))
    assert type(hit) is SearchHit and hit == built and hash(hit) == hash(built) and repr(hit) == repr(built)
    assert list(vars(hit)) == [field.name for field in dataclasses.fields(SearchHit)]
    assert dataclasses.replace(hit, text="x").text == "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.text = "changed"  # type: ignore[misc]


def test_an_index_written_in_segments_is_merged_into_one_in_paragraph_order(tie_index, tmp_path, monkeypatch):
    """The writer commits a segment per `_SEGMENT_PARAGRAPHS` paragraphs, so that memory holds one segment's
    postings; tantivy merges the segments into one, sorted by paragraph id, that searches as one written whole."""
    monkeypatch.setattr(index_module, "_SEGMENT_PARAGRAPHS", 100)
    assert index_module._segment_count(tie_index.corpus.n_paragraphs) == 8
    written_whole = SearchIndex.load(tie_index.path)
    segmented = SearchIndex.build(tie_index.corpus, tmp_path / "index", show_progress=False)
    assert segmented._searcher.num_segments == 1 and segmented._segment_starts == [0]
    assert SearchIndex.load(tmp_path / "index", tie_index.corpus)._segment_starts == [0]
    rng = random.Random(5)
    words = ("register", "molar", "mass", "compound", "annual", "lists", "revenue", "differ")
    for n in range(100):
        query, k = " ".join(rng.sample(words, rng.randint(1, 3))), (1, 2, 5, 10, 30)[n % 5]
        filters = FILTERS[n % len(FILTERS)] if n % 2 else {}
        assert segmented.search(query, k, **filters) == written_whole.search(query, k, **filters), (query, k)


def test_segments_are_a_power_of_eight_each_within_the_segment_size():
    limit = index_module._SEGMENT_PARAGRAPHS
    assert [index_module._segment_count(n) for n in (0, limit, limit + 1, 8 * limit, 8 * limit + 1)] == [1, 1, 8, 8, 64]


def _segment_files(path) -> list[dict[str, bytes]]:
    """Each segment's files (by extension), in the order ``meta.json`` lists the segments."""
    import json

    folder = path / "tantivy"
    ids = [segment["segment_id"].replace("-", "") for segment in json.loads((folder / "meta.json").read_text())["segments"]]
    return [{file.suffix: file.read_bytes() for file in folder.glob(f"{segment}.*")} for segment in ids]


def test_an_index_written_in_parts_has_a_segment_per_part_in_paragraph_order(tie_index, tmp_path, monkeypatch):
    """Over `_PART_PARAGRAPHS` paragraphs a saved index is written in parts, each merged into one segment, listed in
    paragraph order: hits are named from each segment's first paragraph id, the same as the fast field; the top scores
    are the one-segment index's, and every paragraph above the cut is the same; two builds are the same bytes."""
    monkeypatch.setattr(index_module, "_PART_PARAGRAPHS", 160)
    monkeypatch.setattr(index_module, "_SEGMENT_PARAGRAPHS", 50)  # each part is itself written in 8 segments
    n_paragraphs = tie_index.corpus.n_paragraphs
    ends = index_module._part_ends(n_paragraphs)
    assert len(ends) >= 4 and ends[-1] == n_paragraphs and max(b - a for a, b in zip([0, *ends], ends)) <= 160
    parted = SearchIndex.build(tie_index.corpus, tmp_path / "a", show_progress=False)
    starts = [0, *ends[:-1]]
    assert parted._searcher.num_segments == len(ends) and parted._segment_starts == starts
    assert not (tmp_path / "a" / "parts").exists()
    reloaded = SearchIndex.load(tmp_path / "a", tie_index.corpus)
    assert reloaded._segment_starts == starts
    whole = SearchIndex.load(tie_index.path)
    assert whole._segment_starts == [0]
    rng = random.Random(11)
    words = ("register", "molar", "mass", "compound", "annual", "lists", "revenue", "differ")
    ties_at_cut = 0
    for n in range(150):
        query, k = " ".join(rng.sample(words, rng.randint(1, 3))), (1, 2, 5, 10, 30)[n % 5]
        filters = FILTERS[n % len(FILTERS)] if n % 2 else {}
        text_query = reloaded._text_query(_query_words(query), filters.get("domains"), filters.get("tiers"),
                                          filters.get("published_after"), filters.get("published_before"))
        hits = reloaded._searcher.search(text_query, 40, count=False).hits
        pids, scores = reloaded._bm25(text_query, 40)
        assert pids == (reloaded._searcher.fast_field_values("pid", [a for _, a in hits]) if hits else [])
        whole_pids, whole_scores = whole._bm25(text_query, 40)
        assert scores == whole_scores, query
        above = [pid for pid, score in zip(whole_pids, whole_scores) if score > whole_scores[-1]]
        assert [pid for pid, score in zip(pids, scores) if score > scores[-1]] == above, query
        ties_at_cut += len(above) < len(whole_pids)
        assert reloaded.search(query, k, **filters) == reference_search(reloaded, query, k, **filters), (query, k)
    assert ties_at_cut > 50
    SearchIndex.build(tie_index.corpus, tmp_path / "b", show_progress=False)
    assert _segment_files(tmp_path / "a") == _segment_files(tmp_path / "b")


def test_part_ends_split_evenly_within_the_limit():
    limit = index_module._PART_PARAGRAPHS
    assert index_module._part_ends(0) == [0] and index_module._part_ends(limit) == [limit]
    assert index_module._part_ends(limit + 1) == [(limit + 1) // 2, limit + 1]
    assert index_module._part_ends(3 * limit) == [limit, 2 * limit, 3 * limit]


def test_an_index_saved_before_parts_is_read_as_one_segment(tie_index, tmp_path):
    """An ``index.json`` written before there were parts has ``doc_is_pid`` and no ``segment_starts``: one segment
    starting at 0 when it says so, the fast field otherwise (both search alike)."""
    import json
    import shutil

    shutil.copytree(tie_index.path, tmp_path / "index")
    meta_path = tmp_path / "index" / "index.json"
    meta = json.loads(meta_path.read_text())
    assert meta.pop("segment_starts") == [0]
    meta_path.write_text(json.dumps(meta))
    legacy = SearchIndex.load(tmp_path / "index", tie_index.corpus)
    assert legacy._segment_starts == [0]
    meta_path.write_text(json.dumps({**meta, "doc_is_pid": False}))
    unchecked = SearchIndex.load(tmp_path / "index", tie_index.corpus)
    assert unchecked._segment_starts is None
    for query in ("molar mass", "annual register", "compound"):
        assert legacy.search(query, 10) == unchecked.search(query, 10) == tie_index.search(query, 10)
    # starts that are no paragraph ids from 0 up are not trusted: the fast field names the hits
    for starts in ([5], [0, 0], [0, meta["n_paragraphs"]], [0.0], "0", None, []):
        meta_path.write_text(json.dumps({**meta, "segment_starts": starts}))
        assert SearchIndex.load(tmp_path / "index", tie_index.corpus)._segment_starts is None, starts
        assert SearchIndex.load(tmp_path / "index", tie_index.corpus).search("molar mass", 10) == \
            tie_index.search("molar mass", 10)


def test_paragraph_places_are_written_as_the_pages_are_read(tmp_path, monkeypatch):
    """``para_row.npy`` and ``para_idx.npy`` are written a batch of pages at a time, the same arrays as computed whole,
    also when the last pages hold no paragraph (read after the last document) and the index is written in parts."""
    monkeypatch.setattr(index_module, "_READ_ROWS", 7)
    monkeypatch.setattr(index_module, "_PART_PARAGRAPHS", 40)
    rng = random.Random(2)
    counts = [rng.choice((0, 1, 2, 5)) for _ in range(60)] + [0, 0, 0]
    pages = [Page(f"https://p.example/{i}", "p.example", f"Page {i}", "2024-01-01", 1,
                  tuple(f"Paragraph {n} of page {i}." for n in range(count))) for i, count in enumerate(counts)]
    Corpus.from_pages(pages).save(tmp_path / "corpus")
    index = SearchIndex.build(Corpus.load(tmp_path / "corpus"), show_progress=False)
    rows, numbers = index_module._paragraph_places(np.array(counts))
    for name, expected in (("para_row.npy", rows), ("para_idx.npy", numbers)):
        saved = np.load(tmp_path / "corpus" / "index" / name)
        assert saved.dtype == expected.dtype and np.array_equal(saved, expected)
    assert np.array_equal(np.asarray(index._para_row), rows) and index._searcher.num_segments > 1
    hit = index.search("paragraph 4 of page", 1)[0]
    assert hit.text == f"Paragraph {hit.paragraph_index} of page {hit.url.rsplit('/', 1)[1]}."
