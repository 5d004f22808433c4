"""The hands-free front end: the speaker and microphone of a spoken conversation, set up once.

`python -m voice_client` and `python demo.py` both talk through `LiveAudio`, so echo cancellation
(`ECHO_CANCELLATION`, on by default) and half-duplex muting (`HALF_DUPLEX`) behave the same in both.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.turns import run_microphone

logger = logging.getLogger(__name__)

NO_DEVICE = 'no audio device; use --wav FILE or --text "..." instead'


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
            await run_microphone(session, microphone, self._speaker if self._half_duplex else None)

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
