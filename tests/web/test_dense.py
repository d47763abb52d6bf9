from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from drgym.errors import ConfigError
from drgym.web import dense
from drgym.web.corpus import Corpus, Page
from drgym.web.dense import DenseEncoder, export_onnx, onnx_model_path
from drgym.web.index import SearchIndex

pytest.importorskip("onnxruntime")

SAMPLE = [
    "Kelvaport has 120,000 inhabitants according to the census.",
    "",
    "a",
    "Stock markets fell sharply on Tuesday after the bank's announcement.",
    "Décor, naïve café — Ünïcödé text with emoji 🚀 and CJK 東京.",
    "Decorate a function with functools.lru_cache to memoise its results. " * 40,  # past 256 tokens: cut
    "def lru_cache(maxsize=128, typed=False):\n    return decorating_function",
    *(f"Paragraph {i} of the register lists {i * 7} compounds and their molar masses in grams." for i in range(40)),
]


@pytest.fixture(scope="module")
def exported():
    return export_onnx()


@pytest.mark.slow
def test_onnx_vectors_match_the_torch_model_per_paragraph(exported):
    fast = DenseEncoder(backend="onnx", batch_size=8).encode(SAMPLE)
    reference = DenseEncoder(backend="torch", batch_size=8).encode(SAMPLE)
    assert fast.shape == reference.shape == (len(SAMPLE), 384)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    cosine = (fast * reference).sum(axis=1)
    assert cosine.min() >= 0.999, f"paragraph {int(cosine.argmin())}: cosine {cosine.min():.6f}"


@pytest.mark.slow
def test_a_query_vector_is_the_paragraph_vector(exported):
    encoder = DenseEncoder(backend="onnx", batch_size=16)
    together = encoder.encode(SAMPLE)
    for i in (0, 3, 5):  # alone (no padding) and in a padded batch: the same vector
        assert float(together[i] @ encoder.encode_query(SAMPLE[i])) >= 0.9999


@pytest.mark.slow
def test_the_export_is_checked_and_recorded(exported):
    assert exported == onnx_model_path() and exported.is_file()
    record = json.loads(exported.with_name(exported.name + ".json").read_text())
    assert record["probe_cosine"] >= dense.MIN_EXPORT_COSINE
    assert export_onnx() == exported  # made once: a second call finds the file


@pytest.mark.slow
def test_the_model_is_loaded_once_per_process(exported):
    dense._onnx_model.cache_clear()
    corpus = Corpus.from_pages([Page("https://a.example/x", "a.example", "X", "", 1,
                                     ("Stock markets fell sharply on Tuesday.", "Recipes need flour and eggs."))])
    first = SearchIndex.build(corpus, dense=True, show_progress=False)
    second = SearchIndex.build(corpus, dense=True, show_progress=False)
    for _ in range(3):
        assert first.search("equities dropped", k=1, mode="hybrid")[0].paragraph_index == 0
        assert second.search("baking ingredients", k=1, mode="hybrid")[0].paragraph_index == 1
    # one session for bulk encoding (all cores) and one for queries (one thread): the same one on a single core
    assert dense._onnx_model.cache_info().misses == len({DenseEncoder().num_threads, 1})


@pytest.mark.slow
def test_hybrid_search_loads_neither_torch_nor_transformers_nor_changes_global_state(exported, tmp_path):
    Corpus.from_pages([Page("https://news.example/a", "news.example", "Markets", "2023-01-01", 2,
                            ("Stock markets fell sharply on Tuesday.", "Recipes need flour and eggs."))]).save(tmp_path)
    SearchIndex.build(Corpus.load(tmp_path), dense=True, show_progress=False)
    code = (
        "import os, sys\n"
        "before = dict(os.environ)\n"
        "from drgym.web.index import SearchIndex\n"
        f"index = SearchIndex.load({str(tmp_path / 'index')!r})\n"
        "hit = index.search('equities dropped', k=1, mode='hybrid')[0]\n"
        "assert hit.paragraph_index == 0, hit\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch was imported'\n"
        "assert dict(os.environ) == before, 'the environment changed'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


@pytest.mark.slow
def test_the_torch_backend_leaves_the_thread_count_alone(exported):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        DenseEncoder(backend="torch").encode_query("census population")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_unknown_backend_is_refused():
    with pytest.raises(ConfigError, match=re.escape("dense backend must be one of auto, onnx, torch; got 'gpu'")):
        DenseEncoder(backend="gpu")
