"""The sharded index ranks as one index over the whole corpus: in this process, pickled, inside an environment,
and on Ray actors spread over a real two-node cluster started on this machine."""

from __future__ import annotations

import json
import pickle
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import pytest

import drgym  # noqa: F401 - registers the environments
from drgym.errors import ConfigError, SearchIndexError
from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.web.corpus import Corpus, Page
from drgym.web.index import RankingConfig, SearchIndex
from drgym.web.shards import FIELDNORMS, ShardedIndex, build_shards, global_scores, query_terms, term_weight

from ..ray_cluster import two_node_cluster

FILTERS = [{}, {"tiers": [1, 2]}, {"published_after": "2015-01-01"}, {"tiers": [3], "published_before": "2020-12-31"}]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> ProceduralWorld:
    return ProceduralWorld.build(tmp_path_factory.mktemp("worlds") / "w", WorldSpec(seed=5, pages=240, n_deep_search=4,
                                                                                   n_deep_research=1),
                                 show_progress=False)


@pytest.fixture(scope="module")
def shards(world, tmp_path_factory) -> Path:
    return build_shards(world.path, tmp_path_factory.mktemp("shards") / "s", n_shards=3, workers=2,
                        show_progress=False)


def _queries(world: ProceduralWorld, n: int) -> list[str]:
    rng = random.Random(0)
    names = [entity["name"] for entity in world.meta["graph"]["entities"]]
    words = ["population", "revenue", "chief executive", "headquartered", "founding year", "census", "the", "of",
             "mayor", "melting point", "lru_cache"]
    return [f"{rng.choice(names)} {rng.choice(words)}" for _ in range(n)] + words + ["", "zzzz unknownword"]


def _ranked(hits) -> list[tuple[str, int]]:
    return [(hit.url, hit.paragraph_index) for hit in hits]


def test_the_float32_score_is_tantivys_own(world):
    """With one index's statistics, the score computed from a paragraph's tokens is the one tantivy returns."""
    from drgym.web.index import indexed_text
    from drgym.web.shards import _analyzer, mean_length

    index = world.index
    meta = json.loads((world.path / "index" / "index.json").read_text())
    n_tokens = sum(len(_analyzer().analyze(indexed_text(page.title, number, text)))
                   for page in world.corpus for number, text in enumerate(page.paragraphs))
    checked = 0
    for query in _queries(world, 40):
        terms = query_terms(query)
        if not terms:
            continue
        weights = [term_weight(index._searcher.doc_freq("text", t), meta["n_paragraphs"]) for t in terms]
        text_query = index._index.parse_query_lenient(" ".join(terms), ["text"])[0]
        hits = index._searcher.search(text_query, 10).hits
        token_lists = []
        for _, address in hits:
            row, number = index._row_of_pid[address.doc], index._number_of_pid[address.doc]
            _, title, _, _, text = index._pages.read(row, number)
            token_lists.append(_analyzer().analyze(indexed_text(title, number, text)))
        computed = global_scores(token_lists, terms, weights, mean_length(n_tokens, meta["n_paragraphs"]))
        assert computed.tolist() == [score for score, _ in hits], query  # to the last bit
        checked += len(hits)
    assert checked > 200
    assert FIELDNORMS[-1] == 2_013_265_944 and list(FIELDNORMS[38:44]) == [38, 39, 40, 42, 44, 46]


def test_sharded_search_ranks_as_one_index(world, shards):
    single, sharded = world.index, ShardedIndex.open(shards)
    assert (len(sharded), len(sharded.corpus), sharded.n_shards) == (len(single), len(single.corpus), 3)
    compared = 0
    for i, query in enumerate(_queries(world, 120)):
        filters = FILTERS[i % len(FILTERS)]
        expected, got = single.search(query, 10, **filters), sharded.search(query, 10, **filters)
        assert _ranked(got) == _ranked(expected), (query, filters)
        assert [h.score for h in got] == pytest.approx([h.score for h in expected], abs=1e-6)
        assert [h.text for h in got] == [h.text for h in expected]
        compared += bool(expected)
    assert compared > 100


