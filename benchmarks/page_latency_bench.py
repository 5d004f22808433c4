"""Measure the page against the terminal: end of speech → first reply audio, the same turns on both, interleaved.

Run: `.venv/bin/python benchmarks/page_latency_bench.py` (about 10 minutes on 2 cores; needs PulseAudio and
Debian's chromium, both installed by `make system-deps`). Writes `benchmarks/results/page_latency_bench.json`.

Two `python demo.py` processes with the offline engine, each with its own workspace: one with `--web` (the page)
and one with no flags on a virtual sound card (the terminal, as `voice_latency_bench.py` runs it). The turns of
a short conversation are spoken by piper to each in turn (page first on even turns, terminal first on odd
ones), so whatever else loads the machine weighs on both alike; during a terminal turn a page whose microphone
hears silence is open and listening, as the terminal's demo listens during a page turn. Where the times are taken:

- Terminal. End of speech: when the request's last loud 20 ms window (RMS > 0.01) left the probe's stream into
  the virtual microphone. First reply audio: the first 50 ms window above RMS 0.01 recorded on the virtual
  speaker after that. Both on `time.monotonic()`; what lies between includes PulseAudio and PortAudio's
  buffers on the way in and out and the echo canceller.
- Page (real headless Chromium; a WAV of the request, 3 s of silence first, is the page's microphone: each
  turn opens the page anew, which restarts the file, and clicks Start; the conversation carries on in the
  client). End of speech: when the page sent the last 20 ms microphone block with RMS > 0.01 on its WebSocket
  (`?processing=off`, as the offline web test: Chromium's gain control would move the levels; Chromium's
  fake-device capture, a few ms, is not counted). First reply audio: when the page's player worklet played the
  first sample of the first 50 ms window above RMS 0.01 of the reply audio the page received, placed on the
  page's clock by the player's own `playback.position` reports (played samples, and when the page sent them),
  plus the player context's `baseLatency + outputLatency`. Page times are mapped to `time.monotonic()`
  (to within a few ms) only to attach the client's latency report.

The script records how the page plays what it receives by wrapping the page's `WebSocket` and `AudioContext`
(`PAGE_PROBE`, added by Playwright before the page's own scripts); the page's code is not changed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.* and benchmarks.* when run as a script

from benchmarks.voice_latency_bench import (  # noqa: E402
    CONVERSATION,
    attach_reports,
    read_reports,
    speak_turn,
    summarize,
    turn_row,
)
from tests.demo_process import Demo, count_lines, demo_env  # noqa: E402
from tests.speech_audio import silence, synthesize, write_wav  # noqa: E402
from tests.virtual_audio import VirtualAudio  # noqa: E402
from tests.voice_client.web.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "page_latency_bench.json"
TURNS = 8
LEAD_MS = 3000
"""Silence in the page's microphone before the request: the page's player and capture are open, and the CPU the
page's loading took is free again, by then (a user's page is open long before they speak; with 1 s the page's
start-up overlapped the request and the engine's work on it)."""
WINDOW = 1200
"""Samples (24 kHz) in one loudness window of the reply audio: 50 ms, as on the terminal's recording."""
LOUD_RMS = 0.01
PAGE_PROBE = """
(() => {
  const probe = { micLoudAt: null, received: 0, windows: [], positions: [], clears: [], player: null };
  window.pageBench = probe;
  let energy = 0, filled = 0;
  const rms = (pcm) => { let sum = 0; for (const s of pcm) sum += s * s; return Math.sqrt(sum / pcm.length) / 32768; };
  const NativeSocket = window.WebSocket;
  window.WebSocket = class extends NativeSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (typeof event.data === "string") return;
        for (const s of new Int16Array(event.data)) {
          energy += (s / 32768) ** 2;
          if (++filled === WINDOW) { probe.windows.push(Math.sqrt(energy / filled)); energy = 0; filled = 0; }
        }
        probe.received += event.data.byteLength / 2;
      });
    }
    send(data) {
      const now = performance.now();
      if (data instanceof ArrayBuffer) {
        if (rms(new Int16Array(data)) > LOUD_RMS) probe.micLoudAt = now;
      } else {
        const message = JSON.parse(data);
        if (message.type === "playback.position") probe.positions.push([now, message.played_samples]);
        if (message.type === "playback.cleared") probe.clears.push([now, message.played_samples, probe.received]);
      }
      super.send(data);
    }
  };
  const NativeContext = window.AudioContext;
  window.AudioContext = class extends NativeContext {
    constructor(options) {
      super(options);
      if (options && options.sampleRate === 24000) probe.player = this;
    }
  };
  probe.outputLatency = () => probe.player ? probe.player.baseLatency + (probe.player.outputLatency || 0) : 0;
})();
""".replace("WINDOW", str(WINDOW)).replace("LOUD_RMS", str(LOUD_RMS))


