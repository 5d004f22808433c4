"""The engine's GA Realtime protocol over a real WebSocket: RuleBrain, real espeak-ng voice, real Whisper.

Every server frame is validated against the openai SDK's `RealtimeServerEvent` union, with no
fields the SDK does not know.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pydantic
import pytest
from openai.types.realtime import RealtimeServerEvent
from websockets.asyncio.client import ClientConnection, connect

from local_realtime.brain import BrainOutput, Entry, RuleBrain, TextDelta, ToolSpec
from local_realtime.engine import Engine
from local_realtime.server import serve_engine
from local_realtime.stt import WhisperTranscriber
from local_realtime.tts import EspeakSynthesizer
from local_realtime.vad import VoiceActivityDetector
from tests.speech_audio import chunks, silence, synthesize

SERVER_EVENT = pydantic.TypeAdapter(RealtimeServerEvent)
TEXT_SESSION = {"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}}
ECHO_TOOL = {
    "type": "function",
    "name": "echo",
    "description": "Repeat a value.",
    "parameters": {"type": "object", "properties": {"value": {"type": "string"}}, "required": ["value"]},
}
SCRIPT_TOOL = {
    "type": "function",
    "name": "load_script",
    "description": "Load a guided script by name.",
    "parameters": {"type": "object", "properties": {"script_name": {"type": "string"}}},
}


def check_shape(raw: dict[str, Any]) -> None:
    """Fail unless `raw` parses as an SDK server event and carries no field the SDK does not declare."""
    _no_extras(SERVER_EVENT.validate_python(raw), raw["type"])


def _no_extras(value: Any, where: str) -> None:
    if isinstance(value, pydantic.BaseModel):
        assert not value.model_extra, f"{where}: unknown fields {sorted(value.model_extra)}"
        for name in type(value).model_fields:
            _no_extras(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for i, element in enumerate(value):
            _no_extras(element, f"{where}[{i}]")


class Peer:
    """A raw-frame Realtime client: send dicts, receive validated dicts."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def recv(self, timeout_s: float = 20) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            event = json.loads(await self.ws.recv())
        check_shape(event)
        return event

    async def until(self, kind: str, timeout_s: float = 30) -> list[dict[str, Any]]:
        """Receive events up to and including the first of type `kind`."""
        seen = []
        async with asyncio.timeout(timeout_s):
            while True:
                seen.append(await self.recv())
                if seen[-1]["type"] == kind:
                    return seen

    async def update(self, session: dict[str, Any]) -> dict[str, Any]:
        await self.send({"type": "session.update", "session": session})
        event = await self.recv()
        assert event["type"] == "session.updated", event
        return event["session"]

    async def say(self, text: str) -> None:
        """Add a user text message and wait for its `conversation.item.done`."""
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        await self.send({"type": "conversation.item.create", "item": item})
        assert [e["type"] for e in await self.until("conversation.item.done")] == [
            "conversation.item.added",
            "conversation.item.done",
        ]

    async def turn(self, **response: Any) -> list[dict[str, Any]]:
        """`response.create`, then every event up to `response.done`."""
        await self.send({"type": "response.create", "response": response} if response else {"type": "response.create"})
        return await self.until("response.done")


