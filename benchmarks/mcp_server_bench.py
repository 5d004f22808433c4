"""Our MCP server beside the reference filesystem server, as an IDE or agent sees them.

Run: `.venv/bin/python benchmarks/mcp_server_bench.py` (about 3 minutes; needs Node and `make inspector`,
which installs `@modelcontextprotocol/server-filesystem` into `tools/`). Writes
`benchmarks/results/mcp_server_bench.json`.

Both servers are spawned over stdio by the official MCP Python client, in alternation on the same machine;
ours is also measured over streamable HTTP (`python -m mcp_server serve` on loopback). Ours runs as shipped:
library on (opening in the background over an empty library folder), fsync, backups and the audit log on.

- ready: spawn → `initialize` answered and `tools/list` answered, median of `--spawns` spawns each;
- write / read / edit (replace one string) of a 1 KB markdown file: `--ops` calls each, in rounds of 20
  alternating between the servers; p50 and p95 in ms. Ours waits for its library to open first, so the
  figures are the steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mcp_server_bench.json"
REFERENCE = ROOT / "tools" / "node_modules" / ".bin" / "mcp-server-filesystem"
TEXT = "# Notes\n\n" + "".join(f"- item {i}: alpha beta gamma delta epsilon zeta\n" for i in range(24))
ROUND = 20
Call = Callable[[ClientSession, int], Any]


def _ours_env(folder: Path) -> dict[str, str]:
    (folder / "library").mkdir(exist_ok=True)
    return {
        **os.environ,
        "WORKING_DIRECTORY": str(folder / "workspace"),
        "LIBRARY_DIR": str(folder / "library"),
        "INDEX_DIR": str(folder / "index"),
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
    }


def _stdio(kind: str, folder: Path) -> StdioServerParameters:
    if kind == "reference":
        return StdioServerParameters(command=str(REFERENCE), args=[str(folder / "workspace")])
    command = [sys.executable, "-m", "mcp_server", "serve", "--transport", "stdio"]
    return StdioServerParameters(command=command[0], args=command[1:], env=_ours_env(folder), cwd=str(ROOT))


@asynccontextmanager
async def _session(kind: str, folder: Path, url: str | None = None) -> AsyncIterator[ClientSession]:
    transport = streamable_http_client(url) if url else stdio_client(_stdio(kind, folder))
    async with transport as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        await session.list_tools()
        yield session


async def _ready_s(kind: str, folder: Path) -> float:
    started = time.perf_counter()
    async with _session(kind, folder):
        return time.perf_counter() - started


def _calls(kind: str, folder: Path) -> dict[str, Call]:
    """write / read / edit of note.md as each server names them (edit swaps alpha and beta back and forth)."""
    if kind == "reference":
        path = str(folder / "workspace" / "note.md")
        return {
            "write": lambda s, i: s.call_tool("write_file", {"path": path, "content": TEXT}),
            "read": lambda s, i: s.call_tool("read_text_file", {"path": path}),
            "edit": lambda s, i: s.call_tool(
                "edit_file",
                {"path": path, "edits": [{"oldText": "item 3: alpha", "newText": "item 3: omega"}]}
                if i % 2 == 0
                else {"path": path, "edits": [{"oldText": "item 3: omega", "newText": "item 3: alpha"}]},
            ),
        }
    op = "file_operation"
    return {
        "write": lambda s, i: s.call_tool(op, {"operation": "write", "filename": "note.md", "content": TEXT}),
        "read": lambda s, i: s.call_tool(op, {"operation": "read", "filename": "note.md"}),
        "edit": lambda s, i: s.call_tool(
            op,
            {"operation": "replace", "filename": "note.md", "pattern": "item 3: alpha", "replacement": "item 3: omega"}
            if i % 2 == 0
            else {
                "operation": "replace",
                "filename": "note.md",
                "pattern": "item 3: omega",
                "replacement": "item 3: alpha",
            },
        ),
    }


async def _time_ops(sessions: dict[str, ClientSession], folders: dict[str, Path], ops: int) -> dict[str, Any]:
    times: dict[str, dict[str, list[float]]] = {name: {"write": [], "read": [], "edit": []} for name in sessions}
    calls = {name: _calls("reference" if name == "reference" else "ours", folders[name]) for name in sessions}
    for op in ("write", "read", "edit"):
        for name, session in sessions.items():  # the file exists with TEXT before reads and edits
            await calls[name]["write"](session, 0)
        for start in range(0, ops, ROUND):
            for name, session in sessions.items():
                for i in range(start, start + ROUND):
                    began = time.perf_counter()
                    result = await calls[name][op](session, i)
                    times[name][op].append((time.perf_counter() - began) * 1000)
                    if result.is_error:
                        raise RuntimeError(f"{name} {op} failed: {result.content}")
    return {
        name: {
            op: {"p50_ms": round(statistics.median(v), 2), "p95_ms": round(sorted(v)[int(len(v) * 0.95)], 2)}
            for op, v in by_op.items()
        }
        for name, by_op in times.items()
    }


def _guarantee_costs(folder: Path, runs: int = 300) -> dict[str, float]:
    """Median ms of each safety step of a write, in-process on the same disk (what the guarantees cost)."""
    import fcntl

    from mcp_server.audit import AuditLog
    from mcp_server.root_folder import RootFolder
    from mcp_server.workspace import Workspace

    workspace = Workspace(folder / "guarantees")
    workspace.write("note.md", TEXT)
    root = RootFolder(folder / "guarantees")
    audit = AuditLog(folder / "audit.log")
    entry = {"tool": "file_operation", "arguments": {"operation": "write", "filename": "note.md"}, "outcome": "ok"}

    def lock() -> None:
        with open(folder / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            fcntl.flock(handle, fcntl.LOCK_UN)

    def no_follow_walk() -> None:
        os.close(root.open_folder(("sub", "deeper"), create=True))

    steps: dict[str, Callable[[], object]] = {
        "name_checks": lambda: workspace.resolve("note.md"),
        "no_follow_walk_two_folders": no_follow_walk,
        "flock": lock,
        "backup_copy": lambda: workspace.backup("note.md"),
        "atomic_write_with_fsyncs": lambda: root.write_atomically(root.fd, "note.md", TEXT.encode()),
        "audit_line": lambda: audit.write(entry),
        "whole_write": lambda: workspace.write("note.md", TEXT),
    }
    costs = {}
    for name, step in steps.items():
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            step()
            times.append((time.perf_counter() - began) * 1000)
        costs[name + "_ms"] = round(statistics.median(times), 3)
    return costs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as tmp:
        folders = {name: Path(tmp) / name for name in ("reference", "ours_stdio", "ours_http")}
        for folder in folders.values():
            (folder / "workspace").mkdir(parents=True)
        ready: dict[str, list[float]] = {"reference": [], "ours": []}
        for _ in range(args.spawns):
            ready["reference"].append(await _ready_s("reference", folders["reference"]))
            ready["ours"].append(await _ready_s("ours", folders["ours_stdio"]))
        port = _free_port()
        http = subprocess.Popen(
            [sys.executable, "-m", "mcp_server", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=_ours_env(folders["ours_http"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with (
                _session("reference", folders["reference"]) as reference,
                _session("ours", folders["ours_stdio"]) as ours,
                _http_session(f"http://127.0.0.1:{port}/mcp", folders["ours_http"]) as ours_http,
            ):
                for session in (ours, ours_http):
                    await session.call_tool("list_documents", {})  # waits for the library to open
                ops = await _time_ops(
                    {"reference": reference, "ours_stdio": ours, "ours_http": ours_http}, folders, args.ops
                )
        finally:
            http.terminate()
            http.wait(10)
        guarantees = _guarantee_costs(Path(tmp))
    medians = {name: round(statistics.median(v), 3) for name, v in ready.items()}
    ratios = {
        f"{op}_p50_ours_stdio_over_reference": round(
            ops["ours_stdio"][op]["p50_ms"] / ops["reference"][op]["p50_ms"], 2
        )
        for op in ("write", "read", "edit")
    }
    return {
        "ready_s": {**medians, "all": ready, "ours_over_reference": round(medians["ours"] / medians["reference"], 2)},
        "ops": ops,
        "ratios": ratios,
        "guarantee_costs": guarantees,
    }


@asynccontextmanager
async def _http_session(url: str, folder: Path) -> AsyncIterator[ClientSession]:
    deadline = time.monotonic() + 30
    while True:
        try:
            async with _session("ours", folder, url) as session:
                yield session
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=5)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not REFERENCE.exists():
        sys.exit(f"{REFERENCE} is missing: run `make inspector` (npm installs it into tools/)")
    measured = asyncio.run(_run(args))
    result = {
        "benchmark": "mcp_server_bench",
        "date": datetime.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "node": _node_version()},
        "reference": "@modelcontextprotocol/server-filesystem 2026.8.31 (tools/package.json)",
        "file_kb": round(len(TEXT.encode()) / 1024, 2),
        **measured,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in measured.items() if k != "ops"} | {"ops": measured["ops"]}, indent=2))


def _node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()


if __name__ == "__main__":
    main()
