"""The models one engine shares across connections, and the bridge from their threads to asyncio.

Brain, transcriber and synthesizer are blocking and CPU-bound, so each call runs in a worker
thread under that model's lock (one llama.cpp context, one Whisper, one voice), streaming results
back to the event loop through an `asyncio.Queue`. Their work takes turns on the CPU (`cpu.CpuTurns`):
a transcription or a sentence of speech at a time, the brain one evaluation batch at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from local_realtime.audio_format import duration_ms
from local_realtime.brain import Brain, BrainOutput, Entry, ToolSpec
from local_realtime.cpu import CpuTurns

if TYPE_CHECKING:  # the speech modules import the [offline] extra; keep `--help` light
    from local_realtime.config import Config
    from local_realtime.stt import Transcriber
    from local_realtime.tts import Synthesizer
    from local_realtime.vad import VadEvent

logger = logging.getLogger(__name__)
T = TypeVar("T")
_END = object()


class Detector(Protocol):
    """The shape of `local_realtime.vad.VoiceActivityDetector`: `feed` returns `VadEvent`s."""

    min_speech_ms: int
    """Speech shorter than this does not start a turn (raised while the assistant speaks)."""

    @property
    def in_speech(self) -> bool: ...

    def feed(self, pcm: bytes) -> list[VadEvent]: ...

    def reset(self) -> None: ...


DetectorFactory = Callable[[float, int, int], Detector]
"""Builds a detector from (threshold, prefix_padding_ms, silence_duration_ms)."""


@dataclass
class Engine:
    """What every connection of one server shares.

    Attributes:
        brain: decides what to say or which tool to call.
        transcriber: speech to text for user audio.
        synthesizer: text to speech for audio output.
        new_detector: makes one voice-activity detector per connection (server VAD).
        model: the model name reported in sessions when the URL names none.
        cpu: taken for each transcription and each piece of speech; give the brain the same one.
    """

    brain: Brain
    transcriber: Transcriber
    synthesizer: Synthesizer
    new_detector: DetectorFactory
    model: str = "local-realtime"
    cpu: CpuTurns = field(default_factory=CpuTurns)
    _brain_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stt_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _tts_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def replies(
        self,
        instructions: str,
        history: list[Entry],
        tools: list[ToolSpec],
        tool_choice: str | dict[str, Any],
        stop: threading.Event,
    ) -> AsyncIterator[BrainOutput]:
        """Stream the brain's reply; stops soon after `stop` is set."""
        return _stream(
            lambda: self.brain.reply(instructions, history, tools, tool_choice, stop), self._brain_lock, stop
        )  # the brain takes turns on the CPU itself, per evaluation batch

    async def warm(self, tools: list[ToolSpec], instructions: str) -> None:
        """Warm the brain for a session's tools (prefills the prompt prefix the next reply reuses)."""
        await asyncio.to_thread(self.brain.warm, tools, instructions)

    async def prepare_reply(
        self, instructions: str, history: list[Entry], tools: list[ToolSpec], stop: threading.Event
    ) -> None:
        """Let the brain start on a reply to `history` that may be asked for soon (see `Brain.prepare`)."""
        await asyncio.to_thread(self.brain.prepare, instructions, history, tools, stop)

    def speech(self, text: str, stop: threading.Event) -> AsyncIterator[bytes]:
        """Stream `text` as PCM16 mono 24 kHz chunks; stops soon after `stop` is set."""
        return _stream(lambda: self.synthesizer.synthesize(text), self._tts_lock, stop, self.cpu)

    async def transcribe(self, pcm: bytes, prompt: str = "") -> str:
        """Transcribe PCM16 mono 24 kHz bytes in a worker thread; `prompt`: words the user is likely to say."""

        def work() -> str:
            with self._stt_lock, self.cpu:
                started = time.perf_counter()
                text = self.transcriber.transcribe(pcm, prompt)
                took_s = time.perf_counter() - started
                logger.debug("transcribed %d ms of audio in %.2f s", duration_ms(len(pcm)), took_s)
                return text

        return await asyncio.to_thread(work)


def build_engine(config: Config) -> Engine:
    """The real engine: the brain (warmed up, with `config.few_shot`), Whisper, the voice and the VAD.

    Takes a few seconds; the models' modules are imported here, so importing this module needs no
    `[offline]` extra.

    Raises:
        FileNotFoundError / RuntimeError subclasses from the model modules, naming what to install.
    """
    from local_realtime.llm import LlamaBrain
    from local_realtime.model import locate_model
    from local_realtime.session import DEFAULT_INSTRUCTIONS
    from local_realtime.stt import MissingSpeechModel, WhisperTranscriber
    from local_realtime.tts import EspeakSynthesizer, PiperSynthesizer
    from local_realtime.vad import VoiceActivityDetector

    cpu = CpuTurns()
    model = locate_model(config.model_cache, config.model_path)
    brain = LlamaBrain(model, config.few_shot, cache_dir=config.model_cache / "prompts", cpu=cpu)
    brain.warm(instructions=DEFAULT_INSTRUCTIONS)
    synthesizer: Synthesizer
    if config.tts == "piper":
        try:
            synthesizer = PiperSynthesizer.load()
        except MissingSpeechModel as exc:
            logger.warning("piper voice unavailable (%s); using espeak-ng", exc)
            synthesizer = EspeakSynthesizer()
    else:
        synthesizer = EspeakSynthesizer()
    VoiceActivityDetector(0.5, 300, 500)  # fail now, not on the first connection, if Silero is missing
    return Engine(brain, WhisperTranscriber.load(), synthesizer, VoiceActivityDetector, cpu=cpu)


async def _stream(
    make: Callable[[], Iterator[T]],
    lock: threading.Lock,
    stop: threading.Event,
    cpu: AbstractContextManager[Any] | None = None,
) -> AsyncIterator[T]:
    """Iterate `make()` in a worker thread, yielding each value on the event loop; `cpu` is held while
    each value is made.

    Leaving early (cancellation, `break`) sets `stop`, so the worker ends at its next value.
    Raises whatever the iterator raised.
    """
    slice_of_cpu = cpu or contextlib.nullcontext()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue()

    def put(value: Any, error: BaseException | None = None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (value, error))
        except RuntimeError:  # the loop closed while we worked; nobody is listening
            stop.set()

    def work() -> None:
        while not lock.acquire(timeout=0.05):  # a cancelled caller must not wait for the model
            if stop.is_set():
                put(_END)
                return
        try:
            iterator = make()
            try:
                while not stop.is_set():
                    with slice_of_cpu:
                        value = next(iterator, _END)
                    if value is _END:
                        break
                    put(value)
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        except Exception as exc:  # boundary: a model failed; the response reports it
            put(_END, exc)
            return
        finally:
            lock.release()
        put(_END)

    loop.run_in_executor(None, work)
    finished = False
    try:
        while True:
            value, error = await queue.get()
            if value is _END:
                finished = True
                if error is not None:
                    raise error
                return
            yield value
    finally:
        if not finished:
            stop.set()
