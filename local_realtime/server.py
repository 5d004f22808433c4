"""The WebSocket server: GA Realtime sessions at `/v1/realtime?model=...`, one `Connection` each.

`serve_engine(engine)` runs it in-process on a free port for the demo and tests. A `Connection`
parses client events, keeps the session config, conversation, input audio and its `Transcriptions`,
and runs one `Response` at a time. Every server event goes through one outbox so events keep their order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Request, ServerConnection, serve
from websockets.asyncio.server import Response as HttpResponse
from websockets.exceptions import ConnectionClosed

from local_realtime import events
from local_realtime.audio_format import duration_ms
from local_realtime.brain import Entry, tool_specs
from local_realtime.conversation import Conversation, new_id, normalize_item
from local_realtime.engine import Engine
from local_realtime.events import ProtocolError
from local_realtime.input_audio import BufferFull, InputAudio, PlaybackClock, SpeechEvent
from local_realtime.response import Response
from local_realtime.session import ResponseSettings, SessionConfig
from local_realtime.speculation import Speculation
from local_realtime.transcription import Transcriptions

logger = logging.getLogger(__name__)
PATH = "/v1/realtime"


@asynccontextmanager
async def serve_engine(engine: Engine, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve `engine` until the block ends; yields the base URL, e.g. "ws://127.0.0.1:54321/v1".

    Clients connect to `<url>/realtime?model=<any>`; the openai SDK takes it as `websocket_base_url`.
    """

    async def handle(ws: ServerConnection) -> None:
        await Connection(engine, ws).serve()

    async with serve(
        handle, host, port, process_request=_check_path, max_size=events.MAX_FRAME_BYTES, compression=None
    ) as server:
        bound_port = server.sockets[0].getsockname()[1] if port == 0 else port
        url = f"ws://{host}:{bound_port}/v1"
        logger.info("local realtime engine listening on %s/realtime", url)
        yield url


def _check_path(connection: ServerConnection, request: Request) -> HttpResponse | None:
    if urlsplit(request.path).path.rstrip("/") != PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, f"Not found. Connect to {PATH}?model=...\n")
    return None


