"""Hands-free on loudspeakers: `python demo.py` whose speaker is heard by its own microphone.

A private PulseAudio server (`tests/virtual_audio.py`) loops the demo's speaker back into its microphone
(−6 dB, about 100 ms late), as a laptop without a headset does. The assistant must not hear itself (echo
cancellation), a short burst the VAD takes for speech must not cut it off, and the user speaking over it
must stop it at once, with the reply truncated to what was played.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from tests.demo_process import Demo, demo_env, last_sound, wait_turn_over
from tests.realtime_peer import (
    RealtimePeer,
    Step,
    audio_message,
    response_created,
    response_done,
    session_created,
    session_updated,
)
from tests.speech_audio import synthesize
from tests.virtual_audio import SAMPLE_RATE_HZ, Probe, VirtualAudio, first_sound, speech_end_s

pytestmark = pytest.mark.slow


def _reply_starts(probe: Probe, after: float, timeout_s: float = 120) -> float:
    """`time.monotonic()` of the speaker's first sound after `after` (a monotonic time)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        origin, samples = probe.recording()
        heard = first_sound(samples, max(after - origin, 0.0))
        if heard is not None:
            return origin + heard
        time.sleep(0.05)
    raise TimeoutError("the assistant never answered")


def _sleep_until(moment: float) -> None:
    time.sleep(max(moment - time.monotonic(), 0.0))


