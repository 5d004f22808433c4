"""The engine's models take turns on the CPU instead of fighting over it.

llama.cpp decodes with one thread per core and waits for all of them at every layer; piper's ONNX
session and Whisper's CTranslate2 workers also use every core. Run at once on 2 cores, each slows the
other far more than sharing would: llama.cpp's decode fell from 10-12 to 2-3 tokens/s while piper
spoke sentences (and piper ran at half speed), because a decode step waits for its slowest thread.
Taking turns in short slices (one evaluation batch of the brain, one sentence of speech, one
transcription) wastes nothing, and a slice waiting for the CPU gets it next, in arrival order: the
first words of a reply are spoken after at most one decode step of the brain.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class CpuTurns:
    """A first-come, first-served lock for one slice of CPU-bound model work.

    `with cpu:` waits until every slice that asked before has ended, then runs alone. Not re-entrant:
    hold it around one slice of work, never around a call that takes it again.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: deque[object] = deque()
        self._busy = False

    def __enter__(self) -> None:
        ticket = object()
        with self._changed:
            self._waiting.append(ticket)
            self._changed.wait_for(lambda: not self._busy and self._waiting[0] is ticket)
            self._waiting.popleft()
            self._busy = True

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._changed:
            self._busy = False
            self._changed.notify_all()
