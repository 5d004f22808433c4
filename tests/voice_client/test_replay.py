"""Replaying a recorded GA voice turn with audio deltas, and surviving 1,000 malformed or unknown frames."""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
from openai.types.realtime import RealtimeServerEvent

from tests.realtime_peer import (
    RealtimePeer,
    Step,
    response_created,
    response_done,
    session_created,
    session_updated,
    text_message,
)
from tests.speech_audio import synthesize
from tests.voice_client.conftest import ChunkSink
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.transcript import Transcript
from voice_client.turns import run_text_turn, run_wav

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "ga_voice_turn.json").read_text())


def test_the_recorded_turn_is_valid_ga_according_to_the_openai_sdk() -> None:
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
    types = [adapter.validate_python(event).type for event in FIXTURE["events"]]
    assert types[0] == "input_audio_buffer.speech_started" and types[-1] == "response.done"


async def test_replayed_ga_voice_turn_plays_audio_and_reports_transcripts(
    client_config: Callable[..., Config], tmp_path: Path
) -> None:
    events = FIXTURE["events"]
    expected_audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("input_audio_buffer.append", send=events),
    ]
    sink = ChunkSink()
    users: list[str] = []
    assistants: list[str] = []
    transcript = Transcript(tmp_path / "workspace")
    async with RealtimePeer(script, ignore={"input_audio_buffer.append"}) as peer:
        cfg = client_config(peer.url).with_overrides(text_only=False)
        async with RealtimeSession(
            cfg,
            audio_output=sink,
            transcript=transcript,
            on_transcription_received=users.append,
            on_response_received=assistants.append,
        ) as session:
            replies = await run_wav(session, synthesize("What time is it?"))
        await peer.finished()
    assert replies == [FIXTURE["assistant_transcript"]]
    assert users == [FIXTURE["user_transcript"]]
    assert assistants == [FIXTURE["assistant_transcript"]]
    assert b"".join(sink.chunks) == expected_audio
    assert {e["type"] for e in peer.received} == {"session.update", "input_audio_buffer.append"}
    text = transcript.path.read_text()
    assert re.search(rf"\*\*\d\d:\d\d:\d\d User:\*\* {re.escape(FIXTURE['user_transcript'])}", text)
    assert re.search(rf"\*\*\d\d:\d\d:\d\d Assistant:\*\* {re.escape(FIXTURE['assistant_transcript'])}", text)
    assert transcript.path.parent == tmp_path / "workspace" / "transcripts"


def _garbage(rng: random.Random) -> str | bytes:
    kinds = [
        lambda: "",
        lambda: "{not json",
        lambda: json.dumps(rng.choice([None, 1, "x", [], [1, 2], True])),
        lambda: json.dumps({"no_type": 1}),
        lambda: json.dumps({"type": rng.choice([None, 7, ["error"], {"a": 1}])}),
        lambda: json.dumps({"type": f"future.event_{rng.randrange(10**6)}", "payload": {"x": 1}}),
        lambda: json.dumps({"type": "error"}),
        lambda: json.dumps({"type": "error", "error": "boom"}),
        lambda: json.dumps({"type": "response.done", "response": {"id": 5}}),
        lambda: json.dumps({"type": "response.done"}),
        lambda: json.dumps({"type": "response.created", "response": None}),
        lambda: json.dumps(
            {"type": "response.output_audio.delta", "response_id": "r", "item_id": "i", "delta": "***not base64***"}
        ),
        lambda: json.dumps({"type": "response.output_audio.delta", "delta": 12}),
        lambda: json.dumps({"type": "response.function_call_arguments.done", "call_id": None, "name": 3}),
        lambda: json.dumps({"type": "input_audio_buffer.speech_started", "audio_start_ms": "soon"}),
        lambda: json.dumps({"type": "conversation.item.input_audio_transcription.completed", "transcript": None}),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))),
        lambda: "\x00\xff" * rng.randrange(1, 10),
    ]
    return rng.choice(kinds)()


async def test_a_thousand_malformed_or_unknown_frames_do_not_crash_the_session(
    client_config: Callable[..., Config],
) -> None:
    rng = random.Random(4)
    frames = [_garbage(rng) for _ in range(1000)]
    script = [
        Step(None, send=[session_created()], raw=frames[:500]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create"),
        Step("response.create", send=[response_created("resp_1")], raw=frames[500:]),
        Step(None, send=[*text_message("resp_1", "msg_1", "Still here."), response_done("resp_1")]),
    ]
    async with RealtimePeer(script) as peer:
        async with RealtimeSession(client_config(peer.url)) as session:
            replies = await run_text_turn(session, "Are you alive?")
        await peer.finished()
    assert replies == ["Still here."]
    assert {e["type"] for e in peer.received} == {"session.update", "conversation.item.create", "response.create"}
