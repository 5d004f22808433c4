"""`python demo.py` as a user runs it: a real process with its own stdout lines, ended with Ctrl-C.

Shared by the microphone test and `benchmarks/voice_latency_bench.py`; the demo's environment points it at a
temp workspace, a copy of the shipped library and (with `VirtualAudio.env`) the virtual sound card.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def demo_env(tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment for a demo over `tmp`: a fresh workspace, a copy of `library/`, its own index."""
    workspace, library = tmp / "workspace", tmp / "library"
    shutil.copytree(ROOT / "library", library)
    workspace.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REALTIME_URL", "MCP_SERVER_URL")}
    return env | {
        "WORKING_DIRECTORY": str(workspace),
        "LIBRARY_DIR": str(library),
        "INDEX_DIR": str(tmp / "index"),
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class Demo:
    """`python demo.py *flags` started now; `lines` are its stdout and stderr lines with their arrival times."""

    def __init__(self, env: dict[str, str], *flags: str) -> None:
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [sys.executable, "demo.py", *flags],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: Ctrl-C reaches it, and only it
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def output(self, start: int = 0) -> list[str]:
        """Lines from number `start` on."""
        with self._lock:
            return [line for _, line in self.lines[start:]]

    @property
    def last_line_at(self) -> float:
        with self._lock:
            return self.lines[-1][0] if self.lines else 0.0

    def wait_for(self, pattern: str, timeout_s: float, start: int = 0) -> None:
        """Until a line from `start` on matches `pattern`; raises RuntimeError (with the output) if the demo
        exits or `timeout_s` passes first."""
        deadline = time.monotonic() + timeout_s
        while not any(re.search(pattern, line) for line in self.output(start)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"demo.py never printed {pattern!r}:\n" + "\n".join(self.output()[-60:]))
            time.sleep(0.1)

    def stop(self) -> int:
        """Ctrl-C, as a user ends it; returns the exit code (killed after 30 s if it hangs)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def last_sound(samples: np.ndarray, after_s: float, rms: float = 0.01, window_ms: int = 50) -> float | None:
    """Seconds (from the start of `samples`, float32 at 24 kHz) where the last loud `window_ms` window after
    `after_s` ends; None if there is none."""
    size = 24_000 * window_ms // 1000
    start = int(after_s * 24_000)
    usable = samples[start : start + (len(samples) - start) // size * size]
    if not len(usable):
        return None
    loud = np.flatnonzero(np.sqrt(np.mean(usable.reshape(-1, size) ** 2, axis=1)) > rms)
    return after_s + (int(loud[-1]) + 1) * window_ms / 1000 if len(loud) else None


def wait_turn_over(
    demo: Demo,
    probe: object,
    spoke_at: float,
    reports: Path,
    reported: int,
    quiet_s: float = 1.5,
    silent_s: float = 5.0,
    timeout_s: float = 180,
) -> None:
    """Until the demo reported the turn over (a new line in its `--latency-log` file `reports`, which held
    `reported` lines before) and its speaker (recorded by `probe`, a `VirtualAudio` probe) was quiet for
    `quiet_s` since the reply's last sound. The report can come before the reply's first sound leaves the
    speaker (a short reply is sent whole before it is heard), so a turn counts as silent only when nothing
    was heard `silent_s` after its report."""
    deadline = time.monotonic() + timeout_s
    reported_at: float | None = None
    while time.monotonic() < deadline:
        time.sleep(0.25)
        if count_lines(reports) <= reported:
            continue
        reported_at = reported_at or time.monotonic()
        origin, samples = probe.recording()  # type: ignore[attr-defined]
        loud_until = last_sound(samples, spoke_at - origin)
        if loud_until is None:
            if time.monotonic() - reported_at > silent_s:
                return
        elif time.monotonic() - (origin + loud_until) > quiet_s:
            return
    raise TimeoutError("the turn did not finish:\n" + "\n".join(demo.output()[-40:]))


def count_lines(path: Path) -> int:
    """Lines in `path` (0 if it does not exist yet)."""
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0
