"""One live Realtime session: the socket, MCP tool calls, barge-in, reconnects and callbacks.

`RealtimeSession` is an async context manager; `async for event in session` yields the typed
server events of `realtime.py` after the session has acted on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from voice_client import realtime
from voice_client.calls import Call, CallLedger
from voice_client.config import Config
from voice_client.consent import Busy, Consent, pending_output
from voice_client.history import History
from voice_client.latency import TurnLatency, TurnTimer
from voice_client.listeners import Callback, EventFeed, SessionCallbacks, notify
from voice_client.playback import AudioOutput, Playback
from voice_client.realtime import RealtimeError, ServerEvent
from voice_client.responses import Responses
from voice_client.toolbox import McpTools, ToolOutcome, failure, reconnect_delays
from voice_client.transcript import Transcript

logger = logging.getLogger(__name__)

STABLE_CONNECTION_S = 10.0
"""A socket that lived this long resets the reconnect backoff."""


class RealtimeSession(SessionCallbacks):
    """A Realtime GA session bridged to MCP tools.

    `callbacks` are `SessionCallbacks` keywords (`on_tool_result=...`); they can also be assigned later.

    Raises (on enter):
        ConnectionError: if no socket could be opened within `config.connect_timeout_s`.
        RealtimeError: if the server refused the session.
    """

    def __init__(
        self,
        config: Config,
        *,
        tools: McpTools | None = None,
        audio_output: AudioOutput | None = None,
        transcript: Transcript | None = None,
        **callbacks: Callback | None,
    ) -> None:
        super().__init__(**callbacks)
        self._config = config
        self._tools = tools
        self._transcript = transcript
        self._connect_timeout_s = config.connect_timeout_s
        self.instructions = config.instructions
        """Current session instructions (a script's coach persona replaces the default)."""
        self.call_overheads_s: deque[float] = deque(maxlen=256)
        """Client time of the last 256 tool calls: arguments done to output sent, minus the MCP call."""
        self._playback = Playback(audio_output)
        vad = config.turn_detection == "server_vad" and not config.text_only
        self._timer = TurnTimer(config.vad_silence_ms if vad else None)
        self._user_turns = 0  # user turns begun (speech started or text sent): a new one supersedes a tool loop
        self._ledger = CallLedger()
        self._consent = Consent(config.approval_timeout_s)
        self._history = History(config.history_items)
        self._events = EventFeed()
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._generation = 0
        self._responses = Responses()
        self._app_calls = 0  # numbers the call ids of add_tool_call
        self._resume = False  # the socket dropped while the model owed an answer
        self._closing = False
        self._error: BaseException | None = None
        self._group: asyncio.TaskGroup | None = None
        self._runner: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> RealtimeSession:
        self._runner = asyncio.create_task(self._run(), name="realtime-session")
        waiter = asyncio.create_task(self._connected.wait())
        await asyncio.wait({waiter, self._runner}, timeout=self._connect_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not self._connected.is_set():
            await self.__aexit__(None, None, None)
            if self._error is not None:
                raise self._error
            url = realtime.socket_url(self._config.realtime_url, self._config.model)
            raise ConnectionError(f"no Realtime connection to {url} within {self._connect_timeout_s:g} s")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        if self._runner is not None:
            self._runner.cancel()  # the TaskGroup cancels the tool calls with it
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._ws is not None:
            await self._ws.close()

    async def __aiter__(self) -> AsyncIterator[ServerEvent]:
        """The server events, each after the session acted on it; ends when the session does (raising
        its error, if it ended with one)."""
        async for event in self._events:
            yield event

    @property
    def idle(self) -> bool:
        """True when no response is running or owed and no tool call is still working."""
        return not (self._responses.busy or self._ledger.in_flight())

    # ------------------------------------------------------------------ public sends

    async def send_text(self, text: str, respond: bool = True) -> None:
        """Add a user text message; with `respond`, ask the model to answer it. While a held tool call waits
        for the user's yes or no, the text is that answer (the session then decides what follows)."""
        self._history.user(text)
        if self._transcript:
            self._transcript.user(text)
        self._user_turns += 1
        await self._report(self._timer.text_sent())
        await self._send_user(realtime.item_create(realtime.user_text(text)))
        if self._consent.hear(text):
            return
        if respond:
            await self.create_response()

    async def send_audio(self, pcm: bytes) -> None:
        """Append PCM16 mono 24 kHz little-endian bytes to the input buffer."""
        await self._send_user(realtime.audio_append(pcm))
        self._timer.input.sent(len(pcm))

    async def commit_audio(self) -> None:
        """Turn the buffered audio into a user message (manual turns; server VAD commits itself)."""
        await self._send_user(realtime.audio_commit())

    async def create_response(self) -> None:
        """Ask for a response now, or as soon as the running one is done."""
        await self._ready()
        await self._request_response()

    async def add_tool_call(self, name: str, arguments: str, output: str) -> None:
        """Put a tool call the application ran itself, with its output, into the conversation.

        `demo.py --script` loads the script before the first turn this way: the model then sees the
        call and its result as if it had made it (no `response.create` is sent).
        """
        await self._ready()
        await self._add_call(name, arguments, output)
        if self._transcript:
            self._transcript.tool_call(name, arguments, output, is_error=False)

    async def _add_call(self, name: str, arguments: str, output: str) -> None:
        """A function call and its output, put into the conversation by the client itself."""
        self._app_calls += 1
        call = Call(f"call_app_{self._app_calls}", name, arguments, response_id="", output=output)
        self._history.call(call)
        await self._send(realtime.item_create(realtime.function_call(call.call_id, name, arguments)))
        call.sent_on = self._generation
        await self._send(realtime.item_create(realtime.function_call_output(call.call_id, output)))

    async def interrupt(self) -> None:
        """Stop the assistant now, as when the user speaks over it (a Stop button): playback stops, the item is
        truncated where the user stopped hearing it and the running response is cancelled."""
        await self._ready()
        await self._barge_in()

    async def cancel_response(self) -> None:
        """Cancel the running response, if any."""
        if (response_id := self._responses.cancel()) is not None:
            await self._send_user(realtime.response_cancel(response_id))

    async def _ready(self) -> None:
        if self._error is not None:
            raise self._error
        async with asyncio.timeout(self._connect_timeout_s):
            await self._connected.wait()

    async def _send_user(self, event: dict[str, Any]) -> None:
        await self._ready()
        await self._send(event)

    async def _send(self, event: dict[str, Any]) -> bool:
        """Send on the current socket; False if it is down (the reconnect restores state)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await realtime.send(ws, event)
        except ConnectionClosed:
            return False
        return True

    async def _request_response(self) -> None:
        if (event := self._responses.request()) is not None:
            await self._send(event)

    # ------------------------------------------------------------------ connection loop

    async def _run(self) -> None:
        """The session's one TaskGroup: the socket loop here, tool calls and tool-list changes beside it."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                if self._tools is not None:
                    group.create_task(self._follow_tool_changes())
                    if self._config.transcription_model:
                        group.create_task(self._follow_vocabulary())
                await self._connect_forever()  # ends only by cancellation (close) or an error
        except* RealtimeError as errors:
            self._error = errors.exceptions[0]
        except* Exception as errors:  # boundary: any connection failure ends the session with its reason
            first = errors.exceptions[0]
            self._error = first if isinstance(first, OSError) else ConnectionError(str(first))
        finally:
            self._connected.clear()
            self._events.end(self._error)
            await notify(self.on_connection_changed, "closed")

    async def _connect_forever(self) -> None:
        delays = reconnect_delays()
        async with contextlib.aclosing(realtime.connect(self._config).__aiter__()) as sockets:
            async for ws in sockets:  # websockets redials failed connects with its own backoff
                opened = time.monotonic()
                await self._serve(ws)
                if self._closing:
                    return
                if time.monotonic() - opened > STABLE_CONNECTION_S:
                    delays = reconnect_delays()
                delay_s = next(delays)  # a server that accepts and drops at once must not spin us
                logger.warning("Realtime socket closed; reconnecting in %.1f s", delay_s)
                await notify(self.on_connection_changed, "reconnecting")
                if self._transcript:
                    self._transcript.note("connection lost; reconnecting")
                await asyncio.sleep(delay_s)

    async def _serve(self, ws: ClientConnection) -> None:
        self._generation += 1
        try:
            await self._configure(ws)
            self._ws = ws  # only now: a call finishing during _configure must not overtake the replay
            for call in self._ledger.unsent(self._generation):
                await self._send_output(call)
                if self._ledger.ready_to_continue(call.response_id, self._generation):
                    await self._request_response()
            self._connected.set()
            logger.info("Realtime session connected (generation %d)", self._generation)
            await notify(self.on_connection_changed, "connected")
            async for event in realtime.events(ws):
                await self._dispatch(event)
                self._events.put(event)
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
            self._connected.clear()
            self._on_drop()

    async def _configure(self, ws: ClientConnection) -> None:
        tools, vocabulary = (self._tools.definitions, self._tools.vocabulary) if self._tools else ([], "")
        await realtime.send(ws, realtime.session_update(self._config, self.instructions, tools, vocabulary))
        if self._consent.waiting and (update := realtime.turn_update(self._config, create_response=False)):
            await realtime.send(ws, update)  # a question still waits for the user's answer
        if self._generation == 1:
            return
        for event in self._history.replay(self._generation):
            await realtime.send(ws, event)
        resume = self._resume
        for response_id in self._ledger.open_responses():
            resume = self._ledger.ready_to_continue(response_id, self._generation) or resume
        self._resume = False
        if resume and not self._ledger.in_flight():
            await realtime.send(ws, self._responses.create_event())

    def _on_drop(self) -> None:
        if self._responses.active is not None:
            self._ledger.response_done(self._responses.active, "dropped")
        self._resume = self._responses.dropped() or self._history.ends_with_user

    async def _follow_tool_changes(self) -> None:
        assert self._tools is not None
        async for definitions in self._tools.changes():
            logger.info("MCP tool list changed (%d tools); updating the session", len(definitions))
            await self._send(realtime.tools_update(definitions))

    async def _follow_vocabulary(self) -> None:
        """The server's vocabulary changed (the library, the script): the transcription's prompt follows it."""
        assert self._tools is not None
        async for vocabulary in self._tools.vocabulary_changes():
            logger.info("MCP vocabulary changed (%d characters); updating the transcription", len(vocabulary))
            await self._send(realtime.transcription_update(self._config, vocabulary))

    # ------------------------------------------------------------------ server events

    async def _dispatch(self, event: ServerEvent) -> None:
        match event:
            case realtime.ServerError():
                await self._on_error(event)
            case realtime.ResponseCreated(response_id=rid):
                self._responses.created(rid)
            case realtime.ResponseDone():
                self._playback.complete()
                await self._on_response_done(event)
            case realtime.FunctionCallReady():
                await self._on_function_call(event)
            case realtime.AudioDelta(response_id=rid, item_id=item_id, audio=pcm):
                delay_s = self._playback.delay_s()
                if not self._responses.cancelled(rid) and self._playback.add(item_id, pcm):
                    self._timer.audio(delay_s)
                    await notify(self.on_audio_received, pcm)
            case realtime.TextDelta(response_id=rid, delta=delta) if not self._responses.cancelled(rid):
                self._timer.text()
                await notify(self.on_response_delta, delta)
            case realtime.TextDone(text=text):
                self._history.assistant(text)
                if self._transcript:
                    self._transcript.assistant(text)
                await notify(self.on_response_received, text)
            case realtime.UserTranscript(transcript=text):
                self._timer.mark("transcript")
                self._history.user(text)
                if self._transcript:
                    self._transcript.user(text)
                await notify(self.on_transcription_received, text)
                self._consent.hear(text)
            case realtime.SpeechStarted():
                self._user_turns += 1
                await self._barge_in()
            case realtime.SpeechStopped(audio_end_ms=end_ms):
                await self._report(self._timer.speech_stopped(end_ms))

    async def _on_error(self, event: realtime.ServerError) -> None:
        if event.fatal:
            raise RealtimeError(event.code, event.message)
        if event.code in realtime.BENIGN_ERROR_CODES:
            logger.debug("benign Realtime error %s", event.code)
            return
        self._responses.refused(event.code, event.event_id)
        logger.warning("Realtime error %s: %s", event.code, event.message)

    async def _on_response_done(self, event: realtime.ResponseDone) -> None:
        self._responses.done(event.response_id)
        if event.status == "failed":
            logger.warning("response %s failed: %s", event.response_id, event.error or "no details")
        self._ledger.response_done(event.response_id, event.status)
        if self._ledger.ready_to_continue(event.response_id, self._generation) or self._responses.wanted:
            await self._request_response()
        if self.idle:
            await self._report(self._timer.finish())

    async def _report(self, turn: TurnLatency | None) -> None:
        if turn is None:
            return
        logger.debug("turn latency: %s", turn.describe())
        await notify(self.on_turn_latency, turn)

    async def _on_function_call(self, event: realtime.FunctionCallReady) -> None:
        call = self._ledger.register(event.call_id, event.name, event.arguments, event.response_id)
        if call is not None:
            call.user_turn = self._user_turns
            self._timer.tool_called(event.name)
            self._history.call(call)
            assert self._group is not None  # set by _run before any event is dispatched
            self._group.create_task(self._run_call(call))
            return
        logger.warning("call %s (%s) was already executed; not running it again", event.call_id, event.name)
        known = self._ledger.get(event.call_id)
        if known is not None and known.output is not None and known.sent_on != self._generation:
            await self._send_output(known)

    async def _run_call(self, call: Call) -> None:
        await notify(self.on_tool_call, call.name, call.arguments)
        held = busy = False

        async def ask(question: str) -> bool:
            nonlocal held, busy
            try:
                return await self._consent.decide(question, lambda prompt: self._ask_user(call, prompt))
            except Busy:
                busy = True
                return False
            finally:
                held = not busy

        if self._tools is not None:
            outcome = await self._tools.call(call.name, call.arguments, ask)
        else:
            outcome = failure("no tools are connected to this session")
        if busy:
            outcome = failure(f"{call.name} did not run: another question waits for the user; ask about it after that")
        self._timer.tool_finished()
        if outcome.instructions and outcome.instructions != self.instructions:
            self.instructions = outcome.instructions
            await self._send(realtime.instructions_update(outcome.instructions))
        if held:  # its output already asked the question: the outcome goes in as a call of its own
            await self._answer_held(call, outcome)
            return
        call.output = outcome.output
        await self._send_output(call)
        self.call_overheads_s.append(time.perf_counter() - call.received_at - outcome.duration_s)
        logger.info(
            "tool %s %s in %.0f ms", call.name, "failed" if outcome.is_error else "ran", outcome.duration_s * 1000
        )
        self._record(call, outcome)
        await notify(self.on_tool_result, call.name, outcome)
        if self._ledger.ready_to_continue(call.response_id, self._generation):
            if call.user_turn != self._user_turns:  # the user spoke since: their new turn gets the answer
                logger.info("user spoke while %s ran; its result waits for their new turn", call.name)
                return
            await self._request_response()

    async def _ask_user(self, call: Call, prompt: str) -> None:
        """Have the model ask `prompt` about held `call` (see `consent.py`); the user's turn then waits for us."""
        if (update := realtime.turn_update(self._config, create_response=False)) is not None:
            await self._send(update)
        if call.output is None:  # the first question is the held call's own output
            call.output = pending_output(prompt)
            await self._send_output(call)
            if self._ledger.ready_to_continue(call.response_id, self._generation):
                await self._request_response()
            return
        await self._add_call(call.name, call.arguments, pending_output(prompt))
        await self._request_response()

    async def _answer_held(self, call: Call, outcome: ToolOutcome) -> None:
        """Put what became of a held call (it ran, or the user declined) into the conversation; the model
        answers it."""
        if (update := realtime.turn_update(self._config, create_response=True)) is not None:
            await self._send(update)
        await self._add_call(call.name, call.arguments, outcome.output)
        self._record(call, outcome)
        logger.info("held tool %s %s", call.name, "did not run" if outcome.is_error else "ran")
        await notify(self.on_tool_result, call.name, outcome)
        await self._request_response()

    async def _send_output(self, call: Call) -> None:
        assert call.output is not None
        generation = self._generation
        call.sent_on = generation
        if not await self._send(realtime.item_create(realtime.function_call_output(call.call_id, call.output))):
            call.sent_on = None if call.sent_on == generation else call.sent_on

    def _record(self, call: Call, outcome: ToolOutcome) -> None:
        if self._transcript:
            self._transcript.tool_call(call.name, call.arguments, outcome.output, outcome.is_error)
            if outcome.instructions:
                self._transcript.note("session instructions changed by the script")

    async def _barge_in(self) -> None:
        cut = self._playback.interrupt()
        if cut is not None and not cut.finished:
            await self._send(realtime.item_truncate(cut.item_id, cut.played_ms))
            if self._transcript:
                self._transcript.note(f"user interrupted after {cut.played_ms} ms of the reply")
        if (response_id := self._responses.cancel()) is not None:
            await self._send(realtime.response_cancel(response_id))
        if self._tools is not None:
            self._tools.interrupt()  # stops read-only calls; a write always completes and its outcome is sent
