"""Work on a turn starts at a pause in speech: the transcript made then is the turn's, and the brain has its
prompt before the turn is over; speech that resumes drops it. Real Silero VAD and Whisper on flite speech."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import AsyncIterator

import numpy as np
import pytest
from websockets.asyncio.client import connect

from local_realtime.brain import Entry, RuleBrain, ToolSpec
from local_realtime.engine import Engine
from local_realtime.server import serve_engine
from local_realtime.stt import WhisperTranscriber
from local_realtime.tts import EspeakSynthesizer
from local_realtime.vad import VoiceActivityDetector
from tests.local_realtime.protocol_client import Peer, first
from tests.speech_audio import chunks, silence, synthesize


class CountingTranscriber:
    """The real Whisper, counting its calls."""

    def __init__(self, whisper: WhisperTranscriber) -> None:
        self._whisper = whisper
        self.calls = 0

    def transcribe(self, pcm: bytes, prompt: str = "") -> str:
        self.calls += 1
        return self._whisper.transcribe(pcm, prompt)


class PreparingBrain(RuleBrain):
    """RuleBrain that remembers what it was asked to prepare."""

    def __init__(self) -> None:
        super().__init__()
        self.prepared: list[str] = []
        self.prepared_after: list[Entry] = []

    def prepare(self, instructions: str, history: list[Entry], tools: list[ToolSpec], stop: threading.Event) -> None:
        if history[-1].role == "user":  # a turn's prompt, prepared at a pause
            self.prepared.append(history[-1].text)
        else:  # the conversation so far, prepared when a response ended
            self.prepared_after.append(history[-1])


@pytest.fixture
async def counted(whisper: WhisperTranscriber, espeak: EspeakSynthesizer) -> AsyncIterator[tuple[Peer, Engine]]:
    engine = Engine(PreparingBrain(), CountingTranscriber(whisper), espeak, VoiceActivityDetector)
    async with (
        serve_engine(engine) as base,
        connect(f"{base}/realtime?model=local", additional_headers={"Authorization": "Bearer x"}) as ws,
    ):
        peer = Peer(ws)
        assert (await peer.recv())["type"] == "session.created"
        await peer.update(
            {
                "type": "realtime",
                "output_modalities": ["text"],
                "audio": {"input": {"transcription": {"model": "whisper-1"}, "turn_detection": {"type": "server_vad"}}},
            }
        )
        yield peer, engine


def _trimmed(pcm: bytes) -> bytes:
    """Speech without the silence flite puts before and after it (a pause between two parts is then exact)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples) > 300)
    return samples[loud[0] : loud[-1] + 1].tobytes()


async def _speak(peer: Peer, pcm: bytes) -> list[dict]:
    for chunk in chunks(pcm, 40):
        await peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
    return await peer.until("response.done", timeout_s=60)


async def test_the_transcript_made_at_the_pause_is_the_turns_and_the_prompt_was_ready(
    counted: tuple[Peer, Engine],
) -> None:
    peer, engine = counted

    events = await _speak(peer, silence(300) + synthesize("Tell me about the weather today.") + silence(900))

    transcript = first(events, "conversation.item.input_audio_transcription.completed")["transcript"]
    assert "weather" in transcript.lower()
    assert engine.transcriber.calls == 1  # type: ignore[attr-defined]  # no second transcription at the stop
    assert engine.brain.prepared == [transcript]  # type: ignore[attr-defined]
    assert first(events, "response.output_text.done")["text"] == f"You said: {transcript}"


async def test_when_a_response_ends_the_conversation_so_far_is_prepared(counted: tuple[Peer, Engine]) -> None:
    peer, engine = counted

    events = await _speak(peer, silence(300) + synthesize("Tell me about the weather today.") + silence(900))

    answer = first(events, "response.output_text.done")["text"]
    for _ in range(100):  # the preparation starts after response.done was sent
        if engine.brain.prepared_after:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.02)
    assert [(e.role, e.text) for e in engine.brain.prepared_after] == [("assistant", answer)]  # type: ignore[attr-defined]


async def test_speech_after_a_pause_drops_the_early_transcript(counted: tuple[Peer, Engine]) -> None:
    peer, engine = counted
    first_part, second_part = (
        _trimmed(synthesize("Tell me about the weather")),
        _trimmed(synthesize("in Lisbon tomorrow.")),
    )

    events = await _speak(peer, silence(300) + first_part + silence(300) + second_part + silence(900))

    transcript = first(events, "conversation.item.input_audio_transcription.completed")["transcript"].lower()
    assert "weather" in transcript and "lisbon" in transcript  # one turn, both parts
    assert engine.transcriber.calls == 2  # type: ignore[attr-defined]  # the pause's guess, then the whole turn
    assert engine.brain.prepared[-1].lower() == transcript  # type: ignore[attr-defined]
