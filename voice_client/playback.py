"""What the user actually heard: per-item audio bookkeeping for barge-in truncation.

The speaker itself (`audio.py`) or a test's list of chunks implements `AudioOutput`; this module
knows nothing about sounddevice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from voice_client.audio_format import BYTES_PER_MS


class AudioOutput(Protocol):
    """A sink that plays PCM16 mono 24 kHz little-endian bytes from a buffer."""

    @property
    def played_bytes(self) -> int:
        """Bytes actually sent to the speaker since creation (monotonic)."""
        ...

    def play(self, pcm: bytes) -> None:
        """Queue audio for playback; never blocks."""
        ...

    def stop(self) -> None:
        """Stop at once and drop everything queued but not yet played."""
        ...


@dataclass(frozen=True)
class Interruption:
    """Where playback of the current assistant item stopped."""

    item_id: str
    played_ms: int
    """Milliseconds of this item the user heard, clamped to the audio received for it."""
    finished: bool
    """True when the item's audio had all arrived and been played (no truncate needed); False in a pause between
    two of its sentences, while more was still to come."""


class Playback:
    """Feeds assistant audio to an `AudioOutput` and remembers where each item starts in it."""

    def __init__(self, output: AudioOutput | None) -> None:
        self._output = output
        self._queued = 0
        self._item_id: str | None = None
        self._item_start = 0
        self._item_bytes = 0
        self._item_complete = False  # the server has sent all of the current item's audio (`complete`)
        self._cut: dict[str, None] = {}  # ordered set of interrupted item ids

    def delay_s(self) -> float | None:
        """Seconds until audio queued now would be heard; None without an output."""
        if self._output is None:
            return None
        return max(self._queued - self._output.played_bytes, 0) / (BYTES_PER_MS * 1000)

    def add(self, item_id: str, pcm: bytes) -> bool:
        """Queue one delta of item `item_id`; False (and dropped) if that item was interrupted."""
        if item_id in self._cut:
            return False
        if item_id != self._item_id:
            self._item_id, self._item_start, self._item_bytes = item_id, self._queued, 0
            self._item_complete = False
        self._item_bytes += len(pcm)
        self._queued += len(pcm)
        if self._output is not None:
            self._output.play(pcm)
        return True

    def complete(self) -> None:
        """The current item's audio has all arrived (its response is done): played to its end, it is finished."""
        self._item_complete = True

    def interrupt(self) -> Interruption | None:
        """Stop playback now; None when no assistant item was playing."""
        if self._item_id is None:
            return None
        item_id = self._item_id
        played = self._output.played_bytes if self._output is not None else self._queued
        position = min(max(played - self._item_start, 0), self._item_bytes)
        finished = position >= self._item_bytes and self._item_complete  # else a pause between two sentences
        if self._output is not None:
            self._output.stop()
        self._queued = played
        self._item_id = None
        if not finished:
            self._cut[item_id] = None
            if len(self._cut) > 64:  # only recent items can still receive late deltas
                del self._cut[next(iter(self._cut))]
        return Interruption(item_id, position // BYTES_PER_MS, finished)
