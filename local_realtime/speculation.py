"""Work on a user's turn started at a pause in their speech, before the turn is known to be over.

Server VAD ends a turn after `silence_duration_ms` (500 ms by default) of silence; transcribing the
speech and evaluating the brain's prompt take about as long again. `Speculation` starts both when
the silence reaches `pause_ms`: if the turn then ends with no more speech, the transcript is the one
the turn's audio would give (only silence follows) and the prompt is already in the brain's cache.
If the user goes on speaking, it is dropped; the brain's cache is simply overwritten later.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable

from local_realtime.engine import Engine

logger = logging.getLogger(__name__)

Prepare = Callable[[str, threading.Event], Awaitable[None]]
"""Given the transcript, evaluate the prompt of a reply to it; returns early once the event is set."""


class Speculation:
    """A transcription of the speech so far and then `prepare` on its transcript, running in the background.

    Args:
        engine: transcribes the speech.
        pcm: the turn's speech up to the pause, PCM16 mono 24 kHz bytes.
        prepare: what to do with the transcript (see `Prepare`).
        prompt: the session's transcription prompt (the turn's transcript would be made with it).
    """

    def __init__(self, engine: Engine, pcm: bytes, prepare: Prepare, prompt: str = "") -> None:
        self._stop = threading.Event()
        self._started = time.perf_counter()
        self.transcript: asyncio.Task[str] = asyncio.create_task(engine.transcribe(pcm, prompt))
        self._work = asyncio.create_task(self._prepare(prepare))

    async def _prepare(self, prepare: Prepare) -> None:
        try:
            text = await self.transcript
            logger.debug("speculative transcript after %.2f s: %r", time.perf_counter() - self._started, text)
            if text.strip() and not self._stop.is_set():
                await prepare(text, self._stop)
                logger.debug("speculative prefill done after %.2f s", time.perf_counter() - self._started)
        except Exception as exc:  # boundary: a failed guess only costs the time it would have saved
            logger.debug("speculation failed: %r", exc)

    def cancel(self) -> None:
        """The user went on speaking: stop the prefill at its next chunk and forget the transcript."""
        self._stop.set()
        self.transcript.cancel()

    async def wait(self) -> None:
        """Until the background work has ended (for a clean shutdown)."""
        await asyncio.wait([self._work])
