"""The library against a real Chroma server (`chroma run` from the venv) on loopback, via chromadb.HttpClient."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mcp_server.library.embedder import SentenceTransformerEmbedder
from mcp_server.library.search import Library
from tests.mcp_server.conftest import SAMPLE_COUNT

CHROMA = Path(sys.executable).parent / "chroma"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def chroma_port(tmp_path: Path) -> Iterator[int]:
    """A Chroma server on 127.0.0.1 storing in tmp_path; stopped by pid afterwards."""
    port = _free_port()
    log = (tmp_path / "chroma.log").open("wb")
    server = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # the server gives no readiness signal but its heartbeat endpoint
            assert server.poll() is None, f"chroma run exited: {(tmp_path / 'chroma.log').read_text()[-2000:]}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "chroma server did not answer its heartbeat in 60 s"
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def test_index_and_search_through_a_chroma_server(
    chroma_port: int, sample_library: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
):
    library = Library(sample_library, tmp_path / "unused", embedder, chroma_host="127.0.0.1", chroma_port=chroma_port)
    report = library.index()
    again = Library(sample_library, tmp_path / "unused", embedder, chroma_host="127.0.0.1", chroma_port=chroma_port)

    assert len(report.added) == SAMPLE_COUNT
    assert not (tmp_path / "unused").exists(), "the embedded store must not be used"
    assert again.index().unchanged == SAMPLE_COUNT, "a second client sees the same index on the server"
    hits = again.search("how much do we save each month", top_k=3)
    assert hits[0].document_id == "household-budget.md"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True) and hits[0].score > 0
    assert again.ask("book-club-walden.md", "why did thoreau go to the woods").answer_hint is not None
