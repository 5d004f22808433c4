"""Coached sessions spoken into the microphone: `python demo.py` on a (virtual) sound card, judged like the typed ones.

Run: `.venv/bin/python benchmarks/coach_spoken_bench.py` (about 10 minutes on 2 cores; needs PulseAudio, installed
by `make system-deps`). Writes `benchmarks/results/coach_spoken_bench.json` and each session's transcript to
`benchmarks/results/coach_sessions/spoken-<id>.md`.

Three sessions of `coach_sessions.jsonl` (one each of the improv game, the email workshop and interview prep) are
spoken by piper, in real time, into the demo's default microphone (`tests/virtual_audio.py`), one demo per
session as a user would start it; the demo's speaker is recorded. Each turn is judged by `coach_bench.judge` on
what the demo printed (what Whisper heard, the calls, the replies) and the files it wrote. Latency per turn: end
of speech to the first reply audio heard (the recording), and to the first audio of the answer after the turn's
last tool result (the client's `--latency-log`): for a load or a stage change, the coach's first question.
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
sys.path.insert(0, str(ROOT))  # for tests.* and benchmarks.* when run as a script

from benchmarks.coach_bench import APPROVAL_ASKED, SESSIONS, TRANSCRIPTS, judge, summarize, transcript  # noqa: E402
from tests.demo_process import Demo, count_lines, demo_env, wait_turn_over  # noqa: E402
from tests.speech_audio import synthesize  # noqa: E402
from tests.virtual_audio import VirtualAudio, first_sound, speech_end_s  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "coach_spoken_bench.json"
SPOKEN = ("improv-lighthouse", "email-heating", "interview-analyst")
_CALL = re.compile(r"^\s*⚙ (\w+) (.*)$")
_DONE = re.compile(r"^\s*([✓✗]) (\w+) (.*?)(?: \(\d+ ms\))?$")


def parse_turn(lines: list[str], spoken: str) -> dict[str, Any]:
    """One turn as the demo printed it: what it heard, the calls with their outcome lines, and the replies (the
    reply after each call's outcome noted, as `coach_bench.judge` wants)."""
    turn: dict[str, Any] = {"user": spoken, "heard": "", "calls": [], "replies": [], "replies_after": {}}
    after: int | None = None
    for line in lines:
        if "you › " in line:
            turn["heard"] = line.split("you › ", 1)[1].strip()
        elif "assistant › " in line:
            text = line.split("assistant › ", 1)[1].strip()
            turn["replies"].append(text)
            if after is not None:
                turn["replies_after"][after] = text
                after = None
        elif (call := _CALL.match(line)) is not None:
            turn["calls"].append({"name": call[1], "arguments": call[2], "index": len(turn["calls"])})
        elif (done := _DONE.match(line)) is not None:
            pending = next((c for c in turn["calls"] if c["name"] == done[2] and "output" not in c), None)
            if pending is not None:
                pending |= {"output": done[3], "error": done[1] == "✗"}
                after = pending["index"]
    for call in turn["calls"]:
        call.setdefault("output", "")
        call.setdefault("error", True)
    return turn


def converse(session: dict[str, Any], audio: VirtualAudio) -> dict[str, Any]:
    """One session through the microphone of a fresh demo; the record `coach_bench.judge` reads, with latency."""
    requests = [synthesize(turn["user"], "piper") for turn in session["turns"]]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        latency_log = tmp / "latency.jsonl"
        demo = Demo(demo_env(tmp, audio.env), "--latency-log", str(latency_log))
        turns = []
        try:
            demo.wait_for(r"listening", timeout_s=600)
            with audio.probe() as probe:
                time.sleep(1.0)
                for spec, pcm in zip(session["turns"], requests, strict=True):
                    line, reported = len(demo.output()), count_lines(latency_log)
                    spoke_at = probe.say(pcm)
                    end = spoke_at + speech_end_s(pcm)
                    wait_turn_over(demo, probe, spoke_at, latency_log, reported)
                    origin, samples = probe.recording()
                    heard = first_sound(samples, end - origin)
                    turn = parse_turn(demo.output(line), spec["user"])
                    turn |= {"end_of_speech": end, "first_reply_s": _round(origin + heard - end if heard else None)}
                    if turn["replies"] and turn["replies"][-1].rstrip().endswith(APPROVAL_ASKED):
                        _approve(demo, probe, latency_log)  # "Yes.", as the user who asked would
                        whole = parse_turn(demo.output(line), spec["user"])  # its last "you ›" is the yes
                        turn |= {k: v for k, v in whole.items() if k != "heard"} | {"approved": True}
                    turns.append(turn)
                    print(f"  {turn['first_reply_s']} s  {turn['heard']!r} -> {turn['replies']}", flush=True)
                    time.sleep(1.0)
        finally:
            demo.stop()
        _attach_reports(turns, latency_log)
        workspace = tmp / "workspace"
        files = {
            str(p.relative_to(workspace)): p.read_text(encoding="utf-8")
            for p in workspace.rglob("*.md")
            if "transcripts" not in p.parts and not any(part.startswith(".") for part in p.parts)
        }
    return {"id": session["id"], "script": session["script"], "turns": turns, "files": files}


def _approve(demo: Demo, probe: Any, latency_log: Path) -> None:
    """Say "Yes." to the overwrite the assistant asked about, and wait for the turn to end (the caller reads the
    whole turn again: the call's outcome is printed after the yes)."""
    time.sleep(1.0)
    reported = count_lines(latency_log)
    spoke_at = probe.say(synthesize("Yes.", "piper"))
    wait_turn_over(demo, probe, spoke_at, latency_log, reported)


def _attach_reports(turns: list[dict[str, Any]], path: Path) -> None:
    """Each turn's first answer audio (after its last tool result) from the client's report closest to it."""
    reports = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    for turn in turns:
        end = turn.pop("end_of_speech")
        near = [r for r in reports if abs(r.get("speech_end", 0) - end) < 3.0]
        report = min(near, key=lambda r: abs(r["speech_end"] - end)) if near else {}
        played = report.get("answer_audio_played")
        turn["answer_audio_s"] = _round(played - end if played is not None else None)
        turn["turn_s"] = turn["first_reply_s"] or 0.0


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def latency(records: list[dict[str, Any]]) -> dict[str, Any]:
    """First reply audio p50 over all turns; the coach's first question after a load or a stage change, p50."""
    first = [t["first_reply_s"] for r in records for t in r["turns"] if t["first_reply_s"] is not None]
    moved = [
        t["answer_audio_s"]
        for r in records
        for t in r["turns"]
        if t["answer_audio_s"] is not None and any(c["name"] in ("load_script", "next_stage") for c in t["calls"])
    ]
    return {
        "turns": len(first),
        "first_reply_audio_p50_s": round(statistics.median(first), 2) if first else None,
        "question_after_move_audio_p50_s": round(statistics.median(moved), 2) if moved else None,
        "moves": len(moved),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="these session ids (default: one per kind of script)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    chosen = args.only or list(SPOKEN)
    sessions = [json.loads(line) for line in SESSIONS.read_text().splitlines() if line.strip()]
    sessions = [s for s in sessions if s["id"] in chosen]
    records = []
    with VirtualAudio() as audio:
        for session in sessions:
            print(f"{session['id']}:", flush=True)
            records.append(converse(session, audio))
    verdicts = [judge(s, r) for s, r in zip(sessions, records, strict=True)]
    TRANSCRIPTS.mkdir(parents=True, exist_ok=True)
    for session, record, verdict in zip(sessions, records, verdicts, strict=True):
        text = transcript(session, record, verdict)
        (TRANSCRIPTS / f"spoken-{session['id']}.md").write_text(text, encoding="utf-8")
        print(f"{'clean' if verdict['clean'] else 'MISS '} {session['id']}: {verdict['misses']}", flush=True)
    for record in records:  # summarize's latency fields, from what was heard
        for turn in record["turns"]:
            turn["turn_s"] = turn["first_reply_s"] or 0.0
    results = {
        "summary": summarize(sessions, verdicts, records),
        "latency": latency(records),
        "verdicts": {s["id"]: v for s, v in zip(sessions, verdicts, strict=True)},
        "records": records,
        "meta": {
            "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({"latency": results["latency"], "all": results["summary"]["all"]}, indent=2))


if __name__ == "__main__":
    main()
