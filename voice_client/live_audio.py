"""The hands-free front end: the speaker and microphone of a spoken conversation, set up once.

`python -m voice_client` and `python demo.py` both talk through `LiveAudio`, so echo cancellation
(`ECHO_CANCELLATION`, on by default), the early pause of the assistant's speech when the user talks over
it (`EarlyPause`, with echo cancellation) and half-duplex muting (`HALF_DUPLEX`) behave the same in both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, AsyncIterator
from types import ModuleType
from typing import Any

import numpy as np

from voice_client.audio_format import BYTES_PER_MS, NO_DEVICE
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.turns import run_microphone

logger = logging.getLogger(__name__)


def audio_module() -> ModuleType:
    """`voice_client.audio`, imported only when a device or WAV file is used.

    Raises:
        RuntimeError: the PortAudio library is missing (sounddevice raises OSError on import).
    """
    try:
        from voice_client import audio
    except OSError as exc:
        raise RuntimeError(f"{NO_DEVICE} ({exc})") from None
    return audio


class EarlyPause:
    """Holds the assistant's speech the moment the user may be talking over it, and lets it go on if not.

    The server's VAD needs 300 ms of speech before it interrupts (so a cough does not); that alone would
    leave the reply playing over the user for half a second. With the speaker's echo cancelled, the
    microphone is quiet while only the assistant speaks, so sound on it is the user: playback pauses after
    `min_ms` of it (nothing queued is lost or counted as heard), the server's `speech_started` then cuts the
    reply (the session stops the speaker and truncates the item where it paused), and if none comes within
    `resume_s` (a cough, a door) the reply resumes where it paused.

    Args:
        speaker: the `Speaker` to pause and resume.
        threshold_rms: level of a 20 ms block, 0..1 of full scale, that counts as sound (default -34 dBFS;
            what the canceller leaves of the assistant's own voice is below -54 dBFS).
    """

    def __init__(self, speaker: Any, threshold_rms: float = 0.02, min_ms: int = 40, resume_s: float = 0.8) -> None:
        self._speaker = speaker
        self._threshold = threshold_rms * 32768
        self._min_ms = min_ms
        self._resume_s = resume_s
        self._loud_ms = 0
        self._paused_at: float | None = None

    async def listen(self, microphone: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """The microphone's blocks (PCM16 mono 24 kHz), unchanged, pausing and resuming on the way."""
        async for pcm in microphone:
            self.hear(pcm)
            yield pcm

    def hear(self, pcm: bytes) -> None:
        """One block of the (echo-cancelled) microphone."""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        loud = len(samples) > 0 and float(np.sqrt(np.mean(samples**2))) > self._threshold
        self._loud_ms = self._loud_ms + len(pcm) // BYTES_PER_MS if loud else 0
        paused = self._speaker.paused
        if self._paused_at is not None and not paused:
            self._paused_at = None  # the session stopped the speaker: the interruption was real
        if not paused and self._loud_ms >= self._min_ms and self._speaker.busy:
            self._speaker.pause()
            self._paused_at = time.monotonic()
            logger.debug("playback paused: the user may be speaking")
        elif self._paused_at is not None and time.monotonic() - self._paused_at > self._resume_s:
            self._speaker.resume()
            self._paused_at = None
            logger.debug("playback resumed: no speech followed")


class LiveAudio:
    """The default speaker and microphone, with the speaker's echo removed from the microphone.

    Use as a context manager: on entering, the speaker starts. A `LiveAudio` is the session's `AudioOutput`
    (hand it to `RealtimeSession` as `audio_output`); `await converse(session)` then streams the microphone
    to the session until it ends.

    Args:
        echo_cancellation: remove what the speaker plays from what the microphone hears (WebRTC AEC3).
        half_duplex: send silence instead of the microphone while the speaker is busy (the user cannot
            interrupt then).

    Raises (on enter):
        RuntimeError: `NoAudioDevice` or no PortAudio, with a message that says how to run without a device.
    """

    def __init__(self, echo_cancellation: bool = True, half_duplex: bool = False) -> None:
        self._echo_cancellation = echo_cancellation
        self._half_duplex = half_duplex
        self._audio = audio_module()
        self.echo: Any = None
        """The `EchoCanceller` between the two, or None when it is off."""
        self._speaker: Any = None

    @classmethod
    def from_config(cls, config: Config) -> LiveAudio:
        """With the client's `echo_cancellation` and `half_duplex` settings."""
        return cls(echo_cancellation=config.echo_cancellation, half_duplex=config.half_duplex)

    def __enter__(self) -> LiveAudio:
        if self._echo_cancellation:
            from voice_client.echo import EchoCanceller

            self.echo = EchoCanceller()
        self._speaker = self._audio.Speaker(echo=self.echo).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._speaker is not None:
            self._speaker.__exit__(*exc)
            self._speaker = None
        if self.echo is not None:
            logger.info("echo cancellation used %.2f s of CPU", self.echo.busy_s)

    async def converse(self, session: RealtimeSession) -> None:
        """Stream the microphone to `session` until the session ends; its server takes the turns.

        Raises:
            RuntimeError: the microphone will not open (`NoAudioDevice`), or the session ended with an error.
        """
        with self._audio.Microphone(echo=self.echo) as microphone:
            if self._half_duplex:
                await run_microphone(session, microphone, self._speaker)
            elif self.echo is not None:  # the cleaned microphone hears the user, not the assistant
                await run_microphone(session, EarlyPause(self._speaker).listen(microphone))
            else:
                await run_microphone(session, microphone)

    @property
    def played_bytes(self) -> int:
        """Bytes of PCM16 mono 24 kHz the user has heard so far (`AudioOutput`)."""
        return int(self._speaker.played_bytes)

    def play(self, pcm: bytes) -> None:
        """Queue PCM16 mono 24 kHz bytes on the speaker; never blocks (`AudioOutput`)."""
        self._speaker.play(pcm)

    def stop(self) -> None:
        """Drop what is queued on the speaker (`AudioOutput`, at barge-in)."""
        self._speaker.stop()
