"""The page's audio bookkeeping without a browser: audio nobody could hear, a new tab, the microphone's rate."""

from __future__ import annotations

import numpy as np
import pytest

from voice_client.playback import Playback
from voice_client.web.browser_audio import BrowserAudio
from voice_client.web.tab import Tab


def test_audio_sent_while_no_page_is_open_counts_as_played() -> None:
    audio = BrowserAudio(Tab())
    playback = Playback(audio)
    playback.add("item_1", bytes(48_000))  # the coach's opening, before anyone opened the page
    assert audio.played_bytes == 48_000
    assert playback.delay_s() == 0.0
    playback.complete()  # its response is done
    cut = playback.interrupt()
    assert cut is not None and cut.finished  # nothing is left to truncate


def test_a_pause_between_two_sentences_of_a_reply_is_not_its_end() -> None:
    audio = BrowserAudio(Tab())
    playback = Playback(audio)
    playback.add("item_1", bytes(48_000))  # the first sentence, all played; the next one is still being made
    cut = playback.interrupt()
    assert cut is not None and not cut.finished and cut.played_ms == 1000  # truncated where the user stopped hearing
    assert not playback.add("item_1", bytes(4_800))  # and the rest of it is not played


def test_a_new_tab_counts_everything_sent_before_it_as_played() -> None:
    audio = BrowserAudio(Tab())
    audio.play(bytes(9_600))
    audio.cleared(100)  # the old tab's last report
    audio.new_tab()
    assert audio.played_bytes == 9_600
    audio.position(240)  # the new tab counts from zero
    assert audio.played_bytes == 9_600 + 480


@pytest.mark.parametrize("rate_hz", [44_100, 48_000, 16_000, 24_000])
def test_the_microphone_is_resampled_to_24_khz(rate_hz: int) -> None:
    audio = BrowserAudio(Tab())
    assert audio.microphone(bytes(640)) == b""  # before the page said its rate
    audio.start_microphone(rate_hz)
    t = np.arange(rate_hz) / rate_hz  # one second of 440 Hz, in 20 ms blocks
    samples = (np.sin(2 * np.pi * 440 * t) * 10_000).astype("<i2")
    block = rate_hz // 50
    out = b"".join(audio.microphone(samples[i : i + block].tobytes()) for i in range(0, len(samples), block))
    received = np.frombuffer(out, dtype="<i2").astype(np.float64)
    assert 24_000 - 1_000 <= len(received) <= 24_000  # the resampler holds back at most ~40 ms (its filter)
    spectrum = np.abs(np.fft.rfft(received[2000:14_000]))
    assert abs(np.argmax(spectrum) * 24_000 / 12_000 - 440) <= 2


def test_an_unusable_capture_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="unusable capture rate"):
        BrowserAudio(Tab()).start_microphone(1)
