"""The Realtime audio format, defined once: PCM16 mono 24 kHz little-endian."""

from __future__ import annotations

import numpy as np

from local_realtime.audio_format import BYTES_PER_MS, SAMPLE_DTYPE, byte_count, duration_ms, duration_s, session_format


def test_a_millisecond_is_48_bytes_and_conversions_agree() -> None:
    second = np.zeros(24_000, dtype=SAMPLE_DTYPE).tobytes()

    assert BYTES_PER_MS == 48 and len(second) == byte_count(1000)
    assert duration_ms(len(second)) == 1000 and duration_ms(47) == 0
    assert duration_s(byte_count(1500) + 1) == 1.5


def test_the_session_states_the_ga_format_in_a_fresh_dict() -> None:
    stated = session_format()
    stated["rate"] = 16_000

    assert session_format() == {"type": "audio/pcm", "rate": 24000}
