"""What the application hears from a `RealtimeSession`: its callbacks, and its feed of server events."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

logger = logging.getLogger(__name__)

Callback = Callable[..., Any]
"""A plain function or a coroutine function; coroutines are awaited."""
_END = object()


async def notify(callback: Callback | None, *args: Any) -> None:
    """Call an application callback; its failure is logged and never stops the session or a tool call."""
    if callback is None:
        return
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:  # boundary: callbacks are the application's code (UI, demo)
        logger.exception("callback %s failed", getattr(callback, "__name__", callback))


class SessionCallbacks:
    """The application's callbacks (assign as attributes or pass as keywords; sync or async; None = unused).

    on_transcription_received(text): a user transcript.
    on_response_delta(text): a piece of assistant text (or of the transcript of its speech).
    on_response_received(text): a complete assistant text (or transcript of its speech).
    on_audio_received(pcm): PCM16 mono 24 kHz bytes of assistant speech.
    on_tool_call(name, arguments): the model called a tool (arguments: JSON text).
    on_tool_result(name, outcome): the `ToolOutcome`; `outcome.structured` is the full result
        for a screen while the model only got `outcome.output`, a short summary.
    on_connection_changed(state): "connected", "reconnecting" or "closed".
    on_turn_latency(report): a `TurnLatency` once a turn is over (end of speech to first audio
        and each stage between).
    """

    def __init__(
        self,
        on_transcription_received: Callback | None = None,
        on_response_delta: Callback | None = None,
        on_response_received: Callback | None = None,
        on_audio_received: Callback | None = None,
        on_tool_call: Callback | None = None,
        on_tool_result: Callback | None = None,
        on_connection_changed: Callback | None = None,
        on_turn_latency: Callback | None = None,
    ) -> None:
        self.on_transcription_received = on_transcription_received
        self.on_response_delta = on_response_delta
        self.on_response_received = on_response_received
        self.on_audio_received = on_audio_received
        self.on_tool_call = on_tool_call
        self.on_tool_result = on_tool_result
        self.on_connection_changed = on_connection_changed
        self.on_turn_latency = on_turn_latency


class EventFeed:
    """Server events for `async for`, bounded: when nobody reads, only the most recent `size` are kept.

    `end(error)` closes the feed; readers then stop, or get `error` raised if there is one.
    """

    def __init__(self, size: int = 1000) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=size)
        self._error: BaseException | None = None

    def put(self, event: object) -> None:
        """Add one event, dropping the oldest if the feed is full."""
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(event)

    def end(self, error: BaseException | None) -> None:
        """No more events; `error` (if any) is raised to every reader."""
        self._error = error
        self.put(_END)

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            event = await self._queue.get()
            if event is _END:
                self._queue.put_nowait(_END)
                if self._error is not None:
                    raise self._error
                return
            yield event