def page_turn(
    context: Any, url: str, microphone: Path, demo: Demo, latency_log: Path, text: str, tool: str | None, pcm: bytes
) -> dict[str, Any]:
    """One turn on the page path: `pcm` (PCM16 mono 24 kHz, the request `text`) becomes the page's microphone,
    a new page on `url` (in the Playwright browser `context`) starts it, then wait until the reply has played.

    Returns:
        `turn_row`'s keys, `end_of_speech_s` (`time.monotonic()`), `first_reply_audio_s` (seconds after it;
        None if nothing loud played) and `dropped_samples` (reply audio the page cleared unplayed; 0 expected).
    """
    write_wav(microphone, silence(LEAD_MS) + pcm + silence(1500))
    line = len(demo.output())
    reported = count_lines(latency_log)
    page = context.new_page()
    try:
        page.goto(url + "?processing=off")
        page.wait_for_function("() => window.assistantPage && window.assistantPage.connection === 'connected'")
        offset_s = _clock_offset(page)
        page.get_by_role("button", name="Start").click()
        _wait_played(page, latency_log, reported)
        probe = page.evaluate("() => ({...window.pageBench, outputLatency: window.pageBench.outputLatency()})")
    finally:
        page.close()
    end_ms = probe["micLoudAt"]
    heard_ms = _first_loud_played_ms(probe, end_ms) if end_ms is not None else None
    first = (heard_ms + 1000 * probe["outputLatency"] - end_ms) / 1000 if heard_ms is not None else None
    return turn_row(demo.output(line), text, tool) | {
        "end_of_speech_s": offset_s + end_ms / 1000 if end_ms is not None else 0.0,
        "first_reply_audio_s": round(first, 3) if first is not None else None,
        "dropped_samples": sum(received - played for _, played, received in probe["clears"]),
        "output_latency_s": probe["outputLatency"],
    }


@contextlib.contextmanager
def _silent_page(context: Any, url: str, microphone: Path) -> Iterator[None]:
    """An open page on `url` whose microphone hears only silence, started `LEAD_MS` before the block runs: during
    a terminal turn the browser and the page's client listen as the terminal's demo listens during a page turn
    (without it the page's turns alone carried the other path's idle load)."""
    write_wav(microphone, silence(120_000))
    page = context.new_page()
    try:
        page.goto(url + "?processing=off")
        page.wait_for_function("() => window.assistantPage && window.assistantPage.connection === 'connected'")
        page.get_by_role("button", name="Start").click()
        time.sleep(LEAD_MS / 1000)
        yield
    finally:
        page.close()


def _clock_offset(page: Any, tries: int = 5) -> float:
    """`time.monotonic()` minus the page's `performance.now()` in seconds, from the quickest of `tries` asks."""
    best: tuple[float, float] | None = None
    for _ in range(tries):
        before = time.monotonic()
        now_ms = page.evaluate("() => performance.now()")
        after = time.monotonic()
        if best is None or after - before < best[0]:
            best = (after - before, (before + after) / 2 - now_ms / 1000)
    assert best is not None
    return best[1]


def _first_loud_played_ms(probe: dict[str, Any], after_ms: float) -> float | None:
    """When (page ms) the player played the first sample of the first loud 50 ms window that played after
    `after_ms`; None if none did. A sample's time comes from the first position report that counts it,
    less the samples played after it (24 per ms)."""
    positions = probe["positions"]
    for index, level in enumerate(probe["windows"]):
        if level <= LOUD_RMS:
            continue
        sample = index * WINDOW
        report = next(((at, played) for at, played in positions if played > sample), None)
        if report is None:
            return None
        played_at = report[0] - (report[1] - sample) / 24
        if played_at > after_ms:
            return played_at
    return None