def first(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(e for e in events if e["type"] == kind)


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def collapse(names: list[str]) -> list[str]:
    """Event types with runs of the same delta type folded into one."""
    return [n for i, n in enumerate(names) if not (n.endswith(".delta") and i and names[i - 1] == n)]


def audio_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")


class SlowBrain:
    """Talks for up to 30 s, a sentence every 50 ms, until told to stop; remembers the stop."""

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def reply(
        self, instructions: str, history: list[Entry], tools: list[ToolSpec], tool_choice: Any, stop: threading.Event
    ) -> Iterator[BrainOutput]:
        for i in range(600):
            if stop.wait(0.05):
                self.stopped.set()
                return
            yield TextDelta(f"This is sentence number {i}. ")


@pytest.fixture(scope="session")
def vad_factory() -> Any:
    return VoiceActivityDetector


@pytest.fixture(scope="session")
def engine(whisper: WhisperTranscriber, espeak: EspeakSynthesizer) -> Engine:
    return Engine(RuleBrain(), whisper, espeak, VoiceActivityDetector)


@pytest.fixture(scope="session")
async def url(engine: Engine) -> AsyncIterator[str]:
    async with serve_engine(engine) as base:
        yield base


@pytest.fixture
async def peer(url: str) -> AsyncIterator[Peer]:
    async with connect(f"{url}/realtime?model=gpt-realtime", additional_headers={"Authorization": "Bearer x"}) as ws:
        client = Peer(ws)
        created = await client.recv()
        assert created["type"] == "session.created"
        yield client


@pytest.fixture
async def slow_peer(whisper: WhisperTranscriber, espeak: EspeakSynthesizer) -> AsyncIterator[tuple[Peer, SlowBrain]]:
    brain = SlowBrain()
    async with (
        serve_engine(Engine(brain, whisper, espeak, VoiceActivityDetector)) as base,
        connect(f"{base}/realtime?model=gpt-realtime") as ws,
    ):
        client = Peer(ws)
        assert (await client.recv())["type"] == "session.created"
        yield client, brain


def speech_turn(text: str) -> list[bytes]:
    """flite speech framed by silence, as 40 ms chunks."""
    return chunks(silence(300) + synthesize(text) + silence(900), 40)


async def test_session_starts_with_ga_defaults_and_update_is_applied(peer: Peer) -> None:
    session = await peer.update(
        {
            "type": "realtime",
            "instructions": "Be brief.",
            "output_modalities": ["text"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "whisper-1"},
                    "turn_detection": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 400},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "cedar"},
            },
            "tools": [ECHO_TOOL],
            "tool_choice": "required",
        }
    )
    assert session["instructions"] == "Be brief."
    assert session["output_modalities"] == ["text"]
    detection = session["audio"]["input"]["turn_detection"]
    assert (detection["type"], detection["threshold"], detection["silence_duration_ms"]) == ("server_vad", 0.6, 400)
    assert detection["prefix_padding_ms"] == 300 and detection["create_response"] is True
    assert session["audio"]["input"]["transcription"] == {"model": "whisper-1"}
    assert session["audio"]["output"]["voice"] == "cedar"
    assert [t["name"] for t in session["tools"]] == ["echo"] and session["tool_choice"] == "required"
    cleared = await peer.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    assert cleared["audio"]["input"]["turn_detection"] is None and cleared["instructions"] == "Be brief."


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"instructions": "no type"}, "missing_required_parameter", "session.type"),
        ({"type": "realtime", "modalities": ["text"]}, "unknown_parameter", "session.modalities"),
        ({"type": "realtime", "output_modalities": ["text", "audio"]}, "invalid_value", "session.output_modalities"),
        (
            {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "invalid_value",
            "session.audio.input.format",
        ),
    ],
)
async def test_bad_session_update_is_refused_and_nothing_changes(
    peer: Peer, session: dict[str, Any], code: str, param: str
) -> None:
    await peer.send({"type": "session.update", "event_id": "evt_1", "session": session})
    error = await peer.recv()
    assert error["type"] == "error"
    assert (error["error"]["code"], error["error"]["param"], error["error"]["event_id"]) == (code, param, "evt_1")
    unchanged = await peer.update({"type": "realtime"})
    assert unchanged["output_modalities"] == ["audio"]


async def test_text_turn_streams_text_events_in_ga_order(peer: Peer) -> None:
    await peer.update(TEXT_SESSION)
    await peer.say("hello there")
    events = await peer.turn()
    assert collapse(types(events)) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: hello there" == first(events, "response.output_text.done")["text"]
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["usage"]["output_tokens"] > 0
    assert done["output"][0]["content"] == [{"type": "output_text", "text": text}]
    assert done["output"][0]["status"] == "completed"


async def test_audio_turn_streams_speech_with_its_transcript(peer: Peer) -> None:
    await peer.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    await peer.say("the sky is blue. grass is green")
    events = await peer.turn()
    names = types(events)
    assert names[:4] == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
    ]
    assert names[-6:] == [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    assert set(names[4:-6]) == {"response.output_audio.delta", "response.output_audio_transcript.delta"}
    audio = audio_of(events)
    assert len(audio) > 48 * 1000  # more than a second of PCM16 24 kHz speech
    transcript = events[-5]["transcript"]
    assert transcript == "You said: the sky is blue. grass is green"
    done = events[-1]["response"]
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": transcript}]
    assert done["usage"]["output_token_details"]["audio_tokens"] > 0
