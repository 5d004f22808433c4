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
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.* when run as a script

from tests.demo_process import Demo, count_lines, demo_env, wait_turn_over  # noqa: E402
from tests.speech_audio import synthesize  # noqa: E402
from tests.virtual_audio import Probe, VirtualAudio, first_sound, speech_end_s  # noqa: E402

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


def read_reports(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(turns: list[tuple[str, str | None]], debug: bool = False) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder, VirtualAudio() as audio:
        tmp = Path(folder)
        latency_log = tmp / "latency.jsonl"
        requests = [synthesize(text, "piper") for text, _ in turns]
        started = time.monotonic()
        extra = {"LOG_LEVEL": "DEBUG"} if debug else {}
        demo = Demo(demo_env(tmp, audio.env | extra), "--latency-log", str(latency_log))
        try:
            demo.wait_for(r"listening", timeout_s=600)
            ready_s = time.monotonic() - started
            print(f"demo listening after {ready_s:.1f} s", flush=True)
            with audio.probe() as probe:
                time.sleep(1.0)
                for (text, tool), pcm in zip(turns, requests, strict=True):
                    row = speak_turn(demo, probe, latency_log, text, tool, pcm)
                    rows.append(row)
                    print(f"{row['first_reply_audio_s']} s  {text!r} -> {row['tools_called']}", flush=True)
                    time.sleep(1.0)
        finally:
            code = demo.stop()
        reports = read_reports(latency_log)
        attach_reports(rows, reports)
        log = demo.output() if debug else demo.output()[-400:]
        return {"ready_s": round(ready_s, 1), "exit_code": code, "turns": rows, "log": log}


def speak_turn(demo: Demo, probe: Probe, latency_log: Path, text: str, tool: str | None, pcm: bytes) -> dict[str, Any]:
    """One turn on the terminal path: `pcm` (PCM16 mono 24 kHz, the request `text`) spoken into the virtual
    microphone, then wait until the reply is over. Returns the turn's row: `turn_row`'s keys, and
    `end_of_speech_s` (`time.monotonic()`) and `first_reply_audio_s` (seconds after it; None if silent)."""
    line = len(demo.output())
    reported = count_lines(latency_log)
    spoke_at = probe.say(pcm)
    end_of_speech = spoke_at + speech_end_s(pcm)
    wait_turn_over(demo, probe, spoke_at, latency_log, reported)
    t0, samples = probe.recording()
    heard = first_sound(samples, end_of_speech - t0)
    return turn_row(demo.output(line), text, tool) | {
        "end_of_speech_s": end_of_speech,
        "first_reply_audio_s": round(t0 + heard - end_of_speech, 3) if heard is not None else None,
    }


def turn_row(output: list[str], text: str, tool: str | None) -> dict[str, Any]:
    """What the demo printed for one turn (`output`, its lines): the tools called, what it heard, its replies."""
    return {
        "request": text,
        "expected_tool": tool,
        "tools_called": re.findall(r"⚙ (\w+)", "\n".join(output)),
        "transcript": next((o.split("you › ", 1)[1] for o in output if "you › " in o), None),
        "replies": [o.split("assistant › ", 1)[1] for o in output if "assistant › " in o],
    }


def attach_reports(rows: list[dict[str, Any]], reports: list[dict[str, Any]]) -> None:
    """Give each turn the client's latency report whose end of speech lies closest to the turn's."""
    for row in rows:
        near = [r for r in reports if abs(r.get("speech_end", 0) - row["end_of_speech_s"]) < 3.0]
        if near:
            report = min(near, key=lambda r: abs(r["speech_end"] - row["end_of_speech_s"]))
            row["client_report"] = report
            if report.get("answer_audio_played") is not None:
                row["first_answer_audio_s"] = round(report["answer_audio_played"] - row["end_of_speech_s"], 3)
            if report.get("first_audio_played") is not None and row["first_reply_audio_s"] is not None:
                # how far the client's estimate of when audio is heard lies from the recording's
                estimate = report["first_audio_played"] - row["end_of_speech_s"]
                row["client_estimate_error_s"] = round(estimate - row["first_reply_audio_s"], 3)


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
        "client_estimate_error_p50_s": _median([t.get("client_estimate_error_s") for t in turns]),
        "right_tool": sum(
            t["expected_tool"] in t["tools_called"] or (not t["expected_tool"] and not t["tools_called"]) for t in turns
        ),
    }


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--turns", type=int, default=len(CONVERSATION), help="only the first N turns")
    parser.add_argument("--debug", action="store_true", help="run the demo with LOG_LEVEL=DEBUG, keep its whole log")
    args = parser.parse_args()
    result = run(CONVERSATION[: args.turns], args.debug)
    result["summary"] = summarize(result)
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    result["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
