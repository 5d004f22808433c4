"""The voice client against the project's offline engine (`local_realtime`), by URL alone.

The engine runs its deterministic RuleBrain with real Whisper and espeak-ng; tools go to the real
MCP server over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from local_realtime.brain import RuleBrain
from local_realtime.engine import Engine
from local_realtime.server import serve_engine
from local_realtime.stt import WhisperTranscriber
from local_realtime.tts import EspeakSynthesizer
from local_realtime.vad import VoiceActivityDetector
from mcp_server.config import Config as ServerConfig
from tests.speech_audio import silence, synthesize
from tests.voice_client.conftest import ChunkSink
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.tools import McpTools, ToolOutcome
from voice_client.turns import run_text_turn, run_wav

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def engine_url() -> AsyncIterator[str]:
    engine = Engine(RuleBrain(), WhisperTranscriber.load(), EspeakSynthesizer(), VoiceActivityDetector)
    async with serve_engine(engine) as base:
        yield base + "/realtime"


async def test_text_turn_with_a_tool_call_through_the_local_engine(
    engine_url: str, client_config: Callable[..., Config], config: ServerConfig, mcp_url: str
) -> None:
    args = json.dumps({"operation": "write", "filename": "offline.md", "content": "written offline"})
    results: list[ToolOutcome] = []
    cfg = client_config(engine_url, mcp_url)
    async with (
        McpTools(cfg) as tools,
        RealtimeSession(cfg, tools=tools, on_tool_result=lambda _n, o: results.append(o)) as session,
    ):
        replies = await run_text_turn(session, f"call file_operation with {args}")
    assert (config.workspace_dir / "offline.md").read_text().strip() == "written offline"
    assert results and not results[0].is_error
    assert replies and replies[-1].startswith("Done:")


async def test_spoken_turn_through_the_local_engine(engine_url: str, client_config: Callable[..., Config]) -> None:
    heard: list[str] = []
    sink = ChunkSink()
    cfg = client_config(engine_url, TRANSCRIPTION_MODEL="whisper-1").with_overrides(text_only=False)
    async with RealtimeSession(cfg, audio_output=sink, on_transcription_received=heard.append) as session:
        replies = await run_wav(session, silence(300) + synthesize("Good morning to you."))
    assert heard and "morning" in heard[0].lower()
    assert replies and replies[0].lower().startswith("you said")
    assert sum(len(c) for c in sink.chunks) > 48 * 300  # some real speech came back


async def test_cli_wav_in_wav_out_through_the_local_engine(engine_url: str, tmp_path: Path) -> None:
    speech = tmp_path / "question.wav"
    with wave.open(str(speech), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24000)
        wav.writeframes(silence(300) + synthesize("Good morning to you."))
    answer = tmp_path / "answer.wav"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "TRANSCRIPTION_MODEL": "whisper-1",
        "MCP_SERVER_URL": "http://127.0.0.1:9/mcp",
        "MCP_CONNECT_TIMEOUT_S": "0.5",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voice_client",
        "--realtime-url",
        engine_url,
        "--wav",
        str(speech),
        "--out-wav",
        str(answer),
        "--no-tools",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "morning" in out.decode().lower()
    with wave.open(str(answer), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        assert wav.getnframes() > 24000 // 2  # at least half a second of spoken reply
