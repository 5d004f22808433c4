"""The Realtime API's audio format, the only one the engine takes in and sends out: PCM16 mono 24 kHz
little-endian (`{"type": "audio/pcm", "rate": 24000}` in a session).

Rates the models work at (Whisper's and Silero's 16 kHz, a voice's native rate) belong to their
modules; they resample to and from this format at their edges.
"""

from __future__ import annotations

from typing import Any

MIME_TYPE = "audio/pcm"
"""The format's `type` in a session's `audio.input.format` and `audio.output.format`."""
SAMPLE_RATE_HZ = 24_000
BYTES_PER_SAMPLE = 2
"""Signed 16-bit little-endian samples, one channel."""
SAMPLE_DTYPE = "<i2"
"""The numpy dtype of one sample."""
BYTES_PER_MS = SAMPLE_RATE_HZ * BYTES_PER_SAMPLE // 1000
"""48: audio positions and durations are whole milliseconds of this many bytes."""


def session_format() -> dict[str, Any]:
    """The format as a session states it: `{"type": "audio/pcm", "rate": 24000}` (a new dict each call)."""
    return {"type": MIME_TYPE, "rate": SAMPLE_RATE_HZ}


def duration_ms(byte_count: int) -> int:
    """Whole milliseconds of audio in `byte_count` bytes (rounded down)."""
    return byte_count // BYTES_PER_MS


def duration_s(byte_count: int) -> float:
    """Seconds of audio in `byte_count` bytes, to the millisecond."""
    return round(byte_count / (BYTES_PER_MS * 1000), 3)


def byte_count(ms: int) -> int:
    """Bytes in `ms` milliseconds of audio (a whole number of samples)."""
    return ms * BYTES_PER_MS
