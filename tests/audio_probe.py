"""The audio probe process: speaks queued requests into the virtual microphone and records the speaker.

Run by `tests/virtual_audio.Probe` with `PULSE_SINK=micfeed` and `PULSE_SOURCE=speaker.monitor`. Two
streams (a duplex stream through ALSA's pulse plugin drifts by a second), both PCM16 mono 24 kHz:

- stdin: one path per line, a raw PCM file to play after whatever is still playing;
- argv[1]: the file the recording is appended to;
- stdout: `recording <t>` once (`time.monotonic()` of the recording's first sample), then `playing <path> <t>`
  when a request's first sample leaves the speaker stream (its output latency included).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import sounddevice as sd

RATE_HZ = 24_000
BLOCK = 480  # 20 ms


def main(recording: Path) -> None:
    queued: deque[tuple[str, bytearray]] = deque()
    lock = threading.Lock()
    out = sys.stdout
    started: list[float] = []
    latency = {"out": 0.0, "in": 0.0}

    def tell(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    def play(outdata: Any, frames: int, _time: Any, _status: sd.CallbackFlags) -> None:
        wanted, filled = len(outdata), 0
        with lock:
            while queued and filled < wanted:
                name, pcm = queued[0]
                if name:
                    tell(f"playing {name} {time.monotonic() + latency['out'] + filled / 2 / RATE_HZ:.6f}")
                    queued[0] = ("", pcm)
                take = pcm[: wanted - filled]
                outdata[filled : filled + len(take)] = bytes(take)
                del pcm[: len(take)]
                filled += len(take)
                if not pcm:
                    queued.popleft()
        outdata[filled:] = b"\0" * (wanted - filled)

    sink = recording.open("ab")

    def record(indata: Any, frames: int, _time: Any, _status: sd.CallbackFlags) -> None:
        if not started:
            started.append(time.monotonic() - frames / RATE_HZ - latency["in"])
            tell(f"recording {started[0]:.6f}")
        sink.write(bytes(indata))
        sink.flush()

    options = {"samplerate": RATE_HZ, "channels": 1, "dtype": "int16", "blocksize": BLOCK, "latency": "low"}
    with sd.RawOutputStream(callback=play, **options) as speaker, sd.RawInputStream(callback=record, **options) as mic:
        latency["out"], latency["in"] = speaker.latency, mic.latency
        for line in sys.stdin:
            path = line.strip()
            if path:
                pcm = bytearray(Path(path).read_bytes())
                with lock:
                    queued.append((path, pcm))
    sink.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        main(Path(sys.argv[1]))
