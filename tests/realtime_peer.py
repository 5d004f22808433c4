"""A wire-level Realtime GA peer for tests: a websockets server on 127.0.0.1, port 0.

Each connection follows a script of steps: "expect this client event type (and predicate), then
send these server events". The peer records every client event and fails on an unexpected event
or unconsumed steps (`await peer.finished()`), including one that arrives after the script ended.
Builders below produce GA-shaped server events.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

Event = dict[str, Any]


@dataclass
class Step:
    """Expect one client event (None: act at once), then send events, then maybe close."""

    expect: str | None
    where: Callable[[Event], bool] | None = None
    after: asyncio.Event | None = None
    """Wait for this before acting (something the test observes elsewhere, e.g. a tool started on its server)."""
    send: list[Event] = field(default_factory=list)
    reply: Callable[[Event], list[Event]] | None = None
    """Events computed from the matched client event, sent after `send`."""
    raw: list[str | bytes] = field(default_factory=list)
    """Frames sent verbatim after the events (for malformed-input tests)."""
    close: Literal["clean", "drop"] | None = None
    """"drop" aborts the TCP connection without a close frame (a network failure)."""


class RealtimePeer:
    """`async with RealtimePeer([steps of connection 1], [steps of connection 2], ...) as peer`.

    Client events whose type is in `ignore` are recorded but skipped unless a step expects them.
    """

    def __init__(self, *connections: Iterable[Step], ignore: Iterable[str] = (), record: bool = True) -> None:
        self.connections = list(connections)
        """Steps per connection; a generator works too (a benchmark's endless script stays small)."""
        self.ignore = set(ignore)
        self.record = record
        self.received: list[Event] = []
        """Every client event, in arrival order, across connections."""
        self.requests: list[tuple[str, dict[str, str]]] = []
        """(path with query, headers) of each WebSocket handshake."""
        self.errors: list[str] = []
        self._done = asyncio.Event()
        self._count = itertools.count()
        self._ids = itertools.count(1)
        self.url = ""
        self._checked: int | None = None  # errors already reported by finished()

    async def __aenter__(self) -> RealtimePeer:
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()
        late = self.errors[self._checked :]
        if kind is None and self._checked is not None and late:  # a stray event after finished() returned
            raise AssertionError("realtime peer: " + "; ".join(late))

    def of_type(self, kind: str) -> list[Event]:
        """Received client events of one type."""
        return [e for e in self.received if e.get("type") == kind]

    async def finished(self, timeout_s: float = 5.0, quiet_s: float = 0.3) -> None:
        """Wait until every step ran, then `quiet_s` more in which the client must send nothing unexpected
        (a stray `response.create` after a cancel); raise AssertionError on any unexpected event or leftover
        step. An unexpected event that arrives later still fails the test when the peer closes."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._done.wait()
        except TimeoutError:
            self.errors.append("timed out waiting for the script to finish")
        if not self.errors:
            await asyncio.sleep(quiet_s)
        self._checked = len(self.errors)
        if self.errors:
            raise AssertionError("realtime peer: " + "; ".join(self.errors))

    def _fail(self, message: str) -> None:
        self.errors.append(message)
        self._done.set()

    async def _handle(self, ws: ServerConnection) -> None:
        index = next(self._count)
        request = ws.request
        assert request is not None
        self.requests.append((request.path, {k.lower(): v for k, v in request.headers.raw_items()}))
        if index >= len(self.connections):
            self._fail(f"unexpected connection #{index + 1}")
            return
        try:
            await self._play(ws, index, self.connections[index])
        except ConnectionClosed:
            if not self._done.is_set() and index == len(self.connections) - 1:
                self._fail(f"client closed connection #{index + 1} before the script ended")

    async def _play(self, ws: ServerConnection, index: int, steps: Iterable[Step]) -> None:
        for number, step in enumerate(steps, 1):
            event: Event = {}
            if step.after is not None:
                await step.after.wait()
            if step.expect is not None:
                event = await self._next(ws, step.expect)
                where = f"connection #{index + 1} step {number}"
                if event.get("type") != step.expect:
                    self._fail(f"{where}: expected {step.expect}, got {_brief(event)}")
                    return
                if step.where is not None and not step.where(event):
                    self._fail(f"{where}: {step.expect} did not match: {_brief(event)}")
                    return
            for out in [*step.send, *(step.reply(event) if step.reply else [])]:
                await ws.send(json.dumps({"event_id": f"event_{next(self._ids)}", **out}))
            for frame in step.raw:
                await ws.send(frame)
            if step.close == "drop":
                ws.transport.abort()
                return
            if step.close == "clean":
                await ws.close()
                return
        if index == len(self.connections) - 1:
            self._done.set()
            event = await self._next(ws)
            self._fail(f"unexpected client event after the script: {_brief(event)}")

    async def _next(self, ws: ServerConnection, expect: str | None = None) -> Event:
        """The next client event that is expected or not on the ignore list."""
        while True:
            event = json.loads(await ws.recv())
            if self.record:
                self.received.append(event)
            if event.get("type") == expect or event.get("type") not in self.ignore:
                return event


def _brief(event: Event) -> str:
    text = json.dumps(event)
    return text if len(text) < 300 else text[:300] + "..."


# ----------------------------------------------------------------------------- GA server events


def session_created(session_id: str = "sess_test") -> Event:
    return {
        "type": "session.created",
        "session": {"id": session_id, "object": "realtime.session", "type": "realtime", "model": "gpt-realtime"},
    }


def session_updated(update: Event) -> list[Event]:
    """Reply to a client `session.update` with the effective config."""
    return [{"type": "session.updated", "session": {"id": "sess_test", **update.get("session", {})}}]


def response_created(response_id: str) -> Event:
    return {
        "type": "response.created",
        "response": {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": []},
    }


def response_done(response_id: str, status: str = "completed", output: list[Event] | None = None) -> Event:
    details = None if status == "completed" else {"type": status, "reason": "client_cancelled"}
    return {
        "type": "response.done",
        "response": {
            "id": response_id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": output or [],
            "usage": {"total_tokens": 10, "input_tokens": 6, "output_tokens": 4},
        },
    }


def function_call(response_id: str, call_id: str, name: str, arguments: str, output_index: int = 0) -> list[Event]:
    """The events of one function call item, ending with `response.output_item.done`."""
    item_id = f"item_{call_id}"
    item = {"id": item_id, "type": "function_call", "call_id": call_id, "name": name, "arguments": ""}
    ids = {"response_id": response_id, "item_id": item_id, "output_index": output_index, "call_id": call_id}
    return [
        {
            "type": "response.output_item.added",
            "response_id": response_id,
            "output_index": output_index,
            "item": {**item, "status": "in_progress"},
        },
        {"type": "response.function_call_arguments.delta", **ids, "delta": arguments},
        {"type": "response.function_call_arguments.done", **ids, "name": name, "arguments": arguments},
        {
            "type": "response.output_item.done",
            "response_id": response_id,
            "output_index": output_index,
            "item": {**item, "arguments": arguments, "status": "completed"},
        },
    ]


def text_message(response_id: str, item_id: str, text: str) -> list[Event]:
    """An assistant text item (text output modality)."""
    ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
    item = {"id": item_id, "type": "message", "role": "assistant"}
    return [
        {
            "type": "response.output_item.added",
            "response_id": response_id,
            "output_index": 0,
            "item": {**item, "status": "in_progress", "content": []},
        },
        {"type": "response.content_part.added", **ids, "part": {"type": "output_text", "text": ""}},
        *({"type": "response.output_text.delta", **ids, "delta": word} for word in _pieces(text)),
        {"type": "response.output_text.done", **ids, "text": text},
        {"type": "response.content_part.done", **ids, "part": {"type": "output_text", "text": text}},
        {
            "type": "response.output_item.done",
            "response_id": response_id,
            "output_index": 0,
            "item": {**item, "status": "completed", "content": [{"type": "output_text", "text": text}]},
        },
    ]


def text_reply(response_id: str, item_id: str, text: str) -> list[Event]:
    """A whole response that says `text`: response.created, the text item's events, response.done."""
    return [response_created(response_id), *text_message(response_id, item_id, text), response_done(response_id)]


def audio_message(response_id: str, item_id: str, chunks: list[bytes], transcript: str) -> list[Event]:
    """An assistant audio item: PCM16 24 kHz `chunks` as `output_audio.delta`s plus its transcript."""
    ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
    item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant"}
    words = _pieces(transcript)
    deltas: list[Event] = []
    for i, chunk in enumerate(chunks):
        deltas.append({"type": "response.output_audio.delta", **ids, "delta": base64.b64encode(chunk).decode()})
        if i < len(words):
            deltas.append({"type": "response.output_audio_transcript.delta", **ids, "delta": words[i]})
    deltas += [{"type": "response.output_audio_transcript.delta", **ids, "delta": w} for w in words[len(chunks) :]]
    part = {"type": "output_audio", "transcript": transcript}
    return [
        {
            "type": "response.output_item.added",
            "response_id": response_id,
            "output_index": 0,
            "item": {**item, "status": "in_progress", "content": []},
        },
        {
            "type": "conversation.item.added",
            "previous_item_id": None,
            "item": {**item, "status": "in_progress", "content": []},
        },
        {"type": "response.content_part.added", **ids, "part": {"type": "output_audio", "transcript": ""}},
        *deltas,
        {"type": "response.output_audio.done", **ids},
        {"type": "response.output_audio_transcript.done", **ids, "transcript": transcript},
        {"type": "response.content_part.done", **ids, "part": part},
        {
            "type": "response.output_item.done",
            "response_id": response_id,
            "output_index": 0,
            "item": {**item, "status": "completed", "content": [part]},
        },
        {
            "type": "conversation.item.done",
            "previous_item_id": None,
            "item": {**item, "status": "completed", "content": [part]},
        },
    ]


def speech_started(item_id: str, audio_start_ms: int = 1000) -> Event:
    return {"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_start_ms, "item_id": item_id}


def error(code: str, message: str) -> Event:
    return {"type": "error", "error": {"type": "invalid_request_error", "code": code, "message": message}}


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
