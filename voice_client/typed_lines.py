"""Typed chat's input: lines from standard input, read without blocking the event loop or Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading


class TypedLines:
    """Lines typed on standard input, read by a daemon thread with `os.read`.

    Not `input()` in an executor: that holds stdin's buffer lock, so Ctrl-C would either wait for
    a pending line or abort the interpreter at exit. Create it inside the running event loop.
    """

    def __init__(self) -> None:
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self.echoed = sys.stdin.isatty()
        """True when a terminal already shows what was typed (a pipe does not)."""
        threading.Thread(target=self._read, name="typed-input", daemon=True).start()

    async def next(self) -> str:
        """The next line without its newline (undecodable bytes replaced); "" at the end of input."""
        return await self._lines.get()

    def _read(self) -> None:
        pending = b""
        try:
            while chunk := os.read(sys.stdin.fileno(), 4096):
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    self._put(line.decode(errors="replace"))
        except OSError:  # stdin closed or not readable: the same as its end
            pass
        if pending:  # a last line without its newline
            self._put(pending.decode(errors="replace"))
        self._put("")

    def _put(self, line: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(self._lines.put_nowait, line)
