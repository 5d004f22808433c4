"""The whole assistant offline: spoken words in, the real MCP server's tool runs, spoken reply out.

Real everything: flite speech, the project's voice client, the offline engine as `demo.py` builds it
(Silero VAD, Whisper tiny.en, Qwen2.5-Coder-1.5B, piper) and the MCP server over loopback HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_realtime.server import serve_engine
from mcp_server.config import Config as ServerConfig
from tests.speech_audio import BYTES_PER_MS, silence, synthesize
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.tools import McpTools, ToolOutcome
from voice_client.turns import run_wav

pytestmark = pytest.mark.slow


class Speaker:
    """An audio output that keeps what the assistant said (PCM16 mono 24 kHz)."""

    def __init__(self) -> None:
        self.pcm = bytearray()

    def play(self, pcm: bytes) -> None:
        self.pcm += pcm

    def stop(self) -> None:
        """Barge-in would stop playback here; nothing is buffered beyond `pcm`."""

    @property
    def played_bytes(self) -> int:
        return len(self.pcm)


async def test_saying_load_the_blog_writer_script_loads_it_and_the_assistant_answers_aloud(
    real_engine: Any, config: ServerConfig, mcp_url: str
) -> None:
    calls: list[tuple[str, str]] = []
    results: list[ToolOutcome] = []
    heard: list[str] = []
    speaker = Speaker()
    async with serve_engine(real_engine) as engine_url:
        client = Config.from_env(
            {
                "REALTIME_URL": engine_url + "/realtime",
                "MCP_SERVER_URL": mcp_url,
                "WORKING_DIRECTORY": str(config.workspace_dir),
                "TRANSCRIPTION_MODEL": "whisper-1",
            }
        )
        async with (
            McpTools(client) as tools,
            RealtimeSession(
                client,
                tools=tools,
                audio_output=speaker,
                transcript=None,
                on_transcription_received=heard.append,
                on_tool_call=lambda name, args: calls.append((name, args)),
                on_tool_result=lambda _name, outcome: results.append(outcome),
            ) as session,
        ):
            replies = await run_wav(session, silence(300) + synthesize("Load the blog writer script."))
            instructions = session.instructions
    assert heard and "blog writer" in heard[0].lower()
    assert ("load_script", json.dumps({"script_name": "blog_writer"})) in [
        (name, json.dumps(json.loads(args))) for name, args in calls
    ]
    assert results and not results[0].is_error
    state = json.loads(next(config.state_dir.glob("*.json")).read_text())
    assert state["script_name"] == "blog_writer" and state["stage_index"] == 0
    assert "editor" in instructions  # the script's coach persona now steers the session
    assert replies and replies[-1].strip()
    assert len(speaker.pcm) > 500 * BYTES_PER_MS  # at least half a second of reply speech
