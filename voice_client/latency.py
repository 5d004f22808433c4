"""Where the time goes in a voice turn, measured by the client from the events it sees.

Like a voice-agent latency report (Deepgram's, LiveKit's metrics), every stage is timed from the end of
the user's speech: the server's VAD says where in the input audio the turn ended (`audio_end_ms` minus
the silence it waited for), and `InputClock` knows when that audio was captured. It works the same with
OpenAI and the offline engine, which logs its own part (transcription, prefill, generation) at DEBUG.
All times are `time.monotonic()` seconds.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from voice_client.audio_format import BYTES_PER_MS

STAGES = (
    "speech_stopped",
    "transcript",
    "tool_chosen",
    "tool_done",
    "first_token",
    "first_audio_received",
    "first_audio_played",
    "answer_token",
    "answer_audio_received",
    "answer_audio_played",
)
"""Stages in the order they usually happen. `first_*` is whatever came first (on a tool turn, the spoken
acknowledgement); `answer_*` is the reply after the last tool finished (the same as `first_*` on a turn
without tools). `speech_stopped` is when the VAD's verdict arrived; the rest are self-explanatory."""


class InputClock:
    """When each millisecond of input audio was captured: positions (ms since the session's first
    `input_audio_buffer.append`) mapped to `time.monotonic()`, for the last minute or so."""

    def __init__(self, keep: int = 3000) -> None:
        self._sent_ms = 0
        self._marks: deque[tuple[int, float]] = deque(maxlen=keep)

    def sent(self, pcm_bytes: int, captured_s: float | None = None) -> None:
        """`pcm_bytes` more audio went out; it ended at `captured_s` (default: now)."""
        self._sent_ms += pcm_bytes // BYTES_PER_MS
        self._marks.append((self._sent_ms, time.monotonic() if captured_s is None else captured_s))

    def time_of(self, position_ms: int) -> float | None:
        """When the audio at `position_ms` was captured; None if it is older than what is kept (or unsent)."""
        for end_ms, at in self._marks:
            if end_ms >= position_ms:
                return at - (end_ms - position_ms) / 1000
        return None


@dataclass
class TurnLatency:
    """One turn's timeline: `marks[stage]` is when it happened (`time.monotonic()`)."""

    speech_end: float
    """When the user stopped speaking (or sent their text)."""
    spoken: bool
    """True for a spoken turn, False for typed text."""
    marks: dict[str, float] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)
    """Tools called in this turn, in order."""

    def mark(self, stage: str, at: float | None = None) -> None:
        """Record `stage` once (the first time it happens)."""
        self.marks.setdefault(stage, time.monotonic() if at is None else at)

    def seconds(self) -> dict[str, float]:
        """Each recorded stage as seconds after the end of speech, in `STAGES` order."""
        return {s: round(self.marks[s] - self.speech_end, 3) for s in STAGES if s in self.marks}

    @property
    def first_audio_s(self) -> float | None:
        """End of speech to the first reply audio heard (or received, without a speaker); None if silent."""
        at = self.marks.get("first_audio_played") or self.marks.get("first_audio_received")
        return round(at - self.speech_end, 3) if at is not None else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the absolute marks (monotonic) and the seconds after the end of speech."""
        return {
            "speech_end": self.speech_end,
            "spoken": self.spoken,
            "tools": self.tools,
            **{stage: at for stage, at in self.marks.items()},
            "seconds": self.seconds(),
        }

    def describe(self) -> str:
        """One line for a log: "1.21 s to first audio (speech_stopped 0.52, transcript 0.55, ...)"."""
        parts = ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in self.seconds().items())
        total = self.first_audio_s
        head = f"{total:.2f} s to first audio" if total is not None else "no audio"
        return f"{head} ({parts})"


class TurnTimer:
    """Builds `TurnLatency` reports from a session's events; `session.py` feeds it."""

    def __init__(self, vad_silence_ms: int | None) -> None:
        self.input = InputClock()
        self._silence_ms = vad_silence_ms
        self._turn: TurnLatency | None = None
        self._tool_done = False

    @property
    def turn(self) -> TurnLatency | None:
        """The turn being timed, if any."""
        return self._turn

    def speech_stopped(self, audio_end_ms: int) -> TurnLatency | None:
        """The VAD ended a spoken turn; returns the previous turn's report if it was still open."""
        arrived = time.monotonic()
        ended = self.input.time_of(audio_end_ms - self._silence_ms) if self._silence_ms is not None else None
        previous = self._start(TurnLatency(min(ended or arrived, arrived), spoken=True))
        self.mark("speech_stopped", arrived)
        return previous

    def text_sent(self) -> TurnLatency | None:
        """A typed turn starts now; returns the previous turn's report if it was still open."""
        return self._start(TurnLatency(time.monotonic(), spoken=False))

    def _start(self, turn: TurnLatency) -> TurnLatency | None:
        previous, self._turn, self._tool_done = self._turn, turn, False
        return previous

    def mark(self, stage: str, at: float | None = None) -> None:
        if self._turn is not None:
            self._turn.mark(stage, at)

    def tool_called(self, name: str) -> None:
        if self._turn is not None:
            self._turn.tools.append(name)
            self._turn.mark("tool_chosen")

    def tool_finished(self) -> None:
        if self._turn is not None:
            self._turn.marks["tool_done"] = time.monotonic()  # the last tool of the turn counts
            self._turn.marks.pop("answer_token", None)
            self._turn.marks.pop("answer_audio_received", None)
            self._turn.marks.pop("answer_audio_played", None)
            self._tool_done = True

    def text(self) -> None:
        """A piece of reply text arrived."""
        self.mark("first_token")
        self.mark("answer_token")

    def audio(self, played_in_s: float | None) -> None:
        """A piece of reply audio arrived; it will be heard in `played_in_s` (None: no speaker)."""
        now = time.monotonic()
        for prefix in ("first", "answer"):
            self.mark(f"{prefix}_audio_received", now)
            if played_in_s is not None:
                self.mark(f"{prefix}_audio_played", now + played_in_s)

    def finish(self) -> TurnLatency | None:
        """The turn is over (nothing running or owed); returns its report."""
        turn, self._turn = self._turn, None
        return turn
