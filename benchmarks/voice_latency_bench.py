"""Measure what a user hears: `python demo.py` with no flags, spoken to through a (virtual) sound card.

Run: `.venv/bin/python benchmarks/voice_latency_bench.py` (about 5 minutes on 2 cores; needs PulseAudio,
installed by `make system-deps`). Writes `benchmarks/results/voice_latency_bench.json`.

A private PulseAudio server gives the demo a default microphone and speaker (`tests/virtual_audio.py`).
A conversation of mixed turns (small talk, loading a script, answering the coach, the next stage,
creating and appending to a file, library questions) is spoken by piper into the microphone in real
time; the speaker is recorded. For each turn:

- end of speech: when the request's last loud 20 ms left the probe's speaker stream;
- first reply audio: the first 50 ms window above RMS 0.01 on the demo's speaker after that
  (an acknowledgement counts: it is made for the request);
- first audio of the answer, and the per-stage breakdown (end of speech as the client places it,
  transcript, tool chosen, tool done, first answer token, first audio received, first audio played),
  from the client's latency report (`demo.py --latency-log`), in the same `time.monotonic()` clock.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.* when run as a script

from tests.speech_audio import synthesize  # noqa: E402
from tests.virtual_audio import VirtualAudio, first_sound, speech_end_s  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "voice_latency_bench.json"
CONVERSATION: list[tuple[str, str | None]] = [
    ("Hello there, how are you today?", None),
    ("Please load the blog writer script.", "load_script"),
    ("I want to write about growing tomatoes on a small balcony.", None),
    ("That is my angle. Let's move on to the next stage.", "next_stage"),
    (
        "Create a file called packing with the heading Packing list and a line saying bring a rain jacket.",
        "file_operation",
    ),
    ("Add a line to the packing file saying pack two pairs of hiking socks.", "file_operation"),
    ("Search my library for what to do about slugs in the garden.", "search_library"),
    ("How long do I bake the sourdough once the lid is off?", "search_library"),
    ("What is the capital of France?", None),
    ("Thank you, that's all for now.", None),
]
QUIET_S = 2.0  # a turn is over when the speaker and the demo's output were quiet this long


class Demo:
    """`python demo.py` as a process, its stdout lines collected with the time each arrived."""

    def __init__(self, env: dict[str, str], latency_log: Path) -> None:
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [sys.executable, "demo.py", *(["--latency-log", str(latency_log)] if _has_latency_log() else [])],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def since(self, index: int) -> list[str]:
        with self._lock:
            return [line for _, line in self.lines[index:]]

    def wait_for(self, pattern: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(re.search(pattern, line) for line in self.since(0)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"demo.py never printed {pattern!r}:\n" + "\n".join(self.since(0)[-40:]))
            time.sleep(0.1)

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C, as a user ends it
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _has_latency_log() -> bool:
    return "--latency-log" in (ROOT / "demo.py").read_text()


def _env(tmp: Path, audio: VirtualAudio) -> dict[str, str]:
    workspace, library = tmp / "workspace", tmp / "library"
    shutil.copytree(ROOT / "library", library)
    workspace.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REALTIME_URL", "MCP_SERVER_URL")}
    return (
        env
        | audio.env
        | {
            "WORKING_DIRECTORY": str(workspace),
            "LIBRARY_DIR": str(library),
            "INDEX_DIR": str(tmp / "index"),
            "HF_HUB_OFFLINE": "1",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )


def _wait_turn_over(demo: Demo, probe: Any, start_line: int, spoke_at: float, timeout_s: float = 120) -> None:
    """Until the demo answered (an assistant line) and both its speaker and its output were quiet QUIET_S."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.25)
        lines = demo.since(start_line)
        if not any("assistant ›" in line for line in lines):
            continue
        t0, samples = probe.recording()
        last_line_at = demo.lines[-1][0] if demo.lines else 0.0
        loud_until = _last_sound(samples, spoke_at - t0)
        now = time.monotonic()
        if now - last_line_at > QUIET_S and (loud_until is None or now - (t0 + loud_until) > QUIET_S):
            return
    raise TimeoutError("the turn did not finish:\n" + "\n".join(demo.since(start_line)))


