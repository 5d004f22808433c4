"""VoiceActivityDetector on real speech (flite, espeak-ng) padded with silence, and on noise."""

from __future__ import annotations

import numpy as np
import pytest

from local_realtime.vad import VadEvent, VoiceActivityDetector
from tests.speech_audio import BYTES_PER_MS, chunks, silence, synthesize

COMMANDS = (
    ("load the blog writer script", "flite"),
    ("search my library for books about productivity", "espeak"),
    ("what is the weather like today", "flite"),
)


@pytest.fixture(scope="module")
def command() -> bytes:
    return synthesize("load the blog writer script")


TURN_EDGES = ("speech_started", "speech_stopped")


def feed_all(
    vad: VoiceActivityDetector, pcm: bytes, chunk_ms: int = 40, kinds: tuple[str, ...] = TURN_EDGES
) -> list[VadEvent]:
    """The events of `kinds` (by default a turn's start and stop) from feeding `pcm` in `chunk_ms` pieces."""
    return [event for chunk in chunks(pcm, chunk_ms) for event in vad.feed(chunk) if event.kind in kinds]


def test_one_utterance_gives_one_start_and_stop_around_it(command: bytes) -> None:
    speech_ms = len(command) // BYTES_PER_MS
    events = feed_all(VoiceActivityDetector(), silence(1000) + command + silence(1500))

    assert [e.kind for e in events] == ["speech_started", "speech_stopped"]
    # start = speech onset (at or a little after 1000 ms) minus the 300 ms prefix padding
    assert 600 <= events[0].audio_ms <= 1000
    # stop = end of speech plus the 500 ms of silence that confirm it
    assert 1000 + speech_ms <= events[1].audio_ms <= 1000 + speech_ms + 700


