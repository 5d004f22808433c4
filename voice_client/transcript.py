"""A markdown transcript of one session: user and assistant turns, tool calls, timestamps.

Written to `<workspace>/transcripts/<session start>.md`, appended line by line so a crash keeps
everything said so far. Never holds audio or credentials.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path


def _now() -> datetime:
    return datetime.now(UTC)


class Transcript:
    """Appends turns to one markdown file under `<workspace_dir>/transcripts/`."""

    def __init__(self, workspace_dir: Path, title: str = "Voice session") -> None:
        started = _now()
        folder = workspace_dir / "transcripts"
        folder.mkdir(parents=True, exist_ok=True)
        stem = started.strftime("session-%Y%m%d-%H%M%S-%f")
        self.path = folder / f"{stem}.md"
        """Where this transcript is written."""
        self._write(f"# {title}\n\nStarted {started.isoformat(timespec='seconds')}\n")

    def user(self, text: str) -> None:
        """A user turn (typed text or the transcript of their speech)."""
        self._turn("User", text)

    def assistant(self, text: str) -> None:
        """An assistant turn (text, or the transcript of what it said)."""
        self._turn("Assistant", text)

    def tool_call(self, name: str, arguments: str, outcome: str, is_error: bool) -> None:
        """A tool call with its JSON arguments and what came back."""
        try:
            args = json.dumps(json.loads(arguments or "{}"), ensure_ascii=False)
        except ValueError:
            args = arguments
        status = "failed" if is_error else "ok"
        self._write(
            f"\n**{self._stamp()} Tool `{name}`** ({status})\n\n"
            f"- arguments: `{args}`\n- result: {self._clip(outcome)}\n"
        )

    def note(self, text: str) -> None:
        """A session event worth keeping (reconnect, interruption, instructions changed)."""
        self._write(f"\n_{self._stamp()} {text}_\n")

    def _turn(self, who: str, text: str) -> None:
        if text.strip():
            self._write(f"\n**{self._stamp()} {who}:** {text.strip()}\n")

    @staticmethod
    def _stamp() -> str:
        return _now().strftime("%H:%M:%S")

    @staticmethod
    def _clip(text: str, limit: int = 500) -> str:
        text = text.replace("\n", " ")
        return text if len(text) <= limit else text[:limit] + "…"

    def _write(self, text: str) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(text)
