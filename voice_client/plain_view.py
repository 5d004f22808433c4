"""Plain lines for `python -m voice_client`: replies on stdout (one per line, for scripts), the rest on stderr."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

from voice_client.latency import TurnLatency
from voice_client.tools import ToolOutcome

logger = logging.getLogger(__name__)


class PlainView:
    """The `View` of `python -m voice_client`: no colours, no status bar.

    Replies go to stdout as they complete, so `python -m voice_client --text "..."` prints exactly the
    assistant's words; with speech (`labelled`) they read "assistant: ..." and the user's transcribed
    speech "you: ...". Tool calls, notes and the typed-chat prompt go to stderr.

    Args:
        labelled: prefix replies with "assistant: " (a spoken conversation, where transcripts are shown too).
    """

    def __init__(self, labelled: bool = False) -> None:
        self.labelled = labelled

    def callbacks(self) -> dict[str, Any]:
        """Keyword arguments for `RealtimeSession`: replies, transcripts and tool calls."""
        return {
            "on_transcription_received": self.heard,
            "on_response_received": self.assistant,
            "on_tool_call": self.tool_call,
            "on_tool_result": self.tool_result,
        }

    def heard(self, text: str) -> None:
        """The transcript of the user's speech."""
        print(f"you: {text.strip()}", flush=True)

    def user(self, text: str) -> None:
        """A typed turn: already on the command line or the terminal, so nothing is printed."""

    def assistant(self, text: str) -> None:
        """A complete reply (or the transcript of what the assistant said)."""
        if text.strip():
            print(f"assistant: {text.strip()}" if self.labelled else text.strip(), flush=True)

    def tool_call(self, name: str, arguments: str) -> None:
        """The model called tool `name` with JSON `arguments`."""
        print(f"[tool] {name} {arguments}", file=sys.stderr, flush=True)

    def tool_result(self, name: str, outcome: ToolOutcome) -> None:
        """Whether the call succeeded."""
        print(f"[tool] {name} -> {'failed' if outcome.is_error else 'ok'}", file=sys.stderr, flush=True)

    def turn_latency(self, turn: TurnLatency) -> None:
        """A finished turn's latency report, logged at INFO."""
        logger.info("turn latency: %s", turn.to_json())

    def note(self, text: str) -> None:
        """A hint or a path, on stderr."""
        print(text, file=sys.stderr, flush=True)

    def prompt(self, text: str) -> None:
        """Typed chat's prompt, on stderr."""
        print(text, end="", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def waiting(self, activity: str) -> Iterator[None]:
        """`activity` as a line on stderr ("Connecting…", "listening (Ctrl-C to stop)…")."""
        print(f"{activity}…", file=sys.stderr, flush=True)
        yield

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing to pause."""
        yield
