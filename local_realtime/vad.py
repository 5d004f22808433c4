"""Voice activity detection for the engine's `server_vad` turn detection.

`VoiceActivityDetector` runs Silero's ONNX model on onnxruntime over PCM16 mono 24 kHz input
and turns its speech probabilities into `speech_started`/`speech_stopped` events.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
import soxr

from local_realtime.audio_format import BYTES_PER_SAMPLE, SAMPLE_DTYPE, SAMPLE_RATE_HZ

logger = logging.getLogger(__name__)

MODEL_RATE_HZ = 16_000
FRAME_SAMPLES = 512  # Silero's window at 16 kHz: 32 ms
CONTEXT_SAMPLES = 64  # Silero v5+ expects the previous window's last 64 samples prepended
FRAME_MS = FRAME_SAMPLES * 1000 // MODEL_RATE_HZ
# Hysteresis, as in Silero's own VADIterator: speech ends only below threshold - 0.15.
HYSTERESIS = 0.15
ONSET_GAP_MS = 400
"""With `min_speech_ms`, a pause up to this long (a comma's) does not restart the count."""


class MissingVadModel(FileNotFoundError):
    """The Silero ONNX model is not installed (`pip install --no-deps silero-vad`)."""


@dataclass(frozen=True)
class VadEvent:
    """A change between silence and speech in the fed audio stream."""

    kind: Literal["speech_started", "speech_stopped", "speech_paused", "speech_resumed"]
    """Which change: the Realtime `input_audio_buffer.speech_started`/`speech_stopped`, or, in between,
    a pause of `pause_ms` that may become the end of the turn, and speech resuming after such a pause."""
    audio_ms: int
    """Milliseconds of audio fed since construction or `reset()` at which the event happened.

    For `speech_started` this is where speech began minus the prefix padding (never below 0 nor
    before the previous `speech_stopped`), like `audio_start_ms`. For `speech_stopped` it is where the silence reached
    `silence_duration_ms` (so it includes that silence), like `audio_end_ms`."""


def silero_model_path() -> Path:
    """Path of `silero_vad.onnx` inside the installed `silero-vad` package.

    The package is located without importing it: importing it imports torch, which we don't install.

    Raises:
        MissingVadModel: if the package or its ONNX file is not installed.
    """
    spec = importlib.util.find_spec("silero_vad")
    locations = spec.submodule_search_locations if spec else None
    if not locations:
        raise MissingVadModel("Package 'silero-vad' is not installed: pip install --no-deps silero-vad")
    path = Path(locations[0]) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise MissingVadModel(f"'silero-vad' is installed but has no {path}; reinstall it")
    return path


class VoiceActivityDetector:
    """Streaming speech start/stop detection, tunable like the Realtime `server_vad`.

    Not thread-safe: use one detector per audio stream, fed from one thread at a time.

    Args:
        threshold: speech probability (0..1) at or above which a frame counts as speech; higher
            needs louder, clearer speech.
        prefix_padding_ms: audio kept before detected speech; `speech_started.audio_ms` is moved
            back by this much.
        silence_duration_ms: silence needed after speech before `speech_stopped` is emitted.
        pause_ms: silence after which `speech_paused` is emitted (the turn may be over: work on it can
            start); default a third of `silence_duration_ms`, at most 160 ms.
        min_speech_ms: speech must last this long before `speech_started` (still placed at its onset);
            a shorter burst (a cough, a click) is ignored. May be changed between `feed` calls: the
            engine raises it while the assistant speaks, so only real speech interrupts.

    Raises:
        MissingVadModel: if the Silero ONNX model is not installed.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
        pause_ms: int | None = None,
        min_speech_ms: int = 0,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        if prefix_padding_ms < 0 or silence_duration_ms < 0:
            raise ValueError("prefix_padding_ms and silence_duration_ms must be >= 0")
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.pause_ms = min(160, silence_duration_ms // 3) if pause_ms is None else pause_ms
        self.min_speech_ms = min_speech_ms
        self._stop_below = max(0.01, threshold - HYSTERESIS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a 32 ms frame is too small to share across threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(silero_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._sr = np.array(MODEL_RATE_HZ, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget all audio and state: positions restart at 0 and no speech is in progress."""
        self._resampler = soxr.ResampleStream(SAMPLE_RATE_HZ, MODEL_RATE_HZ, 1, dtype="int16")
        self._odd_byte = b""
        self._pending = np.zeros(0, dtype=np.float32)
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT_SAMPLES), dtype=np.float32)
        self._frames = 0
        self._in_speech = False
        self._onset_ms: int | None = None  # where speech not yet long enough to count began
        self._last_speech_ms = 0
        self._paused = False
        self._silence_since_ms: int | None = None
        self._last_stop_ms = 0

    @property
    def in_speech(self) -> bool:
        """True between a `speech_started` and its `speech_stopped`."""
        return self._in_speech

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Process more audio and return the events it completes, oldest first.

        Args:
            pcm: PCM16 mono 24 kHz little-endian bytes, any length (an odd trailing byte is kept
                for the next call).

        Returns:
            list of `VadEvent`, possibly empty; starts and stops alternate across calls.
        """
        data = self._odd_byte + pcm
        usable = len(data) - len(data) % BYTES_PER_SAMPLE
        self._odd_byte = data[usable:]
        samples = np.frombuffer(data[:usable], dtype=SAMPLE_DTYPE)
        resampled = self._resampler.resample_chunk(samples)
        self._pending = np.concatenate([self._pending, resampled.astype(np.float32) / 32768.0])
        events: list[VadEvent] = []
        while len(self._pending) >= FRAME_SAMPLES:
            frame, self._pending = self._pending[:FRAME_SAMPLES], self._pending[FRAME_SAMPLES:]
            event = self._step(self._probability(frame))
            if event is not None:
                events.append(event)
        return events

    def _onset(self, probability: float, start_ms: int, end_ms: int) -> VadEvent | None:
        """Outside speech: `speech_started` once speech has gone on for `min_speech_ms` (through pauses
        shorter than `ONSET_GAP_MS`, such as a comma's); a shorter burst is dropped."""
        if probability < self.threshold:
            if self._onset_ms is not None and end_ms - self._last_speech_ms > ONSET_GAP_MS:
                self._onset_ms = None
            return None
        onset = start_ms if self._onset_ms is None else self._onset_ms
        self._last_speech_ms = end_ms
        if end_ms - onset < self.min_speech_ms:
            self._onset_ms = onset
            return None
        self._in_speech, self._onset_ms = True, None
        self._silence_since_ms = None
        # Padding never reaches back into the previous utterance, already handed over at its stop.
        return VadEvent("speech_started", max(self._last_stop_ms, onset - self.prefix_padding_ms))

    def _probability(self, frame: np.ndarray) -> float:
        x = np.concatenate([self._context, frame.reshape(1, FRAME_SAMPLES)], axis=1)
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = x[:, -CONTEXT_SAMPLES:]
        return float(out[0][0])

    def _step(self, probability: float) -> VadEvent | None:
        start_ms = self._frames * FRAME_MS
        self._frames += 1
        end_ms = self._frames * FRAME_MS
        if not self._in_speech:
            return self._onset(probability, start_ms, end_ms)
        if probability >= self.threshold:
            self._silence_since_ms = None
            if self._paused:
                self._paused = False
                return VadEvent("speech_resumed", end_ms)
        elif probability < self._stop_below and self._silence_since_ms is None:
            self._silence_since_ms = start_ms
        if self._silence_since_ms is None:
            return None
        if end_ms - self._silence_since_ms >= self.silence_duration_ms:
            self._in_speech = self._paused = False
            self._silence_since_ms = None
            self._last_stop_ms = end_ms
            return VadEvent("speech_stopped", end_ms)
        if not self._paused and end_ms - self._silence_since_ms >= self.pause_ms:
            self._paused = True
            return VadEvent("speech_paused", end_ms)
        return None
