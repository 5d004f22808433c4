"""Run real servers for tests: uvicorn in a thread on 127.0.0.1, stopped when the block ends."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from mcp_server.config import Config
from mcp_server.http import build_app
from mcp_server.server import build_server


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` with uvicorn in a daemon thread; yields the base URL ("http://127.0.0.1:PORT").

    Port 0 picks a free port. The server is shut down (and the thread joined) on exit.
    """
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def make_config(tmp_path: Path, **env: str) -> Config:
    """A Config over fresh folders in `tmp_path` and the repository's shipped scripts."""
    scripts = Path(__file__).resolve().parents[1] / "scripts"
    values = {
        "WORKING_DIRECTORY": str(tmp_path / "workspace"),
        "SCRIPTS_DIR": str(scripts),
        "LIBRARY_DIR": str(tmp_path / "library"),
        "INDEX_DIR": str(tmp_path / "index"),
        **env,
    }
    return Config.from_env(values)


@contextlib.contextmanager
def running_mcp_server(config: Config, port: int = 0) -> Iterator[str]:
    """The real MCP server (scripts + workspace) over HTTP; yields the base URL (add "/mcp" or "/sse")."""
    with serve_in_thread(build_app(build_server(config), config), config.host, port) as url:
        yield url
