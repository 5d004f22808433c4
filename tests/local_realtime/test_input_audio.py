"""The engine's input audio buffer: bounded in memory whatever the client streams (real Silero VAD)."""

from __future__ import annotations

import pytest

from local_realtime.input_audio import KEEP_MS, MAX_BUFFER_MS, BufferFull, InputAudio
from local_realtime.session import TurnDetection
from local_realtime.vad import VoiceActivityDetector
from tests.speech_audio import BYTES_PER_MS, chunks, silence, synthesize


def test_a_long_silence_with_vad_on_keeps_only_the_last_seconds_and_speech_after_it_is_whole() -> None:
    audio = InputAudio()
    audio.listen(TurnDetection(), lambda t, p, s: VoiceActivityDetector(t, p, s))
    for chunk in chunks(silence(60_000), 40):
        assert audio.append(chunk) == []
    assert audio.duration_ms <= 2 * KEEP_MS  # a microphone left open for an hour does not fill memory
    request = synthesize("load the blog writer script")
    events = [e for chunk in chunks(request + silence(1000), 40) for e in audio.append(chunk)]
    assert [e.kind for e in events if e.kind in ("speech_started", "speech_stopped")] == [
        "speech_started",
        "speech_stopped",
    ]
    stop = next(e for e in events if e.kind == "speech_stopped")
    speech = audio.take_speech(stop.audio_ms)
    assert len(request) - 600 * BYTES_PER_MS < len(speech) < len(request) + 1200 * BYTES_PER_MS


def test_without_vad_the_buffer_refuses_audio_past_its_limit_and_keeps_what_it_has() -> None:
    audio = InputAudio()
    audio.append(bytes(MAX_BUFFER_MS * BYTES_PER_MS))
    with pytest.raises(BufferFull, match="commit or clear it"):
        audio.append(bytes(40 * BYTES_PER_MS))
    assert audio.duration_ms == MAX_BUFFER_MS
    audio.clear()
    assert audio.append(bytes(40 * BYTES_PER_MS)) == []