def _wait_played(page: Any, latency_log: Path, reported: int, quiet_s: float = 1.5, timeout_s: float = 180) -> None:
    """Until the client reported the turn (a new line in `latency_log`, which held `reported` lines) and the
    page has played all the audio it received, with nothing new for `quiet_s` (5 s if none came)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.25)
        if count_lines(latency_log) <= reported:
            continue
        received, played, last_ms, now_ms = page.evaluate(
            "() => { const p = window.pageBench, last = p.positions[p.positions.length - 1];"
            " return [p.received, last ? last[1] : 0, last ? last[0] : 0, performance.now()]; }"
        )
        wait_ms = 1000 * (quiet_s if received else 5.0)
        if played >= received and now_ms - last_ms > wait_ms:
            return
    raise TimeoutError("the page's turn did not finish")


def run(turns: list[tuple[str, str | None]]) -> dict[str, Any]:
    """Both paths through `turns` (request, expected tool), interleaved; returns each path's rows."""
    from playwright.sync_api import sync_playwright

    rows: dict[str, list[dict[str, Any]]] = {"page": [], "terminal": []}
    with tempfile.TemporaryDirectory() as folder, VirtualAudio() as audio, sync_playwright() as playwright:
        tmp = Path(folder)
        logs = {path: tmp / f"{path}-latency.jsonl" for path in rows}
        microphone = tmp / "page-microphone.wav"
        requests = [synthesize(text, "piper") for text, _ in turns]
        desktop = ("DISPLAY", "WAYLAND_DISPLAY")  # never open a desktop browser on the page
        (tmp / "page").mkdir()
        (tmp / "terminal").mkdir()
        page_env = {k: v for k, v in demo_env(tmp / "page", {}).items() if k not in desktop}
        demos = {
            "page": Demo(page_env, "--web", "--web-port", "0", "--latency-log", str(logs["page"])),
            "terminal": Demo(demo_env(tmp / "terminal", audio.env), "--latency-log", str(logs["terminal"])),
        }
        try:
            for demo in demos.values():
                demo.wait_for(r"listening", timeout_s=900)
            page_note = r"The assistant's page: (http://\S+)"
            url = next(m.group(1) for line in demos["page"].output() if (m := re.search(page_note, line)))
            flags = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={microphone}%noloop"]
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
            context = browser.new_context()
            context.add_init_script(PAGE_PROBE)
            with audio.probe() as probe:
                time.sleep(1.0)
                for number, ((text, tool), pcm) in enumerate(zip(turns, requests, strict=True)):
                    for path in ("page", "terminal") if number % 2 == 0 else ("terminal", "page"):
                        if path == "page":
                            row = page_turn(context, url, microphone, demos[path], logs[path], text, tool, pcm)
                        else:  # the page's side listens meanwhile too, as the terminal's does on page turns
                            with _silent_page(context, url, microphone):
                                row = speak_turn(demos[path], probe, logs[path], text, tool, pcm)
                        rows[path].append(row)
                        print(f"{path:8} {row['first_reply_audio_s']} s  {text!r} -> {row['tools_called']}", flush=True)
                        time.sleep(1.0)
            browser.close()
        finally:
            codes = {path: demo.stop() for path, demo in demos.items()}
        for path, path_rows in rows.items():
            attach_reports(path_rows, read_reports(logs[path]))
        return {"exit_codes": codes, "page": rows["page"], "terminal": rows["terminal"]}


def compare(result: dict[str, Any]) -> dict[str, Any]:
    """Each path's `summarize`, and the page's first reply audio p50 minus the terminal's (seconds; the
    must-show: at most 0.3), with the median of the per-turn differences beside it."""
    page, terminal = summarize({"turns": result["page"]}), summarize({"turns": result["terminal"]})
    pairs = [
        p["first_reply_audio_s"] - t["first_reply_audio_s"]
        for p, t in zip(result["page"], result["terminal"], strict=True)
        if p["first_reply_audio_s"] is not None and t["first_reply_audio_s"] is not None
    ]
    same = sum(p["tools_called"] == t["tools_called"] for p, t in zip(result["page"], result["terminal"], strict=True))
    difference = None
    if page["first_reply_audio_p50_s"] is not None and terminal["first_reply_audio_p50_s"] is not None:
        difference = round(page["first_reply_audio_p50_s"] - terminal["first_reply_audio_p50_s"], 2)
    return {
        "page": page | _sides(result["page"]),
        "terminal": terminal | _sides(result["terminal"]),
        "page_minus_terminal_p50_s": difference,
        "paired_difference_p50_s": round(statistics.median(pairs), 2) if pairs else None,
        "turns_with_the_same_tools": same,
    }


def _sides(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Medians (seconds) of the two ends a path adds to the engine's time, from the client's latency report:
    end of speech → the VAD's `speech_stopped` arrived (its 0.5 s of silence, and the way in), and the first
    reply audio received by the client → heard (the way out)."""
    way_in, way_out = [], []
    for row in rows:
        report = row.get("client_report") or {}
        if report.get("speech_stopped") is not None:
            way_in.append(report["speech_stopped"] - row["end_of_speech_s"])
        if report.get("first_audio_received") is not None and row["first_reply_audio_s"] is not None:
            way_out.append(row["first_reply_audio_s"] - (report["first_audio_received"] - row["end_of_speech_s"]))
    return {
        "speech_stopped_p50_s": round(statistics.median(way_in), 3) if way_in else None,
        "received_to_heard_p50_s": round(statistics.median(way_out), 3) if way_out else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--turns", type=int, default=TURNS, help=f"the first N turns of the conversation ({TURNS})")
    args = parser.parse_args()
    result = run(CONVERSATION[: args.turns])
    result["summary"] = compare(result)
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    result["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
