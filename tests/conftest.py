"""Fixtures shared by every test package: a temp config and the real MCP server over loopback HTTP."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_server.config import Config
from tests.servers import make_config, running_mcp_server

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A Config over empty temp folders and the shipped scripts."""
    return make_config(tmp_path)


Spawn = Callable[..., Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
async def spawn() -> AsyncIterator[Spawn]:
    """`asyncio.create_subprocess_exec` for one test: a process it started that still runs when the test ends
    (an assertion failed half-way, a timeout) is killed, by its own pid, and reaped."""
    started: list[asyncio.subprocess.Process] = []

    async def run(*command: str, **options: Any) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(*command, **options)
        started.append(process)
        return process

    yield run
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
def mcp_url(config: Config) -> Iterator[str]:
    """The real MCP server over streamable HTTP on 127.0.0.1; yields ".../mcp"."""
    with running_mcp_server(config) as base:
        yield base + "/mcp"


@pytest.fixture(scope="session")
def real_engine() -> Any:
    """The offline engine exactly as `demo.py` builds it: warmed Qwen 1.5B, Whisper tiny.en, piper, Silero.

    Loaded once per test session (about 20 s); the GGUF is assembled into `./.models` on first use.
    """
    from local_realtime.config import Config as EngineConfig
    from local_realtime.engine import build_engine

    return build_engine(EngineConfig.from_env({}))
