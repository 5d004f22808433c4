"""WhisperTranscriber on real speech: flite commands and a recorded human (JFK, 44.1 kHz stereo FLAC); with a
prompt of the user's library words, on piper and flite speech that uses them, and on silence and noise."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from faster_whisper.audio import decode_audio

from local_realtime.stt import MAX_PROMPT_TOKENS, MissingSpeechModel, Transcriber, WhisperTranscriber
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


LIBRARY_WORDS = (
    "Garden plan 2027, Lisbon trip itinerary, Reading list, Weekend sourdough, Ishiguro, Alfama, Sintra, Rossio, "
    "Taberna, radishes, courgettes, lettuce, Aphids, Slugs, Overstory, Sweetgrass, Belém, trellis"
)
"""A transcription prompt as the MCP server makes it from `library/` (titles, then names and rare words)."""


@pytest.mark.parametrize(
    ("text", "voice", "word"),
    [
        ("What do I do about slugs in the garden?", "flite", "slugs"),  # heard as "slug is" without the prompt
        ("What is the name of the guesthouse in Alfama?", "flite", "alfama"),  # "all fami"
        ("When do we visit Sintra?", "piper", "sintra"),  # "Center"
    ],
)
def test_the_library_words_in_the_prompt_are_heard(
    whisper: WhisperTranscriber, text: str, voice: Literal["flite", "piper"], word: str
) -> None:
    pcm = silence(300) + synthesize(text, voice) + silence(300)

    assert word not in words(whisper.transcribe(pcm))
    assert word in words(whisper.transcribe(pcm, LIBRARY_WORDS))


def test_a_prompt_adds_no_words_to_silence_or_noise(whisper: WhisperTranscriber) -> None:
    rng = np.random.default_rng(7)
    white = rng.normal(0.0, 0.03 * 32768, 24_000 * 2)  # about -30 dBFS, as in test_vad
    envelope = np.sin(np.linspace(0, np.pi, 24_000)) ** 2  # a one-second breath: Whisper alone hears words in it
    breath = np.convolve(rng.normal(0.0, 1.0, 24_000), np.ones(8) / 8, mode="same") * envelope * 0.2 * 32768 * 3
    for noise in (white, breath):
        pcm = silence(300) + np.clip(noise, -32768, 32767).astype("<i2").tobytes() + silence(300)
        assert whisper.transcribe(pcm, LIBRARY_WORDS) == ""
    assert whisper.transcribe(silence(2000), LIBRARY_WORDS) == ""


def test_a_prompt_longer_than_whisper_reads_is_cut_after_a_whole_phrase(whisper: WhisperTranscriber) -> None:
    long_prompt = ", ".join(f"Alfama{n}" for n in range(200)) + ", Slugs"
    pcm = silence(300) + synthesize("What do I do about slugs in the garden?") + silence(300)

    heard = whisper.transcribe(pcm, long_prompt)

    assert "garden" in words(heard)
    assert len(whisper._tokens(long_prompt)) <= MAX_PROMPT_TOKENS
    assert whisper._model.hf_tokenizer.decode(whisper._tokens(long_prompt))[-1].isdigit()  # "..., Alfama41"
