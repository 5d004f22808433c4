"""EchoCanceller (WebRTC AEC3 through livekit) on a synthetic room echo of real speech (piper).

The far end is what the speaker plays; the microphone hears it 60 ms late at −6 dB with a decaying tail,
plus, in the double-talk case, the user's own voice. Echo alone must nearly vanish; the user's voice must
come through.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.speech_audio import synthesize
from voice_client.echo import FRAME_BYTES, EchoCanceller

pytestmark = pytest.mark.slow  # piper

RATE = 24_000


def _room(far: np.ndarray, delay_ms: int = 60, gain: float = 0.5) -> np.ndarray:
    delay = RATE * delay_ms // 1000
    response = np.zeros(delay + 2400)
    response[delay] = gain
    tail = np.random.default_rng(0).standard_normal(2399) * np.exp(-np.arange(2399) / 480)
    response[delay + 1 :] = 0.05 * tail
    return np.convolve(far, response)[: len(far)]


def _run(canceller: EchoCanceller, far: np.ndarray, near: np.ndarray, block: int = 2 * FRAME_BYTES) -> np.ndarray:
    """Feed both sides in 20 ms blocks, as the speaker's and microphone's callbacks do; the cleaned microphone."""
    far_pcm = np.clip(far, -32768, 32767).astype("<i2").tobytes()
    near_pcm = np.clip(near, -32768, 32767).astype("<i2").tobytes()
    out = bytearray()
    for start in range(0, len(far_pcm), block):
        canceller.far_end(far_pcm[start : start + block], 0.02)
        out += canceller.near_end(near_pcm[start : start + block], 0.02)
    return np.frombuffer(bytes(out), dtype="<i2").astype(np.float64)


def _power_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x**2) + 1e-9))


@pytest.fixture(scope="module")
def reply() -> np.ndarray:
    pcm = synthesize("Welcome to the blog writer. First we pick a topic, then we outline the post together.", "piper")
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def test_the_speakers_echo_is_removed_from_the_microphone(reply: np.ndarray) -> None:
    echo = _room(reply)
    cleaned = _run(EchoCanceller(), reply, echo)
    assert len(cleaned) == len(echo) // 240 * 240  # whole 10 ms frames, nothing lost
    settled = len(cleaned) // 3  # AEC3 adapts within the first second
    erle = _power_db(echo[settled : len(cleaned)]) - _power_db(cleaned[settled:])
    assert erle > 30, f"echo return loss enhancement {erle:.1f} dB"


def test_the_users_voice_comes_through_while_the_assistant_speaks(reply: np.ndarray) -> None:
    user = np.frombuffer(synthesize("Stop, I have a question about the outline.", "flite"), dtype="<i2")
    user = user.astype(np.float64) * 0.7
    start = len(reply) // 2
    near = _room(reply)
    span = slice(start, min(start + len(user), len(near)))
    near[span] += user[: span.stop - span.start]
    cleaned = _run(EchoCanceller(), reply, near)
    kept = _power_db(cleaned[span]) - _power_db(user[: span.stop - span.start])
    assert kept > -10, f"the user's voice lost {-kept:.1f} dB"
    echo_only = _power_db(cleaned[len(cleaned) // 3 : start])
    assert _power_db(cleaned[span]) - echo_only > 30, (
        "the user's voice does not stand out from what is left of the echo"
    )


def test_a_delay_beyond_what_webrtc_accepts_is_capped_not_an_error() -> None:
    canceller = EchoCanceller()
    canceller.far_end(bytes(2 * FRAME_BYTES), output_delay_s=0.9)  # PortAudio under load reports such times
    assert canceller.near_end(bytes(2 * FRAME_BYTES), input_delay_s=0.9) == bytes(2 * FRAME_BYTES)
