"""The MCP bridge over every transport (streamable HTTP with a bearer token, legacy SSE, spawned stdio)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mcp_server.config import Config as ServerConfig
from tests.servers import make_config, running_mcp_server
from voice_client.config import Config
from voice_client.tools import McpTools

REPO = Path(__file__).resolve().parents[2]


def _client(tmp_path: Path, **env: str) -> Config:
    return Config.from_env(
        {"REALTIME_URL": "ws://127.0.0.1:9/v1/realtime", "MCP_CONNECT_TIMEOUT_S": "20", **env}, base_dir=tmp_path
    )


async def _write(tools: McpTools, name: str) -> dict:
    outcome = await tools.call("file_operation", json.dumps({"operation": "write", "filename": name, "content": "hi"}))
    assert not outcome.is_error, outcome.output
    assert outcome.structured is not None
    return outcome.structured


async def test_tools_over_sse(tmp_path: Path, config: ServerConfig) -> None:
    with running_mcp_server(config) as base:
        async with McpTools(_client(tmp_path, MCP_TRANSPORT="sse", MCP_SERVER_URL=base + "/sse")) as tools:
            assert "load_script" in {d["name"] for d in tools.definitions}
            await _write(tools, "via_sse.md")
    assert (config.workspace_dir / "via_sse.md").read_text().strip() == "hi"


async def test_tools_over_stdio_spawn_the_server(tmp_path: Path) -> None:
    workspace = tmp_path / "stdio_ws"
    command = f"{sys.executable} -m mcp_server serve --transport stdio --no-library"
    config = _client(
        tmp_path,
        MCP_TRANSPORT="stdio",
        MCP_COMMAND=command,
        WORKING_DIRECTORY=str(workspace),
        SCRIPTS_DIR=str(REPO / "scripts"),
        PYTHONPATH=str(REPO),
        HF_HUB_OFFLINE="1",
    )
    async with McpTools(config) as tools:
        await _write(tools, "via_stdio.md")
    assert (workspace / "via_stdio.md").read_text().strip() == "hi"


async def test_bearer_token_is_sent_and_required(tmp_path: Path) -> None:
    server = make_config(tmp_path / "server", MCP_AUTH_TOKEN="tok-123")
    with running_mcp_server(server) as base:
        async with McpTools(_client(tmp_path, MCP_SERVER_URL=base + "/mcp", MCP_AUTH_TOKEN="tok-123")) as tools:
            await _write(tools, "authorized.md")
        with pytest.raises(ConnectionError, match="cannot reach the MCP server"):
            async with McpTools(_client(tmp_path, MCP_SERVER_URL=base + "/mcp", MCP_CONNECT_TIMEOUT_S="1")):
                pass
    assert (server.workspace_dir / "authorized.md").exists()


async def test_two_voice_clients_on_one_server_keep_their_own_script(tmp_path: Path, config: ServerConfig) -> None:
    """Both use the same client name; the server keys script state by the id each voice client sends."""
    with running_mcp_server(config) as base:
        settings = {"MCP_TRANSPORT": "http", "MCP_SERVER_URL": base + "/mcp"}
        async with McpTools(_client(tmp_path, **settings)) as first, McpTools(_client(tmp_path, **settings)) as second:
            await first.call("load_script", json.dumps({"script_name": "blog_writer"}))
            others = json.loads((await second.call("get_script_state", "{}")).output)
            moved = await second.call("next_stage", "{}")
            mine = json.loads((await first.call("get_script_state", "{}")).output)
    assert others.get("script_name") is None, others
    assert moved.is_error  # no script is loaded for the second user
    assert (mine["script_name"], mine["current_stage"]) == ("blog_writer", "discovery")
