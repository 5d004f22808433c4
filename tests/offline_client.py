"""The voice client on the real offline engine, as `demo.py` wires them: a client config whose tools the engine's
brain has already evaluated, and a record of what one session did (calls, outputs, replies, audio)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_realtime.brain import tool_specs
from local_realtime.server import serve_engine
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.toolbox import McpTools, ToolOutcome


@contextlib.asynccontextmanager
async def warmed_client(engine: Any, env: Mapping[str, str], folder: Path) -> AsyncIterator[Config]:
    """Serve `engine` on 127.0.0.1 and yield a voice-client Config for it (`env` adds the MCP servers, the
    transcription model, ...; relative paths from `folder`), after the brain evaluated the config's tools.

    Text only unless `env` names a `TRANSCRIPTION_MODEL` (then the session sends and receives audio).
    """
    async with serve_engine(engine) as url:
        config = Config.from_env({"REALTIME_URL": url + "/realtime", "TRANSCRIPTION_MODEL": "", **env}, folder)
        config = config.with_overrides(text_only=not config.transcription_model)
        async with McpTools(config) as tools:
            await engine.warm(tool_specs(tools.definitions), config.instructions)
        yield config


@dataclass
class Call:
    """One tool call the model made: its public name, its arguments and what the model read back."""

    name: str
    arguments: dict[str, Any]
    output: str | None = None


@dataclass
class Record:
    """What a session did, filled in by its callbacks (`callbacks()`)."""

    calls: list[Call] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    """The user's spoken turns as the engine's Whisper transcribed them."""
    audio: bytearray = field(default_factory=bytearray)
    """Every reply's speech, PCM16 mono 24 kHz, in order (see `Speaker`)."""

    def callbacks(self) -> dict[str, Any]:
        """`RealtimeSession` keywords that fill this record."""
        return {
            "on_tool_call": self._called,
            "on_tool_result": self._answered,
            "on_transcription_received": self.heard.append,
        }

    def outputs(self, name: str) -> list[str]:
        """What the model read back from each call of tool `name`, in order."""
        return [c.output or "" for c in self.calls if c.name == name]

    def _called(self, name: str, arguments: str) -> None:
        self.calls.append(Call(name, json.loads(arguments or "{}")))

    def _answered(self, name: str, outcome: ToolOutcome) -> None:
        """A held call (`consent.py`) is reported once, with what became of it: it ran, or `declined`."""
        next(c for c in self.calls if c.name == name and c.output is None).output = outcome.output


class Speaker:
    """An audio output keeping what the assistant said (PCM16 mono 24 kHz) in its record."""

    def __init__(self, record: Record) -> None:
        self._record = record

    def play(self, pcm: bytes) -> None:
        self._record.audio += pcm

    def stop(self) -> None:
        """Barge-in stops playback here; nothing is buffered beyond what `play` kept."""

    @property
    def played_bytes(self) -> int:
        return len(self._record.audio)


@contextlib.asynccontextmanager
async def recorded_session(config: Config) -> AsyncIterator[tuple[RealtimeSession, Record]]:
    """A session over `config`'s MCP servers whose calls, transcripts and reply audio go into a `Record`."""
    record = Record()
    speaker = None if config.text_only else Speaker(record)
    async with (
        McpTools(config) as tools,
        RealtimeSession(config, tools=tools, audio_output=speaker, **record.callbacks()) as session,
    ):
        yield session, record