def test_ties_are_cut_in_corpus_order_across_shards(tmp_path):
    pages = [Page(f"https://archive.example/r{i}", "archive.example", f"Record {i}", "2024-01-01", 1 + i % 3,
                  (f"Archive record number {i}.", "The register lists the molar mass of a compound."))
             for i in range(300)]
    Corpus.from_pages(pages).save(tmp_path / "corpus")
    SearchIndex.build(Corpus.load(tmp_path / "corpus"), show_progress=False)
    ranking = RankingConfig(candidates=20)
    single = SearchIndex.load(tmp_path / "corpus" / "index", ranking=ranking)
    sharded = ShardedIndex.open(build_shards(tmp_path / "corpus", tmp_path / "shards", n_shards=4, workers=1,
                                             show_progress=False), ranking=ranking)
    for query in ("register molar mass compound", "archive record", "record number 7"):
        assert _ranked(sharded.search(query, 20)) == _ranked(single.search(query, 20))


@pytest.mark.slow
def test_hybrid_search_over_shards_ranks_as_one_index(tmp_path):
    pytest.importorskip("onnxruntime")
    rng = random.Random(3)
    topics = ["stock markets fell on Tuesday", "recipes need flour and eggs", "the census counts inhabitants",
              "rivers flood in spring", "the bank raised interest rates", "a violin has four strings"]
    pages = [Page(f"https://site{i % 5}.example/p{i}", f"site{i % 5}.example", f"Page {i}", f"20{10 + i % 14}-01-01",
                  1 + i % 3, tuple(f"{rng.choice(topics)} in town {i}, note {j}." for j in range(3)))
             for i in range(60)]
    Corpus.from_pages(pages).save(tmp_path / "corpus")
    single = SearchIndex.build(Corpus.load(tmp_path / "corpus"), dense=True, show_progress=False)
    sharded = ShardedIndex.open(build_shards(tmp_path / "corpus", tmp_path / "shards", n_shards=2, workers=1,
                                             dense=True, show_progress=False))
    assert sharded.has_dense
    for query in ("equities dropped", "baking ingredients", "population count", "town 7 flood", "orchestra"):
        for filters in ({}, {"tiers": [2]}):
            expected = single.search(query, 8, mode="hybrid", **filters)
            assert _ranked(sharded.search(query, 8, mode="hybrid", **filters)) == _ranked(expected), query


def test_pages_are_read_from_their_shard(world, shards):
    sharded = ShardedIndex.open(shards)
    for page in list(world.corpus)[::40]:
        assert sharded.corpus.get(page.url) == page and page.url in sharded.corpus
    assert sharded.corpus.get("https://nowhere.example/") is None
    with pytest.raises(SearchIndexError, match="no page at 'https://nowhere.example/'"):
        sharded.corpus.page("https://nowhere.example/")


def test_a_sharded_index_survives_pickling(world, shards):
    """gymnasium's AsyncVectorEnv pickles the env: shards travel as their paths."""
    sharded = ShardedIndex.open(shards)
    copy = pickle.loads(pickle.dumps(sharded))
    query = _queries(world, 1)[0]
    assert _ranked(copy.search(query, 5)) == _ranked(sharded.search(query, 5))


def test_an_environment_runs_on_a_sharded_web(world, shards):
    sharded = ShardedIndex.open(shards)
    env = gym.make("drgym/DeepSearch-v1", tasks=str(world.path / "tasks.jsonl"), web=sharded)
    try:
        task = next(t for t in world.tasks if t.kind == "deep_search")
        env.reset(seed=0, options={"task_id": task.id})
        hit = world.index.search(task.question, 1)[0]
        call = {"name": "batch_web_surfer", "arguments": {"queries": [task.question], "urls": [hit.url]}}
        obs, reward, terminated, truncated, info = env.step(f"<tool_call>{json.dumps(call)}</tool_call>")
        assert hit.url in obs and not terminated and "error" not in obs.split("## page")[1][:200]
        obs, reward, terminated, truncated, info = env.step(f"<answer>{task.answers[0]}</answer>")
        assert (reward, terminated) == (1.0, True)
    finally:
        env.close()


