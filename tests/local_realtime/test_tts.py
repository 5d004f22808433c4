"""Piper and espeak-ng synthesis: 24 kHz PCM16 chunks of plausible length that Whisper and the VAD hear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from local_realtime.stt import MissingSpeechModel, WhisperTranscriber
from local_realtime.tts import EspeakSynthesizer, PiperSynthesizer, Synthesizer
from local_realtime.vad import VoiceActivityDetector
from tests.speech_audio import BYTES_PER_MS, chunks, silence, words

pytestmark = pytest.mark.slow

REPLY = "The blog writer script is loaded. Say next when you are ready to begin."


def assert_plausible_speech(pieces: list[bytes], text: str) -> bytes:
    """Checks PCM16 framing, length for the word count, and loudness; returns the joined audio."""
    assert pieces and all(len(piece) % 2 == 0 for piece in pieces)
    pcm = b"".join(pieces)
    seconds = len(pcm) / (BYTES_PER_MS * 1000)
    n_words = len(words(text))
    assert 0.2 * n_words <= seconds <= 0.8 * n_words + 1.0, seconds  # 75-300 words per minute
    rms = np.sqrt(np.mean(np.frombuffer(pcm, "<i2").astype(np.float64) ** 2))
    assert rms > 500  # not silence
    return pcm


def test_piper_speaks_24khz_pcm16_that_whisper_transcribes_exactly(
    piper: PiperSynthesizer, whisper: WhisperTranscriber
) -> None:
    pieces = list(piper.synthesize(REPLY))

    pcm = assert_plausible_speech(pieces, REPLY)
    assert len(pieces) > 1  # streamed, not one blob
    assert max(len(piece) for piece in pieces) <= 200 * BYTES_PER_MS
    # silence around it as the server's VAD would cut it (piper starts speaking at sample 0)
    assert words(whisper.transcribe(silence(300) + pcm + silence(500))) == words(REPLY)


def test_espeak_speaks_24khz_pcm16_that_vad_and_whisper_hear(
    espeak: EspeakSynthesizer, whisper: WhisperTranscriber
) -> None:
    pcm = assert_plausible_speech(list(espeak.synthesize(REPLY)), REPLY)
    vad = VoiceActivityDetector()
    events = [e for c in chunks(silence(500) + pcm + silence(1000), 40) for e in vad.feed(c)]

    # speech_paused/speech_resumed may come between words (espeak pauses at commas); one turn is heard
    assert [e.kind for e in events if e.kind in ("speech_started", "speech_stopped")] == [
        "speech_started",
        "speech_stopped",
    ]
    # espeak is robotic: tiny.en gets most words, not necessarily all (see offline-speech notes)
    heard = set(words(whisper.transcribe(pcm)))
    assert len(heard & set(words(REPLY))) >= 0.6 * len(set(words(REPLY))), heard


@pytest.mark.parametrize("name", ["piper", "espeak"])
def test_blank_text_yields_no_audio(name: str, request: pytest.FixtureRequest) -> None:
    synthesizer: Synthesizer = request.getfixturevalue(name)

    assert b"".join(synthesizer.synthesize("  ")) == b""


def test_piper_first_chunk_comes_before_later_sentences_are_made(piper: PiperSynthesizer) -> None:
    long_text = " ".join(f"This is sentence number {n} of a long answer." for n in range(1, 9))
    stream = piper.synthesize(long_text)
    first = next(stream)
    stream.close()

    assert 0 < len(first) <= 200 * BYTES_PER_MS
    assert list(stream) == []  # closed: nothing more is made


def test_closing_espeak_stream_kills_its_process(espeak: EspeakSynthesizer) -> None:
    stream = espeak.synthesize("A very long answer that goes on and on. " * 200)
    first = next(stream)
    process = stream.gi_frame.f_locals["process"]  # type: ignore[union-attr]
    stream.close()

    assert first
    assert process.returncode is not None
    assert process.stdout.closed


def test_espeak_reads_text_starting_with_a_dash_as_speech(espeak: EspeakSynthesizer) -> None:
    pcm = b"".join(espeak.synthesize("-v is not an option here"))

    assert len(pcm) > 500 * BYTES_PER_MS


def test_loading_a_missing_piper_voice_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(MissingSpeechModel, match="piper voice"):
        PiperSynthesizer.load(tmp_path / "missing.onnx")
