"""Voice client benchmark: its own overhead per tool call, and memory over a long session.

    .venv/bin/python benchmarks/voice_client_bench.py [--calls 500] [--turns 3000]

Writes benchmarks/results/voice_client_bench.json. Both parts run the real client against the
wire-level Realtime peer of the tests (127.0.0.1) and the real MCP server (`python -m mcp_server serve
--no-library` in a subprocess on 127.0.0.1, so its work does not compete with the client for the GIL).

- Overhead per tool call: from the moment `response.function_call_arguments.done` is dispatched to the
  moment its `function_call_output` is on the socket, minus the MCP call itself (`RealtimeSession
  .call_overheads_s`). Target p50 <= 2 ms.
- Memory: thousands of spoken turns (audio deltas + transcripts, every 5th turn with a tool call);
  Python heap allocated by `voice_client` code (tracemalloc, filtered to voice_client/*) and process
  RSS, sampled every few hundred turns. Target: flat after warm-up (the first half of the turns, in
  which the bounded buffers fill: 200 recent call ids, 256 overhead samples).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.realtime_peer import (  # noqa: E402
    RealtimePeer,
    Step,
    audio_message,
    function_call,
    response_created,
    response_done,
    session_created,
    session_updated,
    text_message,
)
from voice_client.config import Config  # noqa: E402
from voice_client.session import RealtimeSession  # noqa: E402
from voice_client.tools import McpTools  # noqa: E402
from voice_client.turns import run_text_turn  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "voice_client_bench.json"


@contextlib.contextmanager
def mcp_server(workspace: Path) -> Iterator[str]:
    """The real MCP server in a subprocess on a free loopback port; yields its /mcp URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "WORKING_DIRECTORY": str(workspace),
        "SCRIPTS_DIR": str(REPO / "scripts"),
        "LIBRARY_DIR": str(workspace / "library"),
        "INDEX_DIR": str(workspace / "index"),
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mcp_server",
            "serve",
            "--transport",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-library",
        ],
        env=env,
        cwd=workspace,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the MCP server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=20)


def _config(peer_url: str, mcp_url: str, text_only: bool) -> Config:
    env = {"REALTIME_URL": peer_url, "MCP_SERVER_URL": mcp_url, "TRANSCRIPTION_MODEL": "", "LOG_LEVEL": "WARNING"}
    return Config.from_env(env).with_overrides(text_only=text_only)


def _opening() -> list[Step]:
    return [Step(None, send=[session_created()]), Step("session.update", reply=session_updated)]


def _tool_turn(n: int, closing: list[dict[str, Any]]) -> Iterator[Step]:
    rid, cid = f"resp_t{n}", f"call_{n}"
    yield Step("conversation.item.create")
    yield Step(
        "response.create",
        send=[response_created(rid), *function_call(rid, cid, "get_script_state", "{}"), response_done(rid)],
    )
    yield Step("conversation.item.create")
    yield Step("response.create", send=[response_created(f"{rid}_2"), *closing, response_done(f"{rid}_2")])


async def measure_overhead(mcp_url: str, calls: int) -> dict[str, Any]:
    closing = text_message("resp_closing", "msg_closing", "Done.")
    script = _opening() + [step for n in range(calls) for step in _tool_turn(n, closing)]
    async with RealtimePeer(script, record=False) as peer:
        config = _config(peer.url, mcp_url, text_only=True)
        async with McpTools(config) as tools, RealtimeSession(config, tools=tools) as session:
            mcp_ms: list[float] = []
            session.on_tool_result = lambda _name, outcome: mcp_ms.append(outcome.duration_s * 1000)
            for _ in range(calls):
                await run_text_turn(session, "Where am I in the script?")
            overheads_ms = [s * 1000 for s in session.call_overheads_s]
        await peer.finished(timeout_s=30)
    warm = overheads_ms  # the session keeps the last 256 calls; the first (cold) ones are long gone
    quantiles = statistics.quantiles(warm, n=100)
    return {
        "calls": len(warm),
        "p50_ms": round(statistics.median(warm), 3),
        "p95_ms": round(quantiles[94], 3),
        "max_ms": round(max(warm), 3),
        "mcp_call_p50_ms": round(statistics.median(mcp_ms[-len(warm) :]), 3),
        "target_p50_ms": 2.0,
        "met": statistics.median(warm) <= 2.0,
    }


class _Sink:
    """Plays everything at once and keeps nothing (a speaker that never lags)."""

    played_bytes = 0

    def play(self, pcm: bytes) -> None:
        self.played_bytes += len(pcm)

    def stop(self) -> None:
        pass


def _voice_turns(turns: int, pcm_chunks: list[bytes]) -> Iterator[Step]:
    for n in range(turns):
        reply = audio_message(f"resp_{n}", f"item_{n}", pcm_chunks, "Here is a short spoken answer for you.")
        if n % 5 == 4:
            yield from _tool_turn(n, reply)
            continue
        yield Step("conversation.item.create")
        yield Step("response.create", send=[response_created(f"resp_{n}"), *reply, response_done(f"resp_{n}")])


def _rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def measure_memory(mcp_url: str, turns: int, sample_every: int) -> dict[str, Any]:
    pcm_chunks = [bytes(4800)] * 5  # 5 x 100 ms of PCM16 24 kHz per reply
    tracemalloc.start()
    only_client = [tracemalloc.Filter(True, str(REPO / "voice_client" / "*"))]
    samples: list[dict[str, float]] = []
    async with RealtimePeer(_chain(_opening(), _voice_turns(turns, pcm_chunks)), record=False) as peer:
        config = _config(peer.url, mcp_url, text_only=False)
        async with McpTools(config) as tools, RealtimeSession(config, tools=tools, audio_output=_Sink()) as session:
            started = time.perf_counter()
            for n in range(1, turns + 1):
                await run_text_turn(session, f"Turn {n}: tell me something.")
                if n % sample_every == 0:
                    heap = tracemalloc.take_snapshot().filter_traces(only_client)
                    kib = sum(stat.size for stat in heap.statistics("filename")) / 1024
                    samples.append({"turn": n, "voice_client_heap_kib": round(kib, 1), "rss_mib": round(_rss_mib(), 1)})
            elapsed = time.perf_counter() - started
        await peer.finished(timeout_s=30)
    tracemalloc.stop()
    warm = [s for s in samples if s["turn"] >= turns // 2]  # by then every bounded buffer is full
    growth = warm[-1]["voice_client_heap_kib"] - warm[0]["voice_client_heap_kib"]
    return {
        "turns": turns,
        "turns_per_s": round(turns / elapsed, 1),
        "samples": samples,
        "heap_growth_after_warmup_kib": round(growth, 1),
        "rss_growth_after_warmup_mib": round(warm[-1]["rss_mib"] - warm[0]["rss_mib"], 1),
        "target": "flat after warm-up",
        "met": growth < 64,
    }


def _chain(first: list[Step], rest: Iterator[Step]) -> Iterator[Step]:
    yield from first
    yield from rest


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--turns", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, mcp_server(Path(tmp)) as mcp_url:
        overhead = await measure_overhead(mcp_url, args.calls)
        print(json.dumps(overhead, indent=1))
        memory = await measure_memory(mcp_url, args.turns, sample_every=max(args.turns // 15, 1))
        print(json.dumps({k: v for k, v in memory.items() if k != "samples"}, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "voice_client_bench",
                "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                },
                "tool_call_overhead": overhead,
                "memory": memory,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    asyncio.run(main())
