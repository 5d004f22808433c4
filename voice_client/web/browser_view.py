"""The page as a `View`: everything the terminal shows, sent to the page as JSON messages as well.

`BrowserView` wraps the terminal's view (the live view of `demo.py`, the plain lines of `python -m voice_client`),
so the terminal keeps its log while the page shows the transcript, each tool call, the script, the evidence of
a library answer, the latency of each turn, the connection state and errors.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from voice_client.latency import TurnLatency
from voice_client.tools import INSTRUCTIONS_KEY, ToolOutcome
from voice_client.web.tab import Tab

if TYPE_CHECKING:
    from voice_client.front_end import View

_RESULT_CHARS = 20_000
"""Longest tool result the page gets (a whole document read is shown, a runaway one is not)."""


class BrowserView:
    """A `View` (see `front_end.py`) that shows the conversation on `terminal` and in the page of `tab`.

    Args:
        on_changed: called with the workspace paths a tool call changed (the page's document view follows them).
    """

    def __init__(self, terminal: View, tab: Tab, on_changed: Callable[[list[str]], None] | None = None) -> None:
        self.terminal = terminal
        self._tab = tab
        self._on_changed = on_changed
        self._ids = itertools.count(1)
        self._running: defaultdict[str, deque[int]] = defaultdict(deque)  # tool name -> ids of its running calls

    def callbacks(self) -> dict[str, Any]:
        """The terminal view's `RealtimeSession` callbacks, each also showing its event in the page."""
        ours: dict[str, Callable[..., None]] = {
            "on_transcription_received": self._heard,
            "on_response_delta": self._reply_delta,
            "on_response_received": self._reply,
            "on_tool_call": self._tool_call,
            "on_tool_result": self._tool_result,
            "on_connection_changed": self._connection,
        }
        theirs = self.terminal.callbacks()
        return {name: _both(theirs.get(name), ours[name]) for name in ours} | {
            name: callback for name, callback in theirs.items() if name not in ours
        }

    # ------------------------------------------------------------------ View

    def user(self, text: str) -> None:
        """A typed turn."""
        self.terminal.user(text)
        self._heard(text)

    def note(self, text: str) -> None:
        """A hint or a path."""
        self.terminal.note(text)
        self._tab.send({"type": "note", "text": text}, keep=True)

    def error(self, text: str) -> None:
        """One line saying what went wrong (never a traceback)."""
        getattr(self.terminal, "error", self.terminal.note)(text)
        self._tab.send({"type": "error", "message": text}, remember="error")

    def tool_call(self, name: str, arguments: str) -> None:
        """A tool call the front end makes itself (`--script`)."""
        self.terminal.tool_call(name, arguments)
        self._tool_call(name, arguments)

    def tool_result(self, name: str, outcome: ToolOutcome) -> None:
        """The outcome of a call shown with `tool_call`."""
        self.terminal.tool_result(name, outcome)
        self._tool_result(name, outcome)

    @contextlib.contextmanager
    def waiting(self, activity: str) -> Iterator[None]:
        """What is being waited for ("thinking", "listening"), in the page's status line (without the terminal's
        own hints: "listening to the page (Ctrl-C to stop)" is "listening" there)."""
        shown = re.sub(r"\s*\(Ctrl-C[^)]*\)", "", activity).replace(" to the page", "")
        self._tab.send({"type": "activity", "text": shown}, remember="activity")
        try:
            with self.terminal.waiting(activity):
                yield
        finally:
            self._tab.send({"type": "activity", "text": None}, remember="activity")

    def paused(self) -> contextlib.AbstractContextManager[None]:
        """The terminal's pause (the page has nothing to pause)."""
        return self.terminal.paused()

    def prompt(self, text: str) -> None:
        """Typed chat's prompt: the terminal's only (the page has its own text box)."""
        self.terminal.prompt(text)

    def turn_latency(self, turn: TurnLatency) -> None:
        """End of the user's turn to the first reply audio (or text), in seconds."""
        self.terminal.turn_latency(turn)
        total = turn.first_audio_s
        if total is None and "first_token" in turn.marks:
            total = round(turn.marks["first_token"] - turn.speech_end, 3)
        self._tab.send({"type": "latency", "seconds": total}, remember="latency")

    # ------------------------------------------------------------------ the page's side of each event

    def _heard(self, text: str) -> None:
        self._tab.send({"type": "transcript.user", "text": text.strip()}, keep=True)

    def _reply_delta(self, text: str) -> None:
        self._tab.send({"type": "transcript.assistant.delta", "text": text})

    def _reply(self, text: str) -> None:
        self._tab.send({"type": "transcript.assistant.done", "text": text.strip()}, keep=True)

    def _tool_call(self, name: str, arguments: str) -> None:
        call_id = next(self._ids)
        self._running[name].append(call_id)
        self._tab.send({"type": "tool.started", "id": call_id, "name": name, "arguments": arguments}, keep=True)

    def _tool_result(self, name: str, outcome: ToolOutcome) -> None:
        running = self._running[name]
        call_id = running.popleft() if running else next(self._ids)
        result = {k: v for k, v in (outcome.structured or {}).items() if k != INSTRUCTIONS_KEY}
        shown = json.dumps(result, ensure_ascii=False, indent=1) if result else outcome.output
        self._tab.send(
            {
                "type": "tool.finished",
                "id": call_id,
                "name": name,
                "ok": not outcome.is_error,
                "duration_ms": round(outcome.duration_s * 1000),
                "summary": _summary(outcome),
                "result": shown[:_RESULT_CHARS],
            },
            keep=True,
        )
        if outcome.script_stage is not None:
            self._script(result)
        if isinstance(result.get("evidence"), list):
            self._evidence(result)
        if outcome.changed and self._on_changed is not None:
            self._on_changed(outcome.changed)

    def _script(self, result: dict[str, Any]) -> None:
        stages = result.get("stages")
        self._tab.send(
            {
                "type": "script",
                "name": result.get("script_name"),
                "title": result.get("title") or result.get("script_name"),
                "stage": result.get("current_stage"),
                "number": result.get("stage_number"),
                "stages": [str(s) for s in stages] if isinstance(stages, list) else [],
            },
            remember="script",
        )

    def _evidence(self, result: dict[str, Any]) -> None:
        items = [
            {
                "title": str(e.get("title") or e.get("document_id") or ""),
                "section": str(e.get("heading") or ""),
                "text": str(e.get("text") or ""),
                "source": str(e.get("source") or ""),
            }
            for e in reversed(result["evidence"])  # the server puts the best last (for the model); best first here
            if isinstance(e, dict)
        ]
        self._tab.send({"type": "evidence", "query": result.get("query", ""), "items": items}, remember="evidence")

    def _connection(self, state: str) -> None:
        self._tab.send({"type": "connection", "state": state}, remember="connection")


def _summary(outcome: ToolOutcome) -> str:
    """A tool result in one line: its error, its message, or how many results it found."""
    result = outcome.structured or {}
    if outcome.is_error:
        try:
            return str(json.loads(outcome.output).get("error", outcome.output))
        except (ValueError, AttributeError):
            return outcome.output
    if result.get("message"):
        return str(result["message"])
    for key in ("evidence", "result", "hits"):
        if isinstance(result.get(key), list):
            return f"{len(result[key])} result(s)"
    return ""


def _both(first: Callable[..., Any] | None, second: Callable[..., None]) -> Callable[..., Any]:
    """One callback: `second` (the page's, which never fails) and then `first` (the terminal's; awaited if it is
    a coroutine function)."""
    if first is None:
        return second

    async def both(*args: Any) -> None:
        second(*args)
        result = first(*args)
        if hasattr(result, "__await__"):
            await result

    return both