def _once_audible(probe: Probe, after: float, timeout_s: float = 60) -> None:
    """Return once it is past `after` (a monotonic time) and the speaker sounded in the last 100 ms."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        origin, samples = probe.recording()
        now_s = len(samples) / SAMPLE_RATE_HZ
        if origin + now_s > after and _loud_ms(samples, now_s - 0.1, now_s) > 0:
            return
        time.sleep(0.02)
    raise TimeoutError("the assistant was not speaking")


def _loud_ms(samples: np.ndarray, start_s: float, end_s: float, rms: float = 0.01, window_ms: int = 50) -> int:
    """Milliseconds of `window_ms` windows above `rms` between two offsets (seconds) of a recording."""
    size = SAMPLE_RATE_HZ * window_ms // 1000
    part = samples[int(start_s * SAMPLE_RATE_HZ) : int(end_s * SAMPLE_RATE_HZ)]
    part = part[: len(part) // size * size]
    return int(np.sum(np.sqrt(np.mean(part.reshape(-1, size) ** 2, axis=1)) > rms)) * window_ms if len(part) else 0


def test_on_loudspeakers_neither_its_echo_nor_a_short_burst_interrupts_the_reply_but_the_user_does(
    tmp_path: Path,
) -> None:
    request = synthesize("Please load the blog writer script and tell me about it.", "piper")
    burst = synthesize("Hey", "piper")  # 195 ms that the VAD hears as speech: a cough or a "yeah"
    question = synthesize("Give me three tips for a catchy blog title.", "piper")
    interruption = synthesize("Hold on, stop there. Let us talk about something else.", "piper")
    with VirtualAudio() as audio:
        audio.loopback()
        reports = tmp_path / "turns.jsonl"
        demo = Demo(demo_env(tmp_path, audio.env | {"LOG_LEVEL": "INFO"}), "--latency-log", str(reports))
        try:
            demo.wait_for(r"listening", timeout_s=600)
            with audio.probe() as probe:
                spoke_at = probe.say(request)
                reply_at = _reply_starts(probe, spoke_at + speech_end_s(request))
                _once_audible(probe, reply_at + 2.0)
                burst_at = probe.say(burst)
                wait_turn_over(demo, probe, spoke_at, reports, 0)
                turn_one, turn_one_over = demo.output(), time.monotonic()

                asked_at = probe.say(question)
                answer_at = _reply_starts(probe, asked_at + speech_end_s(question))
                _once_audible(probe, answer_at + 1.0)
                cut_at = probe.say(interruption) + first_sound(_as_float(interruption), 0.0, window_ms=20)
                _sleep_until(cut_at + speech_end_s(interruption) + 1.0)
                origin, speaker = probe.recording()
        finally:
            code = demo.stop()

    output = "\n".join(demo.output())
    assert code in (0, 130), output
    said = [line for line in turn_one if line.startswith("you › ")]
    assert len(said) == 1, f"the assistant heard itself or the burst as the user: {said}"
    assert "interrupted" not in "\n".join(turn_one), "\n".join(turn_one)
    assert _loud_ms(speaker, burst_at - origin + 1.0, turn_one_over - origin) > 2000, "the reply stopped at the burst"

    # The user's words stop the reply within 500 ms of their start, and the item is cut where it stopped.
    heard_until = last_sound(speaker[: int((cut_at - origin + 1.5) * SAMPLE_RATE_HZ)], answer_at - origin)
    assert heard_until is not None
    assert heard_until - (cut_at - origin) <= 0.5, f"the reply went on {heard_until - (cut_at - origin):.2f} s"
    transcript = next((tmp_path / "workspace" / "transcripts").glob("*.md")).read_text()
    played = re.search(r"user interrupted after (\d+) ms of the reply", transcript)
    assert played is not None, transcript
    # Cut at what was heard, not at what had arrived (the reply comes faster than it plays): the item's
    # played part fits in the sound heard since the answer began (one item, or the last after a preamble).
    heard_s = heard_until - (answer_at - origin)
    assert 0 < int(played[1]) / 1000 <= heard_s + 0.3, (played[0], heard_s)


def _as_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


async def test_half_duplex_mutes_the_microphone_while_the_assistant_speaks(tmp_path: Path) -> None:
    """HALF_DUPLEX=true python demo.py (against a wire-level Realtime peer): what the user says over the
    reply is not sent, what they say after it is."""
    tone = (np.sin(2 * np.pi * 330 * np.arange(3 * SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ) * 6000).astype("<i2").tobytes()
    reply = [
        response_created("resp_1"),
        *audio_message("resp_1", "item_1", [tone[i : i + 9600] for i in range(0, len(tone), 9600)], "A long reply."),
        response_done("resp_1"),
    ]
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("input_audio_buffer.append", send=reply),  # the microphone is on
        Step("the.end"),
    ]
    over = synthesize("This is said while the assistant speaks, and nobody hears it.", "piper")
    after = synthesize("Now it is quiet.", "piper")
    with VirtualAudio() as audio:
        async with RealtimePeer(script, ignore={"input_audio_buffer.append", "session.update"}) as peer:
            env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REALTIME_URL")}
            env |= audio.env | {"HALF_DUPLEX": "true", "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": ""}
            env |= {"WORKING_DIRECTORY": str(tmp_path / "workspace"), "ECHO_CANCELLATION": "false"}
            demo = Demo(env, "--no-library", "--realtime-url", peer.url)
            try:
                with audio.probe() as probe:
                    started = await asyncio.to_thread(_reply_starts, probe, time.monotonic(), 60)
                    await asyncio.to_thread(probe.say, over)
                    await asyncio.sleep(max(started + 3.5 - time.monotonic(), 0) + speech_end_s(over))
                    await asyncio.to_thread(probe.say, after)
                    await asyncio.sleep(speech_end_s(after) + 1.0)
            finally:
                code = demo.stop()
    assert code in (0, 130), "\n".join(demo.output())
    sent = b"".join(base64.b64decode(e["audio"]) for e in peer.of_type("input_audio_buffer.append"))
    heard_ms = _loud_ms(_as_float(sent), 0.0, len(sent) / 2 / SAMPLE_RATE_HZ)
    after_ms = _loud_ms(_as_float(after), 0.0, len(after) / 2 / SAMPLE_RATE_HZ)
    over_ms = _loud_ms(_as_float(over), 0.0, len(over) / 2 / SAMPLE_RATE_HZ)
    assert 0.5 * after_ms <= heard_ms <= after_ms + 300, (heard_ms, after_ms, over_ms)
