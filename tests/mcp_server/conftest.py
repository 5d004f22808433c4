"""Fixtures for the library tests: the real packaged embedder (loaded once) and small real libraries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mcp_server.library.embedder import SentenceTransformerEmbedder

REPO = Path(__file__).resolve().parents[2]
SAMPLE_LIBRARY = REPO / "library"
SAMPLE_COUNT = sum(1 for p in SAMPLE_LIBRARY.iterdir() if p.is_file())
"""How many documents ship in `library/`."""


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The packaged all-MiniLM-L6-v2, loaded once per test session."""
    return SentenceTransformerEmbedder()


@pytest.fixture
def sample_library(tmp_path: Path) -> Path:
    """A copy of the shipped sample documents in `library/`, safe to change."""
    target = tmp_path / "library"
    shutil.copytree(SAMPLE_LIBRARY, target)
    return target
