"""The page as the session's speaker and microphone.

Speaker: assistant audio goes to the page as binary frames; the page's player worklet counts the samples it
actually plays and reports them (`playback.position` about every 20 ms, `playback.cleared` with the exact count
when it stops), so a barge-in truncates the item where the user stopped hearing it. Microphone: the page sends
PCM16 mono at its own capture rate (Firefox cannot capture at 24 kHz); it is resampled here to 24 kHz.
"""

from __future__ import annotations

import numpy as np
import soxr

from voice_client.audio_format import SAMPLE_RATE_HZ
from voice_client.web.tab import Tab

_BYTES_PER_SAMPLE = 2


class BrowserAudio:
    """An `AudioOutput` (see `playback.py`) that plays in the page, and the page's microphone.

    `played_bytes` follows the page's reports. When the session stops playback it reads `played_bytes` first;
    the page then answers with the exact count, and the difference (what played while the stop travelled) is
    carried as an offset so the next item's position stays exact.
    """

    def __init__(self, tab: Tab) -> None:
        self._tab = tab
        self._raw = 0  # bytes the current tab reports played
        self._sent = 0  # bytes handed to play(), whoever heard them
        self._offset = 0
        self._stopped_at: int | None = None  # played_bytes when stop() was sent, until the page confirms
        self._resampler: soxr.ResampleStream | None = None
        self.input_rate_hz: int | None = None
        """The page's capture rate (None until its microphone starts)."""

    # ------------------------------------------------------------------ AudioOutput

    @property
    def played_bytes(self) -> int:
        """Bytes of PCM16 mono 24 kHz the page has played since the conversation began (monotonic)."""
        return self._raw - self._offset

    def play(self, pcm: bytes) -> None:
        """Send PCM16 mono 24 kHz bytes to the page's player; never blocks. With no page open nobody hears them:
        they count as played at once, so the position of the next item stays exact."""
        self._sent += len(pcm)
        if self._tab.attached:
            self._tab.send_audio(pcm)
        else:
            self._offset -= len(pcm)

    def stop(self) -> None:
        """Tell the page to drop what it has queued; it answers with `playback.cleared`."""
        self._stopped_at = self.played_bytes
        self._tab.send({"type": "audio.clear"})

    # ------------------------------------------------------------------ the page's reports

    def position(self, played_samples: int) -> None:
        """`playback.position`: the page's player has played `played_samples` (24 kHz) since the tab opened."""
        if self._stopped_at is None:  # after a stop only the exact count (`cleared`) counts
            self._raw = max(self._raw, played_samples * _BYTES_PER_SAMPLE)

    def cleared(self, played_samples: int) -> None:
        """`playback.cleared`: the page stopped (asked to, or by its Stop button) after `played_samples`."""
        raw = played_samples * _BYTES_PER_SAMPLE
        if self._stopped_at is not None:
            self._offset = raw - self._stopped_at
            self._stopped_at = None
        self._raw = raw

    def new_tab(self) -> None:
        """A new tab counts from zero; what the last one did not play is gone, so all audio so far counts as
        played."""
        self._offset = -self._sent
        self._raw = 0
        self._stopped_at = None
        self._resampler = None
        self.input_rate_hz = None

    # ------------------------------------------------------------------ microphone

    def start_microphone(self, sample_rate_hz: int) -> None:
        """The page's microphone runs at `sample_rate_hz` (8 kHz .. 192 kHz).

        Raises:
            ValueError: the rate is outside that range.
        """
        if not 8000 <= sample_rate_hz <= 192_000:
            raise ValueError(f"unusable capture rate {sample_rate_hz} Hz")
        self.input_rate_hz = sample_rate_hz
        self._resampler = (
            None
            if sample_rate_hz == SAMPLE_RATE_HZ
            else soxr.ResampleStream(sample_rate_hz, SAMPLE_RATE_HZ, 1, dtype="int16", quality="HQ")
        )

    def microphone(self, pcm: bytes) -> bytes:
        """One block of the page's microphone (PCM16 mono at `input_rate_hz`) as PCM16 mono 24 kHz; b"" before
        the microphone started or for a block of odd length."""
        if self.input_rate_hz is None or len(pcm) % _BYTES_PER_SAMPLE:
            return b""
        if self._resampler is None:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2")
        return self._resampler.resample_chunk(samples).astype("<i2").tobytes()