def test_stream_of_utterances_gives_a_start_stop_pair_for_each() -> None:
    stream, spans = silence(700), []
    for text, voice in COMMANDS:
        start_ms = len(stream) // BYTES_PER_MS
        stream += synthesize(text, voice)  # type: ignore[arg-type]
        spans.append((start_ms, len(stream) // BYTES_PER_MS))
        stream += silence(1500)

    events = feed_all(VoiceActivityDetector(), stream, chunk_ms=20)

    assert [e.kind for e in events] == ["speech_started", "speech_stopped"] * len(COMMANDS)
    for (start_ms, end_ms), started, stopped in zip(spans, events[::2], events[1::2], strict=True):
        assert start_ms - 300 <= started.audio_ms <= start_ms + 300
        assert end_ms <= stopped.audio_ms <= end_ms + 1000


def test_silence_and_noise_give_no_events() -> None:
    noise = np.random.default_rng(7).normal(0.0, 0.03 * 32768, 24_000 * 5)  # about -30 dBFS white noise
    pcm = silence(3000) + noise.astype("<i2").tobytes() + silence(1000)

    assert feed_all(VoiceActivityDetector(), pcm) == []


def test_events_do_not_depend_on_how_audio_is_chunked(command: bytes) -> None:
    pcm = silence(500) + command + silence(1000)
    odd_sized = [pcm[i : i + 333] for i in range(0, len(pcm), 333)]  # odd byte counts split samples

    vad = VoiceActivityDetector()
    by_odd_chunks = [event for chunk in odd_sized for event in vad.feed(chunk)]

    assert by_odd_chunks == feed_all(VoiceActivityDetector(), pcm, chunk_ms=100, kinds=ALL)
    assert [e.kind for e in by_odd_chunks] == ["speech_started", "speech_paused", "speech_stopped"]


def test_reset_restarts_positions_and_state(command: bytes) -> None:
    pcm = silence(500) + command + silence(1000)
    vad = VoiceActivityDetector()
    first = feed_all(vad, pcm)
    vad.feed(command[: len(command) // 2])  # leave it mid-utterance
    vad.reset()

    assert not vad.in_speech
    assert feed_all(vad, pcm) == first


def test_prefix_padding_moves_speech_start_earlier(command: bytes) -> None:
    pcm = silence(1000) + command + silence(1000)

    unpadded = feed_all(VoiceActivityDetector(prefix_padding_ms=0), pcm)
    padded = feed_all(VoiceActivityDetector(prefix_padding_ms=300), pcm)

    assert unpadded[0].audio_ms - padded[0].audio_ms == 300
    assert unpadded[1] == padded[1]


def test_silence_duration_decides_whether_a_pause_ends_the_turn(command: bytes) -> None:
    second = synthesize("what is the weather like today")
    pcm = silence(500) + command + silence(400) + second + silence(1500)

    patient = feed_all(VoiceActivityDetector(silence_duration_ms=1000), pcm)
    eager = feed_all(VoiceActivityDetector(silence_duration_ms=200), pcm)

    assert [e.kind for e in patient] == ["speech_started", "speech_stopped"]
    assert [e.kind for e in eager] == ["speech_started", "speech_stopped"] * 2
    assert eager[2].audio_ms >= eager[1].audio_ms  # padding never reaches into the previous turn


def test_higher_threshold_ends_speech_in_noise_sooner(command: bytes) -> None:
    speech = np.frombuffer(command, "<i2").astype(np.float64)
    noise = np.random.default_rng(1).normal(0.0, 1.0, len(speech) + 48_000)
    noise *= np.sqrt(np.mean(speech**2))  # same power as the speech: SNR 0 dB
    noise[24_000 : 24_000 + len(speech)] += speech
    pcm = np.clip(noise, -32768, 32767).astype("<i2").tobytes() + silence(1000)

    lenient = feed_all(VoiceActivityDetector(threshold=0.3), pcm)
    strict = feed_all(VoiceActivityDetector(threshold=0.9), pcm)

    assert [e.kind for e in lenient] == [e.kind for e in strict] == ["speech_started", "speech_stopped"]
    assert strict[0].audio_ms >= lenient[0].audio_ms
    assert strict[1].audio_ms < lenient[1].audio_ms


ALL = ("speech_started", "speech_paused", "speech_resumed", "speech_stopped")


def test_a_pause_comes_before_the_stop_and_speech_after_it_resumes_the_turn(command: bytes) -> None:
    second = synthesize("what is the weather like today")
    pcm = silence(500) + command + silence(250) + second + silence(1500)

    events = feed_all(VoiceActivityDetector(silence_duration_ms=800, pause_ms=160), pcm, kinds=ALL)

    kinds = [e.kind for e in events]
    assert kinds == ["speech_started", "speech_paused", "speech_resumed", "speech_paused", "speech_stopped"]
    paused, resumed, last_pause, stopped = events[1:]
    assert paused.audio_ms < resumed.audio_ms < last_pause.audio_ms
    assert stopped.audio_ms - last_pause.audio_ms == 800 - 160  # the same silence, measured further


@pytest.mark.parametrize("kwargs", [{"threshold": 0.0}, {"threshold": 1.5}, {"silence_duration_ms": -1}])
def test_out_of_range_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        VoiceActivityDetector(**kwargs)  # type: ignore[arg-type]


def test_with_a_minimum_a_short_burst_starts_no_turn_and_speech_starts_at_its_onset(command: bytes) -> None:
    burst = synthesize("Hey", "piper")  # about 200 ms, heard as speech
    stream = silence(1000) + burst + silence(1500) + command + silence(1500)
    assert [e.kind for e in feed_all(VoiceActivityDetector(), stream)][:2] == ["speech_started", "speech_stopped"]
    guarded = feed_all(VoiceActivityDetector(min_speech_ms=300, prefix_padding_ms=0), stream)
    assert [e.kind for e in guarded] == ["speech_started", "speech_stopped"]  # the command only
    unguarded = feed_all(VoiceActivityDetector(prefix_padding_ms=0), stream)
    assert guarded == unguarded[2:]  # placed at the command's onset, not 300 ms later
