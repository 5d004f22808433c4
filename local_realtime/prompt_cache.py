"""Evaluated prompt prefixes kept on disk, so a new process does not prefill the tools block again.

The tools block and few-shot turns are about 2,000 tokens: some 25 s of prefill on 2 cores, paid at
every start and every time the tool list changes. `PromptCache` saves llama.cpp's state after such a
prefix (its KV cache, ~50 MB) under a hash of the model and the prefix's tokens, and loads it back in
well under a second. Entries past `max_entries` are removed oldest first.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


class PromptCache:
    """Saved model states, one file per (model, prompt prefix).

    Args:
        folder: where state files live (created on first save).
        model_id: names the weights (e.g. the GGUF's file name and size); states never cross models.
        max_entries: how many states to keep.
    """

    def __init__(self, folder: Path, model_id: str, max_entries: int = 6) -> None:
        self.folder = folder
        self._model_id = model_id
        self._max_entries = max_entries

    def _path(self, tokens: Sequence[int]) -> Path:
        digest = hashlib.sha256(self._model_id.encode() + np.asarray(tokens, dtype=np.int32).tobytes()).hexdigest()
        return self.folder / f"prefix-{digest[:24]}.state"

    def restore(self, model: Any, tokens: Sequence[int]) -> bool:
        """Load the state saved after exactly `tokens` into `model`; False if there is none (or it is unusable)."""
        path = self._path(tokens)
        if not path.is_file():
            return False
        import llama_cpp

        found = (llama_cpp.llama_token * len(tokens))()
        count = ctypes.c_size_t(0)
        loaded = llama_cpp.llama_state_load_file(
            model._ctx.ctx, str(path).encode(), found, len(tokens), ctypes.byref(count)
        )
        if not loaded or count.value != len(tokens) or list(found) != list(tokens):
            logger.warning("Ignoring unusable prompt cache %s", path.name)
            model.n_tokens = 0
            model._ctx.kv_cache_seq_rm(-1, 0, -1)
            path.unlink(missing_ok=True)
            return False
        model.input_ids[: len(tokens)] = tokens
        model.n_tokens = len(tokens)
        os.utime(path)  # recently used: removed last
        logger.info("Prompt prefix of %d tokens loaded from the cache", len(tokens))
        return True

    def save(self, model: Any, tokens: Sequence[int]) -> None:
        """Save `model`'s state, which must hold exactly `tokens`; failures only cost speed (logged)."""
        import llama_cpp

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._path(tokens)
            partial = path.with_suffix(".part")
            model._ctx.kv_cache_seq_rm(-1, len(tokens), -1)
            array = (llama_cpp.llama_token * len(tokens))(*tokens)
            if not llama_cpp.llama_state_save_file(model._ctx.ctx, str(partial).encode(), array, len(tokens)):
                raise OSError("llama.cpp could not write the state")
            partial.replace(path)
            states = sorted(self.folder.glob("prefix-*.state"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in states[self._max_entries :]:
                old.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("Could not save the prompt cache in %s: %s", self.folder, exc)
