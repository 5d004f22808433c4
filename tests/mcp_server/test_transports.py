"""The real server over loopback HTTP (streamable HTTP, SSE, auth, health) and stdio."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from mcp_server.config import Config
from tests.servers import make_config, running_mcp_server

TOKEN = "s3cret-token-for-tests"


async def test_streamable_http_lists_and_calls_tools(config: Config) -> None:
    with running_mcp_server(config) as base:
        async with Client(base + "/mcp") as client:
            names = [t.name for t in (await client.list_tools()).tools]
            result = await client.call_tool(
                "file_operation", {"operation": "write", "filename": "h.md", "content": "x"}
            )
    assert {"load_script", "file_operation", "next_stage"} <= set(names)
    assert result.structured_content["filepath"] == "h.md"
    assert (config.workspace_dir / "h.md").read_text() == "x"


async def test_legacy_sse_transport_works(config: Config) -> None:
    with running_mcp_server(config) as base:
        async with Client(sse_client(base + "/sse")) as client:
            result = await client.call_tool("load_script", {"script_name": "improv_game"})
    assert result.structured_content["current_stage"] == "setup"


def test_health_needs_no_token(tmp_path: Path) -> None:
    config = make_config(tmp_path, MCP_AUTH_TOKEN=TOKEN)
    with running_mcp_server(config) as base:
        response = httpx.get(base + "/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x"])
def test_http_without_the_right_token_gets_401(tmp_path: Path, header: str | None) -> None:
    config = make_config(tmp_path, MCP_AUTH_TOKEN=TOKEN)
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if header:
        headers["Authorization"] = header
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    with running_mcp_server(config) as base:
        for path in ("/mcp", "/sse", "/messages/"):
            response = httpx.post(base + path, json=body, headers=headers)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_http_with_the_token_succeeds_and_the_token_is_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = make_config(tmp_path, MCP_AUTH_TOKEN=TOKEN)
    with running_mcp_server(config) as base:
        httpx.post(base + "/mcp", json={}, headers={"Authorization": "Bearer wrong"})
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
            Client(streamable_http_client(base + "/mcp", http_client=http)) as client,
        ):
            result = await client.call_tool("list_scripts", {})
    assert len(result.structured_content["scripts"]) == 5
    assert TOKEN not in caplog.text
    assert TOKEN not in config.audit_log.read_text()


def test_dns_rebinding_protection_refuses_a_foreign_host_header(config: Config) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    headers = {"Host": "evil.example:80", "Accept": "application/json, text/event-stream"}
    with running_mcp_server(config) as base:
        response = httpx.post(base + "/mcp", json=body, headers=headers)
    assert response.status_code == 421


async def test_stdio_transport_serves_the_same_tools(config: Config) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server", "serve", "--transport", "stdio", "--no-library"],
        env={"WORKING_DIRECTORY": str(config.workspace_dir), "SCRIPTS_DIR": str(config.scripts_dir)},
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    async with Client(params) as client:
        result = await client.call_tool("file_operation", {"operation": "append", "filename": "s.md", "content": "hi"})
        loaded = await client.call_tool("load_script", {"script_name": "blog_writer"})
    assert result.structured_content["success"] is True
    assert loaded.structured_content["current_stage"] == "discovery"
    assert (config.workspace_dir / "s.md").read_text() == "hi\n"


def _legacy_initialize(base: str) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "flood", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    return httpx.post(base + "/mcp", json=body, headers=headers)


async def test_a_flood_of_abandoned_sessions_locks_nobody_out_for_long(tmp_path: Path) -> None:
    """Sessions opened and abandoned fill the cap, then free their place after the idle time; clients on the
    sessionless 2026-07-28 protocol are never refused meanwhile."""
    config = make_config(tmp_path, MCP_MAX_SESSIONS="20", MCP_SESSION_IDLE_S="2")
    with running_mcp_server(config) as base:
        codes = [_legacy_initialize(base).status_code for _ in range(30)]
        async with Client(base + "/mcp") as modern:
            listed = await modern.list_tools()
        await asyncio.sleep(3)
        again = _legacy_initialize(base)
    assert codes.count(200) == 20 and codes.count(503) == 10, codes
    assert listed.tools
    assert again.status_code == 200 and again.headers.get("mcp-session-id")
