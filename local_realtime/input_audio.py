"""The input audio buffer of one connection, with optional server VAD over everything appended.

Positions are milliseconds of audio appended since the connection opened (GA `audio_start_ms`
and `audio_end_ms`). Audio is PCM16 mono 24 kHz little-endian bytes throughout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from local_realtime.audio_format import BYTES_PER_MS
from local_realtime.engine import Detector, DetectorFactory
from local_realtime.session import TurnDetection

KEEP_MS = 2_000
"""With VAD on and no speech in progress, at least this much of the buffer is kept (and the prefix padding
plus a second): an onset the interruption guard confirms late reaches back less than that."""
MAX_BUFFER_MS = 15 * 60_000
"""The most uncommitted audio the buffer holds (without VAD the client commits it); more is refused."""
INTERRUPTION_MS = 300
"""While the assistant is audible, speech must last this long to interrupt it: a cough, a click or a
short burst of echo the canceller let through does not cut the reply off."""


class BufferFull(ValueError):
    """The input audio buffer is at `MAX_BUFFER_MS`; the message says to commit or clear it."""


@dataclass(frozen=True)
class SpeechEvent:
    """`speech_started` / `speech_stopped` (or a pause between them, and speech resuming) at `audio_ms`
    (session position, ms)."""

    kind: Literal["speech_started", "speech_stopped", "speech_paused", "speech_resumed"]
    audio_ms: int


class InputAudio:
    """Appended user audio not yet committed, and the detector listening to it.

    Not thread-safe: one connection calls it, `append` possibly from a worker thread, one call at a
    time.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._buffer_start_ms = 0  # session position of self._buffer[0]
        self._detector: Detector | None = None
        self._detector_origin_ms = 0  # session position where the detector's clock is 0
        self._speech_start_ms: int | None = None
        self._keep_ms = KEEP_MS

    @property
    def duration_ms(self) -> int:
        return len(self._buffer) // BYTES_PER_MS

    def listen(self, turn_detection: TurnDetection | None, new_detector: DetectorFactory) -> None:
        """Start (or stop, with None) server VAD with these settings; may load a model, so call in a thread.

        Raises:
            ValueError: settings the detector refuses (e.g. threshold 0 or 1).
        """
        self._speech_start_ms = None
        if turn_detection is None:
            self._detector = None
            return
        self._detector = new_detector(
            turn_detection.threshold, turn_detection.prefix_padding_ms, turn_detection.silence_duration_ms
        )
        self._keep_ms = max(KEEP_MS, turn_detection.prefix_padding_ms + 1_000)
        self._detector_origin_ms = self._buffer_start_ms + self.duration_ms

    def append(self, pcm: bytes, interrupting: bool = False) -> list[SpeechEvent]:
        """Add audio; with VAD on, return the speech starts/stops it completes (CPU-bound: use a thread).

        Args:
            interrupting: the assistant is audible, so speech must last `INTERRUPTION_MS` to start a turn.

        Raises:
            BufferFull: the buffer already holds `MAX_BUFFER_MS` of audio (nothing is added).
        """
        if self.duration_ms + len(pcm) // BYTES_PER_MS > MAX_BUFFER_MS:
            raise BufferFull(
                f"The input audio buffer holds {self.duration_ms // 60_000} minutes already; commit or clear it."
            )
        self._buffer.extend(pcm)
        if self._detector is None:
            return []
        self._detector.min_speech_ms = INTERRUPTION_MS if interrupting else 0
        if self._speech_start_ms is None and not self._detector.in_speech and self.duration_ms > 2 * self._keep_ms:
            drop_ms = self.duration_ms - self._keep_ms  # silence long past: it can never be part of a turn
            del self._buffer[: drop_ms * BYTES_PER_MS]
            self._buffer_start_ms += drop_ms
        events = []
        for event in self._detector.feed(pcm):
            at_ms = self._detector_origin_ms + event.audio_ms
            if event.kind == "speech_started":
                self._speech_start_ms = max(at_ms, self._buffer_start_ms)
            events.append(SpeechEvent(event.kind, at_ms))
        return events

    def peek_speech(self, end_ms: int) -> bytes:
        """The audio from the last speech start to `end_ms`, left in the buffer."""
        start, end = self._speech_span(end_ms)
        return bytes(self._buffer[start:end])

    def take_speech(self, end_ms: int) -> bytes:
        """Remove and return the audio from the last speech start to `end_ms`; what follows stays."""
        start, end = self._speech_span(end_ms)
        self._speech_start_ms = None
        speech = bytes(self._buffer[start:end])
        del self._buffer[:end]
        self._buffer_start_ms += end // BYTES_PER_MS
        return speech

    def take_all(self) -> bytes:
        """Remove and return everything buffered (manual commit); the detector starts afresh."""
        audio = bytes(self._buffer)
        self.clear()
        return audio

    def clear(self) -> None:
        """Drop buffered audio and any speech in progress."""
        self._buffer_start_ms += self.duration_ms
        self._buffer.clear()
        self._speech_start_ms = None
        if self._detector is not None:
            self._detector.reset()
            self._detector_origin_ms = self._buffer_start_ms

    def _speech_span(self, end_ms: int) -> tuple[int, int]:
        """Byte offsets in the buffer of the audio from the last speech start (or the buffer's start) to `end_ms`."""
        start_ms = self._speech_start_ms if self._speech_start_ms is not None else self._buffer_start_ms
        start = max(0, (start_ms - self._buffer_start_ms) * BYTES_PER_MS)
        return start, max(start, (end_ms - self._buffer_start_ms) * BYTES_PER_MS)


class PlaybackClock:
    """Until when the client is probably still playing the assistant's audio.

    The client plays audio as it arrives, in real time, so what was sent ends about its duration after
    the first delta (or after the previous audio ends, whichever is later).
    """

    def __init__(self, tail_ms: int = 300) -> None:
        self._tail_s = tail_ms / 1000
        self._until = 0.0

    def sent(self, audio_ms: int) -> None:
        """`audio_ms` more milliseconds of assistant audio went to the client now."""
        self._until = max(self._until, time.monotonic()) + audio_ms / 1000

    def stopped(self) -> None:
        """The client stopped playing (the user interrupted, or it truncated the item)."""
        self._until = 0.0

    def audible(self) -> bool:
        """True while sent audio may still be playing, or ended less than `tail_ms` ago."""
        return time.monotonic() < self._until + self._tail_s
