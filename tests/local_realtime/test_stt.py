"""WhisperTranscriber on real speech: flite commands and a recorded human (JFK, 44.1 kHz stereo FLAC)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from faster_whisper.audio import decode_audio

from local_realtime.stt import MissingSpeechModel, Transcriber, WhisperTranscriber
from tests.speech_audio import silence, synthesize, word_errors, words

pytestmark = pytest.mark.slow

JFK_FLAC = Path(__file__).resolve().parents[3] / "shared" / "speech" / "jfk.flac"  # ../shared beside the repo
JFK_TEXT = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"


def test_whisper_is_a_transcriber(whisper: WhisperTranscriber) -> None:
    transcriber: Transcriber = whisper
    assert transcriber.transcribe(silence(50)) == ""


@pytest.mark.parametrize("text", ["load the blog writer script", "search my library for books about productivity"])
def test_flite_command_is_transcribed_exactly(whisper: WhisperTranscriber, text: str) -> None:
    heard = whisper.transcribe(silence(300) + synthesize(text) + silence(300))

    assert words(heard) == words(text)


def test_recorded_human_speech_has_low_word_error_rate(whisper: WhisperTranscriber) -> None:
    audio = decode_audio(str(JFK_FLAC), sampling_rate=24_000)  # PyAV: stereo FLAC -> mono float32
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()

    heard = whisper.transcribe(pcm)

    assert word_errors(JFK_TEXT, heard) / len(words(JFK_TEXT)) <= 0.1, heard


def test_silence_transcribes_to_nothing(whisper: WhisperTranscriber) -> None:
    assert whisper.transcribe(silence(2000)) == ""


def test_odd_length_audio_is_accepted(whisper: WhisperTranscriber) -> None:
    pcm = synthesize("what is the weather like today") + b"\x01"

    assert words(whisper.transcribe(pcm)) == words("what is the weather like today")


def test_loading_from_a_directory_without_a_model_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(MissingSpeechModel, match=r"model\.bin"):
        WhisperTranscriber.load(tmp_path)