def test_bad_folders_and_counts_are_refused(world, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'busy'} exists and holds no shards")):
        build_shards(world.path, tmp_path / "busy", n_shards=2)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match=re.escape("n_shards must be a whole number of 1 or more, got 0")):
        build_shards(world.path, tmp_path / "none", n_shards=0)
    with pytest.raises(SearchIndexError, match="no sharded index at .* build one with"):
        ShardedIndex.open(tmp_path)


# -- a real two-node Ray cluster ---------------------------------------------------------------------------------

DRIVER = textwrap.dedent("""
    import json, sys, time
    import ray
    from drgym.web.corpus import Corpus
    from drgym.web.index import SearchIndex
    from drgym.web.shards import ShardedIndex

    address, world, shards = sys.argv[1:4]
    queries = json.loads(sys.argv[4])
    ray.init(address=address, log_to_driver=False)
    while len([node for node in ray.nodes() if node["Alive"]]) < 2:  # the second node may still be joining
        time.sleep(0.5)
    sharded = ShardedIndex.serve(shards, cpus_per_shard=0.5)
    single = SearchIndex.load(world + "/index", Corpus.load(world))
    rank = lambda hits: [[h.url, h.paragraph_index] for h in hits]
    same = [rank(sharded.search(q, 10)) == rank(single.search(q, 10)) for q in queries]
    same += [rank(sharded.search(q, 10, tiers=[1, 2])) == rank(single.search(q, 10, tiers=[1, 2])) for q in queries]
    page = next(iter(single.corpus))
    print(json.dumps({"nodes": sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]),
                      "shard_nodes": sharded.shard_nodes(), "same": same,
                      "page_read": sharded.corpus.get(page.url) == page}))
""")


def test_shards_of_several_segments_cut_ties_in_corpus_order(tmp_path, monkeypatch):
    """A shard index over `_PART_PARAGRAPHS` has a segment per part, where tantivy's choice among a tie at a read's
    cut need not be the first paragraphs: the shard still reads every paragraph that can reach the top."""
    from drgym.web import index as index_module

    pages = [Page(f"https://archive.example/r{i}", "archive.example", f"Record {i}", "2024-01-01", 1 + i % 3,
                  (f"Archive record number {i}.", "The register lists the molar mass of a compound.",
                   "The compound has a molar mass listed in the register.")) for i in range(400)]
    Corpus.from_pages(pages).save(tmp_path / "corpus")
    ranking = RankingConfig(candidates=20)
    single = SearchIndex.build(Corpus.load(tmp_path / "corpus"), show_progress=False, ranking=ranking)
    assert single._searcher.num_segments == 1
    monkeypatch.setattr(index_module, "_PART_PARAGRAPHS", 60)
    sharded = ShardedIndex.open(build_shards(tmp_path / "corpus", tmp_path / "shards", n_shards=2, workers=1,
                                             show_progress=False), ranking=ranking)
    assert all(shard.index._searcher.num_segments > 5 for shard in sharded._transport.shards)
    for query in ("register molar mass compound", "archive record", "record number 7", "compound listed", "molar"):
        for k in (3, 20, 45):
            assert _ranked(sharded.search(query, k)) == _ranked(single.search(query, k)), (query, k)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # two Ray nodes on a loaded 2-core machine take minutes to start and stop
def test_shards_served_by_actors_on_two_nodes_rank_as_one_index(world, shards, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'drgym[ray]')")
    with two_node_cluster(tmp_path, cpus_per_node=2) as (address, env):
        script = tmp_path / "driver.py"
        script.write_text(DRIVER)
        queries = _queries(world, 25)
        driver = subprocess.run([sys.executable, str(script), address, str(world.path), str(shards),
                                 json.dumps(queries)], env=env, capture_output=True, text=True)
        assert driver.returncode == 0, driver.stderr[-3000:]
        report = json.loads(driver.stdout.strip().splitlines()[-1])
        assert len(report["nodes"]) == 2 and sorted(set(report["shard_nodes"])) == report["nodes"]  # both serve
        assert all(report["same"]) and len(report["same"]) == 2 * len(queries)
        assert report["page_read"]

