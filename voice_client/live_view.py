"""The live terminal view (rich) of a voice session, fed by `RealtimeSession` callbacks.

Finished lines scroll above a status bar: what the user said, each tool call with its arguments
and outcome, the file it changed, what the assistant said. The bar at the bottom shows the
connection, the active script and stage, what is being waited for (with a spinner) and the
assistant's reply as it streams. On a terminal that is not interactive (a pipe, a CI log) the bar
is not drawn and the finished lines form a plain log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.text import Text

from voice_client.latency import TurnLatency
from voice_client.tools import ToolOutcome

_ARGUMENT_CHARS = 160


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary(result: dict[str, Any]) -> str:
    """A tool result in a few words: its message, or how many hits and the best one's title."""
    if result.get("message"):
        return str(result["message"])
    hits = result.get("result")
    if isinstance(hits, list):
        best = hits[0] if hits and isinstance(hits[0], dict) else {}
        title = best.get("title") or best.get("document_id")
        return f"{len(hits)} result(s)" + (f", best: {title}" if title else "")
    return ""


class LiveView:
    """Shows one session on `console`; pass `view.callbacks()` to `RealtimeSession`.

    Use `with view:` around the whole run (starts and stops the status bar) and `view.waiting(text)`
    around a wait (model loading, indexing, a turn) to show a spinner with `text`.
    """

    def __init__(self, console: Console | None = None, backend: str = "") -> None:
        self.console = console or Console()
        self.backend = backend
        """Which Realtime endpoint is in use, e.g. "offline engine" or "OpenAI"."""
        self.connection = "connecting"
        self.script: str | None = None
        self.stage: str | None = None
        self._activity: str | None = None
        self._streaming = ""
        self.last_turn_s: float | None = None
        """End of speech to first reply audio in the last spoken turn (or to the first reply text, typed)."""
        self._live = Live(console=self.console, get_renderable=self._bar, transient=True, refresh_per_second=8)
        self._spinner = Spinner("dots")

    def __enter__(self) -> LiveView:
        if self.console.is_terminal:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def callbacks(self) -> dict[str, Any]:
        """Keyword arguments for `RealtimeSession` (every callback it offers, except audio)."""
        return {
            "on_transcription_received": self.user,
            "on_response_delta": self.assistant_delta,
            "on_response_received": self.assistant,
            "on_tool_call": self.tool_call,
            "on_tool_result": self.tool_result,
            "on_connection_changed": self.connection_changed,
        }

    # ------------------------------------------------------------------ what happened

    def user(self, text: str) -> None:
        """A user turn: typed text or the transcript of their speech."""
        self.console.print(Text.assemble(("you › ", "bold cyan"), text.strip()))
        self._activity = "thinking"

    def assistant_delta(self, text: str) -> None:
        """A piece of the assistant's reply, shown in the status bar until the reply is complete."""
        self._streaming += text

    def assistant(self, text: str) -> None:
        """A complete assistant reply (or the transcript of what it said)."""
        self._streaming = ""
        if text.strip():
            self.console.print(Text.assemble(("assistant › ", "bold green"), text.strip()))

    def tool_call(self, name: str, arguments: str) -> None:
        """The model called tool `name` with JSON `arguments`."""
        self.console.print(
            Text.assemble(("  ⚙ ", "yellow"), (name, "bold yellow"), " ", _clip(arguments, _ARGUMENT_CHARS))
        )
        self._activity = f"running {name}"

    def tool_result(self, name: str, outcome: ToolOutcome) -> None:
        """A tool call's outcome: ok or failed with its message, the changed file, the script and stage."""
        result = outcome.structured or {}
        if outcome.is_error:
            message = str(json.loads(outcome.output).get("error", outcome.output)) if outcome.output else "failed"
            self.console.print(Text.assemble(("  ✗ ", "red"), (name, "bold red"), " ", _clip(message, 200)))
        else:
            summary = _summary(result) or _clip(outcome.output, 120)
            took = f" ({outcome.duration_s * 1000:.0f} ms)"
            self.console.print(
                Text.assemble(("  ✓ ", "green"), (name, "bold"), " ", _clip(summary, 200), (took, "dim"))
            )
        for path in outcome.changed:
            self.console.print(Text.assemble(("  ✎ changed ", "magenta"), (f"workspace/{path}", "bold magenta")))
        if outcome.script_stage is not None:
            self.script_changed(*outcome.script_stage)
        self._activity = "thinking"

    def script_changed(self, script: str | None, stage: str | None, number: int | None = None) -> None:
        """The active script and stage (None when no script runs)."""
        self.script = script
        self.stage = f"{number} {stage}" if stage and number else stage
        if script:
            self.console.print(Text.assemble(("  ▶ script ", "blue"), (script, "bold blue"), f", stage {self.stage}"))

    def connection_changed(self, state: str) -> None:
        """ "connected", "reconnecting" or "closed"."""
        if state == "reconnecting" and self.connection == "connected":
            self.console.print(Text(f"  connection {state}", style="red"))
        self.connection = state

    def turn_latency(self, turn: TurnLatency) -> None:
        """A finished turn's latency report: its total goes to the status line (the breakdown is in the
        DEBUG log)."""
        total = turn.first_audio_s
        if total is None and "first_token" in turn.marks:
            total = round(turn.marks["first_token"] - turn.speech_end, 3)
        self.last_turn_s = total

    def note(self, text: str) -> None:
        """A line of its own, dimmed (paths, hints)."""
        self.console.print(Text(text, style="dim"))

    def prompt(self, text: str) -> None:
        """`text` with no newline after it: typed chat's prompt (inside `paused()`)."""
        self.console.print(text, end="")

    def error(self, text: str) -> None:
        """A problem the user should see."""
        self.console.print(Text.assemble(("error: ", "bold red"), text))

    @contextmanager
    def waiting(self, activity: str) -> Iterator[None]:
        """Show a spinner with `activity` while the block runs (printed as a line when not a terminal)."""
        if not self.console.is_terminal:
            self.console.print(Text(f"{activity}…", style="dim"))
        self._activity = activity
        try:
            yield
        finally:
            self._activity = None
            self._streaming = ""

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hide the status bar while the block runs (typed input, another progress bar)."""
        running = self._live.is_started
        self._live.stop()
        try:
            yield
        finally:
            if running:
                self._live.start()

    # ------------------------------------------------------------------ the status bar

    def _bar(self) -> Group:
        state = {"connected": "green", "connecting": "yellow"}.get(self.connection, "red")
        parts = [f"[{state}]●[/] {escape(self.connection)}"]
        if self.backend:
            parts.append(escape(self.backend))
        if self.last_turn_s is not None:
            parts.append(f"last reply after {self.last_turn_s:.1f} s")
        parts.append(
            f"script: [bold]{escape(self.script)}[/] · stage {escape(self.stage or '?')}"
            if self.script
            else "no script"
        )
        lines: list[Any] = [Text.from_markup("  ·  ".join(parts), style="dim")]
        if self._streaming:
            lines.insert(0, Text.assemble(("assistant › ", "green"), _clip(self._streaming, 400)))
        if self._activity:
            self._spinner.update(text=Text(f"{self._activity}…", style="cyan"))
            lines.append(self._spinner)
        return Group(*lines)