class Connection:
    """One Realtime session over one WebSocket."""

    def __init__(self, engine: Engine, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        self._engine = engine
        self._ws = ws
        self._config = SessionConfig(model=query.get("model", [engine.model])[0])
        self._conversation = Conversation(self._config.instructions)
        self._audio = InputAudio()
        self._playback = PlaybackClock()
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._response: Response | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._transcriptions = Transcriptions(
            engine,
            self._emit,
            reported=lambda: self._config.transcription is not None,
            prompt=lambda: self._config.transcription_prompt,
        )
        self._speech_item_id: str | None = None
        self._speculation: Speculation | None = None
        self._idle_stop = threading.Event()  # set: no work on the next prompt is under way
        self._idle_stop.set()

    async def serve(self) -> None:
        """Run the session until the client disconnects."""
        writer = asyncio.create_task(self._write())
        try:
            assert self._ws.request is not None
            if "realtime" in self._ws.request.headers.get("OpenAI-Beta", ""):
                self._error(
                    ProtocolError(
                        "beta_api_shape_disabled",
                        "The Realtime Beta API is no longer supported. Remove the OpenAI-Beta header.",
                    )
                )
                self._outbox.put_nowait(None)
                await writer
                await self._ws.close(4000, "beta_api_shape_disabled")
                return
            logger.info("session connected (model %s)", self._config.model)
            await asyncio.to_thread(self._audio.listen, self._config.turn_detection, self._engine.new_detector)
            self._emit({"type": "session.created", "session": self._config.to_wire()})
            async for frame in self._ws:
                await self._handle(frame)
        except ConnectionClosed:
            pass
        finally:
            await self._shutdown(writer)

    async def _shutdown(self, writer: asyncio.Task[None]) -> None:
        if self._response is not None:
            self._response.cancel("client_cancelled")
        self._drop_speculation()
        self._idle_stop.set()
        self._transcriptions.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self._transcriptions.ready()
        self._outbox.put_nowait(None)
        await asyncio.wait([writer])
        logger.info("session closed")

    async def _write(self) -> None:
        while (frame := await self._outbox.get()) is not None:
            try:
                await self._ws.send(frame)
            except ConnectionClosed:
                return

    def _emit(self, event: dict[str, Any]) -> None:
        """Queue one server event; it is serialized now, so later changes to its dicts do not leak."""
        logger.debug("-> %s", event["type"])
        if event["type"] == "response.output_audio.delta":
            self._playback.sent(duration_ms(len(event["delta"]) * 3 // 4))  # base64: 4 characters per 3 bytes
        self._outbox.put_nowait(json.dumps({"event_id": new_id("event"), **event}))

    def _error(self, exc: ProtocolError) -> None:
        logger.debug("client error %s: %s", exc.code, exc.message)
        self._emit(exc.to_event())

    async def _handle(self, frame: str | bytes) -> None:
        try:
            event = events.parse(frame)
        except ProtocolError as exc:
            self._error(exc)
            return
        logger.debug("<- %s", type(event).__name__)
        try:
            await self._dispatch(event)
        except ProtocolError as exc:
            exc.event_id = exc.event_id or event.event_id
            self._error(exc)

    async def _dispatch(self, event: events.ClientEvent) -> None:
        match event:
            case events.SessionUpdate(session=session):
                config = self._config.updated(session)
                if config.turn_detection != self._config.turn_detection:
                    await self._listen(config)
                self._conversation.set_instructions(config.instructions)
                if config.tools and config.tools != self._config.tools:
                    self._warm(config)
                self._config = config
                self._emit({"type": "session.updated", "session": config.to_wire()})
            case events.AudioAppend(audio=audio):
                try:
                    speeches = await asyncio.to_thread(self._audio.append, audio, self._assistant_speaking())
                except BufferFull as exc:
                    raise ProtocolError("input_audio_buffer_full", str(exc), "audio") from exc
                for speech in speeches:
                    self._on_speech(speech)
            case events.AudioCommit():
                if self._audio.duration_ms < 100:
                    raise ProtocolError(
                        "input_audio_buffer_commit_empty",
                        f"Error committing input audio buffer: buffer too small. Expected at "
                        f"least 100ms of audio, but buffer only has {self._audio.duration_ms}ms "
                        f"of audio.",
                    )
                self._commit(new_id("item"), self._audio.take_all())
            case events.AudioClear():
                self._audio.clear()
                self._emit({"type": "input_audio_buffer.cleared"})
            case events.ItemCreate(item=raw, previous_item_id=previous_id):
                item, audio = normalize_item(raw)
                self._add_user_item(item, previous_id, audio)
            case events.ItemTruncate(item_id=item_id, content_index=index, audio_end_ms=end_ms):
                self._playback.stopped()
                self._conversation.truncate(item_id, index, end_ms)
                truncated = {"item_id": item_id, "content_index": index, "audio_end_ms": end_ms}
                self._emit({"type": "conversation.item.truncated", **truncated})
            case events.ItemDelete(item_id=item_id):
                self._conversation.delete(item_id)
                self._emit({"type": "conversation.item.deleted", "item_id": item_id})
            case events.ItemRetrieve(item_id=item_id):
                self._emit({"type": "conversation.item.retrieved", "item": self._conversation.get(item_id)})
            case events.ResponseCreate(response=request):
                if self._response is not None:
                    raise ProtocolError(
                        "conversation_already_has_active_response",
                        f"Conversation already has an active response in progress: "
                        f"{self._response.id}. Wait until the response is finished before "
                        f"creating a new one.",
                    )
                self._start_response(ResponseSettings.build(self._config, request))
            case events.ResponseCancel(response_id=response_id):
                if self._response is None or response_id not in (None, self._response.id):
                    raise ProtocolError("response_cancel_not_active", "Cancellation failed: no active response found.")
                self._response.cancel("client_cancelled")

    def _warm(self, config: SessionConfig) -> None:
        """Prefill the brain's prompt for the new tools in the background, so the first turn is fast."""

        async def warm() -> None:
            try:
                await self._engine.warm(tool_specs(config.tools), self._conversation.entries()[0])
            except (RuntimeError, ValueError, OSError) as exc:  # a failed warm-up only costs speed
                logger.warning("warming the brain for new tools failed: %s", exc)

        self._track(asyncio.create_task(warm()))

    async def _listen(self, config: SessionConfig) -> None:
        try:
            await asyncio.to_thread(self._audio.listen, config.turn_detection, self._engine.new_detector)
        except ValueError as exc:
            raise ProtocolError("invalid_value", str(exc), "session.audio.input.turn_detection") from exc

    def _on_speech(self, speech: SpeechEvent) -> None:
        detection = self._config.turn_detection
        if speech.kind in ("speech_paused", "speech_resumed"):
            self._speculate(speech)
            return
        if speech.kind == "speech_started":
            self._speech_item_id = new_id("item")
            self._emit(
                {
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": speech.audio_ms,
                    "item_id": self._speech_item_id,
                }
            )
            if self._response is not None and detection is not None and detection.interrupt_response:
                self._response.cancel("turn_detected")
            self._playback.stopped()  # the client stops playing at speech_started
            return
        item_id = self._speech_item_id or new_id("item")
        self._speech_item_id = None
        self._emit({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": speech.audio_ms, "item_id": item_id})
        speculation, self._speculation = self._speculation, None
        self._commit(item_id, self._audio.take_speech(speech.audio_ms), speculation)
        if detection is not None and detection.create_response and self._response is None:
            self._start_response(ResponseSettings.build(self._config, {}))

    def _assistant_speaking(self) -> bool:
        """The assistant's turn is under way (a response, its audio still playing, or a tool call between
        two responses): speech must then last `INTERRUPTION_MS` to interrupt it."""
        return self._response is not None or self._playback.audible() or self._conversation.awaiting_answer()

    def _speculate(self, speech: SpeechEvent) -> None:
        """At a pause, start on the turn (transcript, then the brain's prompt); drop that when speech resumes."""
        self._drop_speculation()
        if speech.kind != "speech_paused" or self._response is not None:
            return
        self._idle_stop.set()  # the turn's own prompt is more urgent
        tools = tool_specs(self._config.tools)
        instructions, history = self._conversation.entries()  # now: by the time the transcript is ready, the
        # turn may be committed (its item still without a transcript)

        async def prepare(transcript: str, stop: threading.Event) -> None:
            await self._engine.prepare_reply(instructions, [*history, Entry("user", transcript)], tools, stop)

        pcm = self._audio.peek_speech(speech.audio_ms)
        self._speculation = Speculation(self._engine, pcm, prepare, self._config.transcription_prompt)

    def _drop_speculation(self) -> None:
        """Cancel the work started at a pause, if any (its end is awaited with the other tasks)."""
        if self._speculation is not None:
            self._speculation.cancel()
            self._track(asyncio.create_task(self._speculation.wait()))
            self._speculation = None

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _commit(self, item_id: str, pcm: bytes, speculation: Speculation | None = None) -> None:
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self._emit(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": self._conversation.last_id(),
                "item_id": item_id,
            }
        )
        self._add_user_item(item, None, [(0, pcm)], speculation)

    def _add_user_item(
        self,
        item: dict[str, Any],
        previous_id: str | None,
        audio: list[tuple[int, bytes]],
        speculation: Speculation | None = None,
    ) -> None:
        previous = self._conversation.add(item, previous_id)
        self._emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        self._emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item})
        for content_index, pcm in audio:
            known = speculation.transcript if speculation is not None else None
            self._transcriptions.start(item, content_index, pcm, known)

    def _start_response(self, settings: ResponseSettings) -> None:
        self._idle_stop.set()
        response = Response(self._engine, settings, self._conversation, self._emit, self._transcriptions.ready)
        self._response = response
        self._track(asyncio.create_task(self._run(response)))

    async def _run(self, response: Response) -> None:
        try:
            await response.run()
        finally:
            if self._response is response:
                self._response = None
                self._prepare_next()

    def _prepare_next(self) -> None:
        """While the user listens, evaluate the conversation so far, so the next reply starts from it: the
        answer's own turn and, after a script loaded or moved on, its new instructions (see
        `prompt.render_turns`). Stopped by the next pause in the user's speech or the next response. Not
        after a tool call: its result and the next response follow at once, and would wait for this."""
        instructions, history = self._conversation.entries()
        if history and history[-1].role == "tool_call":
            return
        self._idle_stop = stop = threading.Event()
        tools = tool_specs(self._config.tools)

        async def prepare() -> None:
            try:
                await self._engine.prepare_reply(instructions, history, tools, stop)
            except (RuntimeError, ValueError, OSError) as exc:  # only costs the next reply's speed
                logger.warning("preparing the next prompt failed: %s", exc)

        self._track(asyncio.create_task(prepare()))
