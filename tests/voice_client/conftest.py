"""Fixtures for the voice client: its Config aimed at a local Realtime peer and the real MCP server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from voice_client.config import Config


@pytest.fixture
def client_config(tmp_path: Path) -> Callable[..., Config]:
    """Build a voice-client Config for a peer URL (and optionally an MCP URL); text mode by default."""

    def build(realtime_url: str, mcp_url: str = "http://127.0.0.1:9/mcp", **env: str) -> Config:
        values = {
            "REALTIME_URL": realtime_url,
            "MCP_SERVER_URL": mcp_url,
            "OPENAI_API_KEY": "sk-test-secret",
            "TRANSCRIPTION_MODEL": "",
            "REALTIME_MODEL": "gpt-realtime-test",
            **env,
        }
        return Config.from_env(values, base_dir=tmp_path).with_overrides(text_only=True)

    return build


class ChunkSink:
    """An `AudioOutput` that keeps PCM chunks in a list; the 'sound card' stalls after `cap_ms`."""

    def __init__(self, cap_ms: int | None = None) -> None:
        self.chunks: list[bytes] = []
        self.stops = 0
        self._cap = None if cap_ms is None else cap_ms * 48
        self._written = 0
        self._stopped_at: int | None = None

    @property
    def played_bytes(self) -> int:
        played = self._written if self._cap is None else min(self._written, self._cap)
        return played if self._stopped_at is None else min(played, self._stopped_at)

    def play(self, pcm: bytes) -> None:
        self.chunks.append(pcm)
        self._written += len(pcm)

    def stop(self) -> None:
        self.stops += 1
        self._stopped_at = self.played_bytes
