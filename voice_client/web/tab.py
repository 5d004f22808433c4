"""The one browser tab a conversation talks to: events and audio go out through a bounded queue, so the session
never waits on a slow page; the conversation so far and the latest state are replayed to a tab that opens later
(a reload, or a page opened after the coach's first words)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

logger = logging.getLogger(__name__)

Event = dict[str, Any]
"""One JSON message to the page: `{"type": ..., ...}` (the types are listed in `static/app.js`)."""
QUEUE_SIZE = 2000
"""Messages waiting for the page; beyond this the page is not reading and messages are dropped."""
HISTORY_SIZE = 500
"""Events of the conversation kept for a tab that opens later (the oldest are dropped)."""


class Tab:
    """The connected page, if any. `send` and `send_audio` never block; nothing is sent while no tab is open."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | bytes] | None = None
        self._remembered: dict[str, Event] = {}
        self._history: deque[str] = deque(maxlen=HISTORY_SIZE)
        self._free = asyncio.Event()
        self._free.set()

    @property
    def attached(self) -> bool:
        """True while a page is connected."""
        return self._queue is not None

    async def wait_free(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for no tab to be attached (a reloading page closes its old socket as the new one
        opens); False if one still is."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._free.wait()
        except TimeoutError:
            return False
        return True

    def send(self, event: Event, remember: str | None = None, keep: bool = False) -> None:
        """Queue `event` for the page. A page that connects later gets the last event of each `remember` key, and
        every event sent with `keep` (the conversation: what was said, each tool call), in order."""
        message = json.dumps(event, ensure_ascii=False)
        if remember is not None:
            self._remembered[remember] = event
        if keep:
            self._history.append(message)
        self._put(message)

    def send_audio(self, pcm: bytes) -> None:
        """Queue PCM16 mono 24 kHz little-endian bytes for the page's player."""
        self._put(pcm)

    def _put(self, message: str | bytes) -> None:
        if self._queue is None:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            logger.warning("the page is not reading; a message was dropped")

    @contextlib.asynccontextmanager
    async def attach(self, socket: WebSocket) -> AsyncIterator[None]:
        """Make `socket` the tab for the duration of the block: the remembered state first, then everything new.

        Raises:
            RuntimeError: a tab is already attached.
        """
        if self._queue is not None:
            raise RuntimeError("a tab is already attached")
        queue: asyncio.Queue[str | bytes] = asyncio.Queue(QUEUE_SIZE)
        for message in self._history:
            queue.put_nowait(message)
        for event in self._remembered.values():
            queue.put_nowait(json.dumps(event, ensure_ascii=False))
        self._queue = queue
        self._free.clear()
        sender = asyncio.create_task(_forward(queue, socket), name="page-sender")
        try:
            yield
        finally:
            self._queue = None
            self._free.set()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


async def _forward(queue: asyncio.Queue[str | bytes], socket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # the page went away
        while True:
            message = await queue.get()
            if isinstance(message, bytes):
                await socket.send_bytes(message)
            else:
                await socket.send_text(message)
