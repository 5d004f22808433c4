"""Microphone, speaker and WAV files; the only module that imports sounddevice.

All audio is PCM16 mono 24 kHz little-endian bytes. The sounddevice callbacks never block: the
microphone hands blocks to the event loop with `call_soon_threadsafe` onto a bounded queue
(dropping when full); the speaker plays from a locked buffer and counts the bytes really played.
Given one `EchoCanceller`, the speaker feeds it what it plays and the microphone hands on its
blocks with that echo removed (both in their callbacks, so the two stay in step).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import sounddevice as sd
import soxr

from voice_client.audio_format import NO_DEVICE, SAMPLE_RATE_HZ
from voice_client.echo import EchoCanceller

logger = logging.getLogger(__name__)

TAIL_S = 0.3
"""How long after the last sample the speaker still counts as busy (room echo, a loopback's delay)."""


class NoAudioDevice(RuntimeError):
    """No usable microphone or speaker; the message says how to run without one."""


def _open(kind: str, **options: Any) -> sd.RawInputStream | sd.RawOutputStream:
    """A PCM16 mono 24 kHz stream on the default `kind` ("input" or "output") device, not started.

    Raises:
        NoAudioDevice: the device does not exist or will not open (a sound server can list a device that
            will not open: PulseAudio with no sink).
    """
    stream = sd.RawInputStream if kind == "input" else sd.RawOutputStream
    try:
        sd.query_devices(kind=kind)
        return stream(samplerate=SAMPLE_RATE_HZ, channels=1, dtype="int16", **options)
    except (sd.PortAudioError, ValueError) as exc:
        raise NoAudioDevice(f"{NO_DEVICE} ({kind}: {exc})") from None


def require_devices() -> None:
    """Raise `NoAudioDevice` unless both a microphone and a speaker exist and open."""
    _open("input").close()
    _open("output").close()


def _delay_s(later: float, earlier: float) -> float:
    """A PortAudio stream time difference in seconds, or 0 where the host API reports none or nonsense."""
    delay = later - earlier
    return delay if 0.0 < delay < 1.0 else 0.0


class Speaker:
    """Plays queued PCM on the default output device; an `AudioOutput` for barge-in.

    Args:
        block_ms: the device callback's block size.
        echo: the canceller to hand everything played to (its far end), if any.
    """

    def __init__(self, block_ms: int = 20, echo: EchoCanceller | None = None) -> None:
        self._echo = echo
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._played = 0
        self._paused = False
        self._last_sound_at = 0.0
        self._stream = _open("output", blocksize=SAMPLE_RATE_HZ * block_ms // 1000, callback=self._fill)

    def __enter__(self) -> Speaker:
        self._stream.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.stop()
        self._stream.close()

    @property
    def played_bytes(self) -> int:
        """Bytes handed to the device minus what its output latency still holds (not yet heard; nothing
        once the last sound has had that long to come out)."""
        latency_s = self._stream.latency
        with self._lock:
            played, last = self._played, self._last_sound_at
        in_flight_s = min(latency_s, max(last + latency_s - time.monotonic(), 0.0))
        return max(played - int(in_flight_s * SAMPLE_RATE_HZ) * 2, 0)

    @property
    def busy(self) -> bool:
        """True while audio is queued or was played within the device's latency plus `TAIL_S` (the
        assistant is audible, or its last words may still be coming back into the microphone)."""
        with self._lock:
            queued, last = bool(self._buffer), self._last_sound_at
        return queued or time.monotonic() - last < self._stream.latency + TAIL_S

    def play(self, pcm: bytes) -> None:
        with self._lock:
            self._buffer.extend(pcm)

    def stop(self) -> None:
        """Drop everything queued (and end a pause)."""
        with self._lock:
            self._buffer.clear()
            self._paused = False

    @property
    def paused(self) -> bool:
        """True while playback holds still (silence out, the queue kept) after `pause`."""
        with self._lock:
            return self._paused

    def pause(self) -> None:
        """Hold playback where it is: silence goes out, nothing queued is lost or counted as played."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Go on playing from where `pause` held it."""
        with self._lock:
            self._paused = False

    def _fill(self, outdata: Any, frames: int, timing: Any, status: sd.CallbackFlags) -> None:
        wanted = len(outdata)
        with self._lock:
            chunk = b"" if self._paused else bytes(self._buffer[:wanted])
            del self._buffer[: len(chunk)]
            self._played += len(chunk)
            if chunk:
                self._last_sound_at = time.monotonic()
        outdata[: len(chunk)] = chunk
        outdata[len(chunk) :] = b"\x00" * (wanted - len(chunk))
        if self._echo is not None:
            try:
                self._echo.far_end(bytes(outdata), _delay_s(timing.outputBufferDacTime, timing.currentTime))
            except RuntimeError as exc:  # an exception here would stop the stream: play on without it
                logger.warning("echo cancellation off: %s", exc)
                self._echo = None


class Microphone:
    """Captures the default input device in `block_ms` blocks: `async for pcm in microphone`.

    Args:
        block_ms: block size, 20..40 ms in whole 10 ms steps.
        max_blocks: blocks held for a busy event loop before new ones are dropped.
        echo: the canceller the speaker feeds; each block is passed through its near end.
    """

    def __init__(self, block_ms: int = 20, max_blocks: int = 100, echo: EchoCanceller | None = None) -> None:
        if not 20 <= block_ms <= 40 or block_ms % 10:
            raise ValueError("block_ms must be 20, 30 or 40")
        self._echo = echo
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=max_blocks)
        self._dropped = 0
        self._stream = _open("input", blocksize=SAMPLE_RATE_HZ * block_ms // 1000, callback=self._capture)

    def __enter__(self) -> Microphone:
        self._stream.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.stop()
        self._stream.close()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield await self._queue.get()

    def _capture(self, indata: Any, frames: int, timing: Any, status: sd.CallbackFlags) -> None:
        pcm = bytes(indata)
        if self._echo is not None:
            try:
                pcm = self._echo.near_end(pcm, _delay_s(timing.currentTime, timing.inputBufferAdcTime))
            except RuntimeError as exc:  # an exception here would stop the stream: listen on without it
                logger.warning("echo cancellation off: %s", exc)
                self._echo = None
        self._loop.call_soon_threadsafe(self._put, pcm)  # never block the audio thread

    def _put(self, pcm: bytes) -> None:
        if self._queue.full():
            self._dropped += 1
            if self._dropped % 50 == 1:
                logger.warning("microphone blocks dropped (the event loop is behind): %d", self._dropped)
            return
        self._queue.put_nowait(pcm)


def read_wav(path: Path) -> bytes:
    """A WAV file as PCM16 mono 24 kHz bytes (16-bit files of any rate or channel count are converted).

    Raises:
        ValueError: if the file is not 16-bit PCM WAV.
    """
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path} is not 16-bit PCM; convert it: sox {path} -b 16 -r {SAMPLE_RATE_HZ} -c 1 out.wav")
        channels, rate = wav.getnchannels(), wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    mono = samples.reshape(-1, channels).mean(axis=1) if channels > 1 else samples.astype(np.float32)
    if rate != SAMPLE_RATE_HZ and len(mono):
        mono = soxr.resample(mono, rate, SAMPLE_RATE_HZ)  # band-limited: no aliasing from a 44.1 kHz file
    return np.clip(np.round(mono), -32768, 32767).astype("<i2").tobytes()


class WavSink:
    """An `AudioOutput` that writes the assistant's audio to a WAV file (played = written)."""

    def __init__(self, path: Path) -> None:
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed in __exit__
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(SAMPLE_RATE_HZ)
        self._written = 0

    def __enter__(self) -> WavSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self._wav.close()

    @property
    def played_bytes(self) -> int:
        return self._written

    def play(self, pcm: bytes) -> None:
        self._wav.writeframes(pcm)
        self._written += len(pcm)

    def stop(self) -> None:
        """Nothing is queued in a file."""
