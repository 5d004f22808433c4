"""Real servers for tests: the MCP server over HTTP on 127.0.0.1, stopped when the block ends."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from mcp_server.config import Config
from mcp_server.http import build_app, serve_in_thread
from mcp_server.library import open_library
from mcp_server.server import build_server

NODE_BIN = Path(__file__).resolve().parents[1] / "tools" / "node_modules" / ".bin"
"""The third-party MCP servers pinned in tools/package.json (`mcp-server-filesystem`, `mcp-server-memory`)."""


def mcp_servers_file(folder: Path, servers: dict[str, dict[str, object]]) -> Path:
    """An `mcpServers` config file (the .mcp.json / Claude Desktop shape) in `folder`; returns its path."""
    path = folder / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}, indent=2), encoding="utf-8")
    return path


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
def running_mcp_server(config: Config, port: int = 0, library: bool = False) -> Iterator[str]:
    """The real MCP server (scripts + workspace) over HTTP; yields the base URL (add "/mcp" or "/sse").

    Args:
        library: add the library tools over `config.library_dir`, indexed before the server starts.
    """
    if not library:
        with serve_in_thread(build_app(build_server(config), config), config.host, port) as url:
            yield url
        return
    documents = open_library(config)
    documents.index()
    try:
        with serve_in_thread(build_app(build_server(config, documents), config), config.host, port) as url:
            yield url
    finally:
        documents.close()
