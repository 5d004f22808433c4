"""Opening the document library: `open_library(config)`, and `LibraryLoader`, which opens it in the background
so the server answers `initialize` and `tools/list` at once.

Opening the library imports torch, sentence-transformers and Chroma and loads the embedding model: seconds
that an IDE spawning the server over stdio would otherwise wait before the handshake. `LibraryLoader`
starts that work in a thread once the server has answered its first `tools/list` (so the import does not
compete with the handshake for the CPU), or at the first call that needs the library; the server registers
the library tools at once, and a call that needs the library before it is open waits for it (`wait`), with
progress notifications from the tool wrappers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_server.config import Config
    from mcp_server.library.search import Library

logger = logging.getLogger(__name__)


def open_library(config: Config) -> Library:
    """The document library over `config`'s folders and embedding model (loads the model: a few seconds).

    Hugging Face is set offline first (unless the environment says otherwise): the model is never downloaded.

    Raises:
        ModelMissing: the embedding model is not installed (the message names the fix).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from mcp_server.library.embedder import load_embedder
    from mcp_server.library.search import Library

    embedder = load_embedder(config.embedding_model)
    return Library(
        library_dir=config.library_dir,
        index_dir=config.index_dir,
        embedder=embedder,
        chroma_host=config.chroma_host,
        chroma_port=config.chroma_port,
        workspace_dir=config.workspace_dir,
    )


class LibraryUnavailable(RuntimeError):
    """The library could not be opened; the message says why (e.g. the embedding model is not installed)."""


class LibraryLoader:
    """Opens the library in a daemon thread, started by `start` (or the first `wait`).

    Args:
        open_library: builds the `Library` (slow: imports and the embedding model).
    """

    def __init__(self, open_library: Callable[[], Library]) -> None:
        self._open = open_library
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[Library], None]] = []
        self._opened = threading.Event()
        self._library: Library | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.started_at = 0.0
        """`time.monotonic()` when opening began (0 before `start`)."""

    def start(self) -> None:
        """Begin opening the library in the background; later calls do nothing."""
        with self._lock:
            if self._thread is not None:
                return
            self.started_at = time.monotonic()
            self._thread = threading.Thread(target=self._load, name="library-loader", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            library = self._open()
        except Exception as exc:  # reported to every call that needs the library
            logger.exception("the document library could not be opened")
            self._error = exc
            self._opened.set()
            return
        logger.info("document library open after %.1f s", time.monotonic() - self.started_at)
        with self._lock:
            self._library = library
            callbacks, self._callbacks = self._callbacks, []
        self._opened.set()
        for callback in callbacks:
            callback(library)

    def when_open(self, callback: Callable[[Library], None]) -> None:
        """Call `callback(library)` once the library is open: now (in this thread) if it is, else in the
        loading thread. Never called if opening fails."""
        with self._lock:
            library = self._library
            if library is None:
                self._callbacks.append(callback)
        if library is not None:
            callback(library)

    @property
    def library(self) -> Library | None:
        """The open library, or None while it is still opening (or failed to open)."""
        return self._library

    def wait(self, timeout_s: float | None = None) -> Library | None:
        """The library once open; None if `timeout_s` passed first.

        Raises:
            LibraryUnavailable: opening it failed.
        """
        self.start()
        self._opened.wait(timeout_s)
        if self._error is not None:
            raise LibraryUnavailable(f"the document library is unavailable: {self._error}") from self._error
        return self._library

    def close(self) -> None:
        """Close the library if it opened (waits for an opening under way to end)."""
        if self._thread is None:
            return
        self._opened.wait()
        if self._library is not None:
            self._library.close()


def open_now(source: Library | LibraryLoader | None) -> Library | None:
    """The library if it is open now (a `Library` always is); None while a loader is still opening it."""
    return source.library if isinstance(source, LibraryLoader) else source
