"""Barge-in: playback stops, the item is truncated at what was heard, the running response cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.realtime_peer import (
    RealtimePeer,
    Step,
    audio_message,
    response_created,
    response_done,
    session_created,
    session_updated,
    speech_started,
)
from tests.speech_audio import chunks, silence, synthesize
from tests.voice_client.conftest import ChunkSink
from voice_client import realtime
from voice_client.config import Config
from voice_client.session import RealtimeSession

SPEECH = (synthesize("Once upon a time there was a very small robot who loved to sing.") + silence(1000))[: 48 * 1000]


def _audio_session(event: dict) -> bool:
    session = event["session"]
    return (
        session["output_modalities"] == ["audio"]
        and session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        and session["audio"]["output"]["voice"] == "marin"
    )


async def _until_speech_started(session: RealtimeSession) -> None:
    async with asyncio.timeout(5):
        async for event in session:
            if isinstance(event, realtime.SpeechStarted):
                return


async def test_barge_in_truncates_at_the_played_milliseconds_and_cancels(
    client_config: Callable[..., Config],
) -> None:
    pieces = chunks(SPEECH, 100)  # 10 deltas of 100 ms
    events = audio_message("resp_1", "item_a", pieces, "Once upon a time there was a very small robot")
    until_done = events[: events.index(next(e for e in events if e["type"] == "response.output_audio.done"))]
    late = next(e for e in until_done if e["type"] == "response.output_audio.delta")  # arrives after barge-in
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=_audio_session, reply=session_updated),
        Step("conversation.item.create"),
        Step("response.create", send=[response_created("resp_1"), *until_done, speech_started("item_user_2"), late]),
        Step(
            "conversation.item.truncate",
            where=lambda e: e["item_id"] == "item_a" and e["content_index"] == 0 and e["audio_end_ms"] == 400,
        ),
        Step(
            "response.cancel",
            where=lambda e: e.get("response_id") == "resp_1",
            send=[response_done("resp_1", "cancelled")],
        ),
    ]
    sink = ChunkSink(cap_ms=400)
    heard: list[bytes] = []
    async with RealtimePeer(script) as peer:
        cfg = client_config(peer.url).with_overrides(text_only=False)
        async with RealtimeSession(cfg, audio_output=sink, on_audio_received=heard.append) as session:
            await session.send_text("Tell me a story")
            await _until_speech_started(session)
            await peer.finished()
    assert b"".join(sink.chunks) == SPEECH  # the late delta after the interruption was dropped
    assert heard == pieces
    assert sink.stops == 1


async def test_speech_after_playback_finished_sends_no_truncate(client_config: Callable[..., Config]) -> None:
    pieces = chunks(SPEECH[: 48 * 300], 100)
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *audio_message("resp_1", "item_a", pieces, "Hi."),
                response_done("resp_1"),
                speech_started("item_user_2"),
            ],
        ),
        Step("conversation.item.create", where=lambda e: e["item"]["content"][0]["text"] == "next"),
    ]
    sink = ChunkSink()
    async with RealtimePeer(script) as peer:
        cfg = client_config(peer.url).with_overrides(text_only=False)
        async with RealtimeSession(cfg, audio_output=sink) as session:
            await session.send_text("Say hi")
            await _until_speech_started(session)
            await session.send_text("next", respond=False)
            await peer.finished()
    assert peer.of_type("conversation.item.truncate") == []
    assert peer.of_type("response.cancel") == []
    assert b"".join(sink.chunks) == SPEECH[: 48 * 300]
