"""Microphone, speaker and WAV files; the only module that imports sounddevice.

All audio is PCM16 mono 24 kHz little-endian bytes. The sounddevice callbacks never block: the
microphone hands blocks to the event loop with `call_soon_threadsafe` onto a bounded queue
(dropping when full); the speaker plays from a locked buffer and counts the bytes really played.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import sounddevice as sd

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 24_000
BYTES_PER_MS = 48
NO_DEVICE = 'no audio device; use --wav FILE or --text "..." instead'


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


class Speaker:
    """Plays queued PCM on the default output device; an `AudioOutput` for barge-in."""

    def __init__(self, block_ms: int = 20) -> None:
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._played = 0
        self._stream = _open("output", blocksize=SAMPLE_RATE_HZ * block_ms // 1000, callback=self._fill)

    def __enter__(self) -> Speaker:
        self._stream.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.stop()
        self._stream.close()

    @property
    def played_bytes(self) -> int:
        """Bytes handed to the device minus what its output latency still holds (not yet heard)."""
        latency_bytes = int(self._stream.latency * SAMPLE_RATE_HZ) * 2
        with self._lock:
            return max(self._played - latency_bytes, 0)

    @property
    def busy(self) -> bool:
        """True while audio is queued (the assistant is audible)."""
        with self._lock:
            return bool(self._buffer)

    def play(self, pcm: bytes) -> None:
        with self._lock:
            self._buffer.extend(pcm)

    def stop(self) -> None:
        with self._lock:
            self._buffer.clear()

    def _fill(self, outdata: Any, frames: int, time: Any, status: sd.CallbackFlags) -> None:
        wanted = len(outdata)
        with self._lock:
            chunk = bytes(self._buffer[:wanted])
            del self._buffer[:wanted]
            self._played += len(chunk)
        outdata[: len(chunk)] = chunk
        outdata[len(chunk) :] = b"\x00" * (wanted - len(chunk))


class Microphone:
    """Captures the default input device in `block_ms` blocks: `async for pcm in microphone`."""

    def __init__(self, block_ms: int = 20, max_blocks: int = 100) -> None:
        if not 20 <= block_ms <= 40:
            raise ValueError("block_ms must be 20..40")
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

    def _capture(self, indata: Any, frames: int, time: Any, status: sd.CallbackFlags) -> None:
        self._loop.call_soon_threadsafe(self._put, bytes(indata))  # never block the audio thread

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
            raise ValueError(f"{path} is not 16-bit PCM; convert it: sox {path} -b 16 -r 24000 -c 1 out.wav")
        channels, rate = wav.getnchannels(), wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype("<i2")
    if rate != SAMPLE_RATE_HZ and len(samples):
        positions = np.arange(0, len(samples), rate / SAMPLE_RATE_HZ)
        samples = np.interp(positions, np.arange(len(samples)), samples).astype("<i2")
    return samples.tobytes()


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
