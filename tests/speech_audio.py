"""Real speech for tests: flite, espeak-ng or piper speak a sentence as PCM16 mono 24 kHz.

flite's `slt` voice is natural enough for exact-transcript checks with Whisper tiny.en; espeak-ng
is robotic and only fit for "speech was heard" checks (see ../shared/notes/offline-speech.md).
piper (the neural voice of the `[offline]` extra) is the clearest: Whisper tiny.en hears "file" in
it, where it hears "felt" from flite. Its sampling noise is off here, so a sentence always gives the
same audio and the same transcript.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any, Literal

SAMPLE_RATE_HZ = 24_000
BYTES_PER_MS = SAMPLE_RATE_HZ * 2 // 1000  # PCM16 mono: 48 bytes per millisecond


def synthesize(text: str, voice: Literal["flite", "espeak", "piper"] = "flite") -> bytes:
    """Speak `text` and return PCM16 mono 24 kHz little-endian bytes (no WAV header).

    Raises:
        RuntimeError: if flite/espeak-ng or sox is not installed (`make test` installs them).
    """
    if voice == "piper":
        return b"".join(_piper().synthesize(text))
    for tool in (("flite" if voice == "flite" else "espeak-ng"), "sox"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed; run `make test` (it installs flite, espeak-ng, sox)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        if voice == "flite":
            cmd = ["flite", "-voice", "slt", "-t", text, "-o", str(wav)]
        else:
            cmd = ["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), text]
        subprocess.run(cmd, check=True, capture_output=True)
        raw = subprocess.run(
            [
                "sox",
                str(wav),
                "-t",
                "raw",
                "-r",
                str(SAMPLE_RATE_HZ),
                "-b",
                "16",
                "-e",
                "signed-integer",
                "-c",
                "1",
                "-L",
                "-",
            ],
            check=True,
            capture_output=True,
        )
        return raw.stdout


@functools.cache
def _piper() -> Any:
    from local_realtime.tts import PiperSynthesizer

    return PiperSynthesizer.load(deterministic=True)


def write_wav(path: Path, pcm: bytes) -> Path:
    """Write PCM16 mono 24 kHz bytes as a WAV file; returns `path`."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes(pcm)
    return path


def silence(ms: int) -> bytes:
    """`ms` milliseconds of digital silence as PCM16 mono 24 kHz bytes."""
    return b"\x00" * (ms * BYTES_PER_MS)


def chunks(pcm: bytes, chunk_ms: int = 40) -> list[bytes]:
    """Split PCM16 mono 24 kHz bytes into `chunk_ms` pieces (the last may be shorter)."""
    step = chunk_ms * BYTES_PER_MS
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


SPELLED_OUT = {"mr": "mister", "mrs": "missus", "dr": "doctor"}


def words(text: str) -> list[str]:
    """Lowercase words with punctuation dropped and common titles spelled out (for transcript checks)."""
    return [SPELLED_OUT.get(w, w) for w in re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()]


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level edit distance of two texts after `words`: substitutions + insertions + deletions."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]
