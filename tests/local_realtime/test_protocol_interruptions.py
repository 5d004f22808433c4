"""Cancelling and interrupting a response over a real WebSocket: a brain that talks until stopped, a real
espeak-ng voice, real Whisper and Silero; every frame checked against the openai SDK's event union."""

from __future__ import annotations

import base64
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from local_realtime.brain import BrainOutput, Entry, TextDelta, ToolSpec
from local_realtime.engine import Engine
from local_realtime.server import serve_engine
from local_realtime.stt import WhisperTranscriber
from local_realtime.tts import EspeakSynthesizer
from local_realtime.vad import VoiceActivityDetector
from tests.local_realtime.protocol_client import (
    Peer,
    first,
    speech_turn,
    types,
)
from tests.speech_audio import chunks, silence, synthesize


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


async def test_cancel_mid_response_stops_the_brain_and_the_voice(slow_peer: tuple[Peer, SlowBrain]) -> None:
    peer, brain = slow_peer
    await peer.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    await peer.say("talk for a long time")
    await peer.send({"type": "response.create"})
    await peer.until("response.output_audio.delta")
    assert not brain.stopped.is_set()  # speech streams while the brain is still generating
    await peer.send({"type": "response.create", "event_id": "again"})
    await peer.send({"type": "response.cancel"})
    events = await peer.until("response.done", timeout_s=5)
    busy = first(events, "error")["error"]
    assert (busy["code"], busy["event_id"]) == ("conversation_already_has_active_response", "again")
    done = events[-1]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert done["output"][0]["status"] == "incomplete"
    assert types(events)[-4:] == [
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    assert brain.stopped.wait(5)
    await peer.send({"type": "response.cancel", "event_id": "late"})
    late = await peer.recv()
    assert (late["type"], late["error"]["code"]) == ("error", "response_cancel_not_active")


async def _answering(peer: Peer) -> None:
    """Server VAD on (no automatic response), and a long reply under way: its audio is streaming."""
    await peer.update(
        {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": False}}}}
    )
    await peer.say("talk for a long time")
    await peer.send({"type": "response.create"})
    await peer.until("response.output_audio.delta")


async def _append(peer: Peer, pieces: list[bytes]) -> None:
    for piece in pieces:
        await peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(piece).decode()})


async def test_speech_while_answering_interrupts_the_response(slow_peer: tuple[Peer, SlowBrain]) -> None:
    peer, brain = slow_peer
    await _answering(peer)
    await _append(peer, speech_turn("Wait, stop talking please."))
    events = await peer.until("response.done", timeout_s=10)
    names = types(events)
    assert "input_audio_buffer.speech_started" in names
    assert events[-1]["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert brain.stopped.wait(5)
    rest = await peer.until("conversation.item.done", timeout_s=20)
    assert types(rest)[-3:] == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]


async def test_a_short_burst_while_answering_does_not_interrupt(slow_peer: tuple[Peer, SlowBrain]) -> None:
    """A 195 ms "Hey" (the VAD hears it as speech: a cough, a "yeah") over the reply starts no turn."""
    peer, brain = slow_peer
    await _answering(peer)
    await _append(peer, chunks(silence(300) + synthesize("Hey", "piper") + silence(900), 40))
    await peer.send({"type": "input_audio_buffer.clear"})  # answered after every append before it
    events = await peer.until("input_audio_buffer.cleared", timeout_s=10)
    assert "input_audio_buffer.speech_started" not in types(events)
    assert not brain.stopped.is_set()
    await peer.send({"type": "response.cancel"})
    done = (await peer.until("response.done", timeout_s=5))[-1]
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
