"""The client's one audio format, and what to say when there is no device to play or record it.

Everything the client sends, plays, records and writes is PCM16 mono 24 kHz little-endian bytes: the
Realtime API's `audio/pcm` format (`session.update` declares it for input and output).
"""

from __future__ import annotations

from typing import Any

SAMPLE_RATE_HZ = 24_000
"""Samples per second."""
SAMPLE_BYTES = 2
"""PCM16: two bytes per sample, one channel."""
BYTES_PER_MS = SAMPLE_RATE_HZ * SAMPLE_BYTES // 1000
"""48 bytes of audio per millisecond."""
REALTIME_PCM: dict[str, Any] = {"type": "audio/pcm", "rate": SAMPLE_RATE_HZ}
"""The format as `session.update` names it (`audio.input.format`, `audio.output.format`)."""
NO_DEVICE = 'no audio device; use --wav FILE or --text "..." instead'
"""The start of every error about a missing microphone or speaker."""
