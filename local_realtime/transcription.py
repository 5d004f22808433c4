"""Transcription of one connection's user audio: a task per audio part that fills in the transcript the
brain reads and, when the session asks for transcription, reports it as GA transcription events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from local_realtime.audio_format import duration_s
from local_realtime.engine import Engine
from local_realtime.response import Emit

logger = logging.getLogger(__name__)


class Transcriptions:
    """The transcriptions under way on one connection.

    Args:
        engine: transcribes the audio (`Engine.transcribe`).
        emit: queues one server event.
        reported: whether the session asks for transcription events; asked as each transcription ends.
        prompt: the session's transcription prompt now (words the user is likely to say; "" for none).
    """

    def __init__(
        self, engine: Engine, emit: Emit, reported: Callable[[], bool], prompt: Callable[[], str] = lambda: ""
    ) -> None:
        self._engine = engine
        self._emit = emit
        self._reported = reported
        self._prompt = prompt
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, item: dict[str, Any], content_index: int, pcm: bytes, known: asyncio.Task[str] | None) -> None:
        """Transcribe `pcm` into `item["content"][content_index]["transcript"]` in the background.

        Args:
            item: the user message item in wire shape, as the conversation holds it (changed in place).
            pcm: PCM16 mono 24 kHz little-endian bytes of that content part.
            known: the transcript already under way for this audio (speculation at a pause), or None.
        """
        task = asyncio.create_task(self._transcribe(item, content_index, pcm, known))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def ready(self) -> None:
        """Wait until every transcription started so far has ended (filled in, failed or cancelled)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    def cancel(self) -> None:
        """Cancel every transcription under way (the connection is closing); `ready` waits for them to end."""
        for task in self._tasks:
            task.cancel()

    async def _transcribe(
        self, item: dict[str, Any], content_index: int, pcm: bytes, known: asyncio.Task[str] | None
    ) -> None:
        try:
            transcript = await (known if known is not None else self._engine.transcribe(pcm, self._prompt()))
        except Exception as exc:  # boundary: the speech model failed; the turn goes on without words
            logger.exception("transcription failed")
            item["content"][content_index]["transcript"] = ""
            if self._reported():
                error = {"type": "server_error", "code": "transcription_failed", "message": str(exc), "param": None}
                self._emit(
                    {
                        "type": "conversation.item.input_audio_transcription.failed",
                        "item_id": item["id"],
                        "content_index": content_index,
                        "error": error,
                    }
                )
            return
        item["content"][content_index]["transcript"] = transcript
        if self._reported():
            self._emit(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item["id"],
                    "content_index": content_index,
                    "transcript": transcript,
                    "usage": {"type": "duration", "seconds": duration_s(len(pcm))},
                }
            )