def _last_sound(samples: Any, after_s: float, rms: float = 0.01, window_ms: int = 50) -> float | None:
    import numpy as np

    size = 24_000 * window_ms // 1000
    start = int(after_s * 24_000)
    usable = samples[start : start + (len(samples) - start) // size * size]
    if not len(usable):
        return None
    loud = np.flatnonzero(np.sqrt(np.mean(usable.reshape(-1, size) ** 2, axis=1)) > rms)
    return after_s + (int(loud[-1]) + 1) * window_ms / 1000 if len(loud) else None


def _reports(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(turns: list[tuple[str, str | None]]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder, VirtualAudio() as audio:
        tmp = Path(folder)
        latency_log = tmp / "latency.jsonl"
        requests = [synthesize(text, "piper") for text, _ in turns]
        started = time.monotonic()
        demo = Demo(_env(tmp, audio), latency_log)
        try:
            demo.wait_for(r"listening", timeout_s=600)
            ready_s = time.monotonic() - started
            print(f"demo listening after {ready_s:.1f} s", flush=True)
            with audio.probe() as probe:
                time.sleep(1.0)
                for (text, tool), pcm in zip(turns, requests, strict=True):
                    line = len(demo.since(0))
                    spoke_at = probe.say(pcm)
                    end_of_speech = spoke_at + speech_end_s(pcm)
                    _wait_turn_over(demo, probe, line, spoke_at)
                    t0, samples = probe.recording()
                    heard = first_sound(samples, end_of_speech - t0)
                    output = demo.since(line)
                    row = {
                        "request": text,
                        "expected_tool": tool,
                        "tools_called": re.findall(r"⚙ (\w+)", "\n".join(output)),
                        "transcript": next((o.split("you › ", 1)[1] for o in output if "you › " in o), None),
                        "replies": [o.split("assistant › ", 1)[1] for o in output if "assistant › " in o],
                        "end_of_speech_s": end_of_speech,
                        "first_reply_audio_s": round(t0 + heard - end_of_speech, 3) if heard is not None else None,
                    }
                    rows.append(row)
                    print(f"{row['first_reply_audio_s']} s  {text!r} -> {row['tools_called']}", flush=True)
                    time.sleep(1.0)
        finally:
            code = demo.stop()
        reports = _reports(latency_log)
        _attach_reports(rows, reports)
        return {"ready_s": round(ready_s, 1), "exit_code": code, "turns": rows, "log": demo.since(0)[-400:]}


def _attach_reports(rows: list[dict[str, Any]], reports: list[dict[str, Any]]) -> None:
    """Give each turn the client's latency report whose end of speech lies closest to the turn's."""
    for row in rows:
        near = [r for r in reports if abs(r.get("speech_end", 0) - row["end_of_speech_s"]) < 3.0]
        if near:
            report = min(near, key=lambda r: abs(r["speech_end"] - row["end_of_speech_s"]))
            row["client_report"] = report
            if report.get("answer_audio_played") is not None:
                row["first_answer_audio_s"] = round(report["answer_audio_played"] - row["end_of_speech_s"], 3)


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    turns = result["turns"]
    first = [t["first_reply_audio_s"] for t in turns if t["first_reply_audio_s"] is not None]
    tool_turns = [t for t in turns if t["expected_tool"]]
    tool_first = [t["first_reply_audio_s"] for t in tool_turns if t["first_reply_audio_s"] is not None]
    answers = [t.get("first_answer_audio_s") or t["first_reply_audio_s"] for t in tool_turns]
    answers = [a for a in answers if a is not None]
    return {
        "turns": len(turns),
        "silent_turns": len(turns) - len(first),
        "first_reply_audio_p50_s": round(statistics.median(first), 2) if first else None,
        "first_reply_audio_p95_s": round(_p95(first), 2) if first else None,
        "tool_turns_first_reply_audio_p50_s": round(statistics.median(tool_first), 2) if tool_first else None,
        "tool_turns_first_answer_audio_p50_s": round(statistics.median(answers), 2) if answers else None,
        "right_tool": sum(
            t["expected_tool"] in t["tools_called"] or (not t["expected_tool"] and not t["tools_called"]) for t in turns
        ),
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--turns", type=int, default=len(CONVERSATION), help="only the first N turns")
    args = parser.parse_args()
    result = run(CONVERSATION[: args.turns])
    result["summary"] = summarize(result)
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    result["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
