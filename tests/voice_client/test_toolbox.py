"""Several real MCP servers from one `mcpServers` file behind one Realtime session: ours over streamable HTTP,
the reference filesystem and memory servers (npm, pinned in tools/package.json) over stdio."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.server import MCPServer

from tests.realtime_peer import (
    RealtimePeer,
    Step,
    function_call,
    response_created,
    response_done,
    session_created,
    session_updated,
    text_reply,
)
from tests.servers import NODE_BIN, mcp_servers_file, serve_in_thread
from tests.voice_client.test_tool_changes import _growing_server
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.toolbox import MAX_TOOLS, McpTools
from voice_client.toolbox.names import VALID
from voice_client.turns import run_text_turn

pytestmark = pytest.mark.skipif(not (NODE_BIN / "mcp-server-memory").exists(), reason="run `make inspector` first")


def three_servers(tmp_path: Path, mcp_url: str) -> dict[str, dict[str, Any]]:
    """Ours, the filesystem server over `tmp_path/files` and the memory server knowing Ada, as an mcpServers map."""
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    (files / "hello.md").write_text("hello from the filesystem server\n", encoding="utf-8")
    memory = tmp_path / "memory.jsonl"
    ada = {"type": "entity", "name": "Ada", "entityType": "person", "observations": ["likes tea"]}
    memory.write_text(json.dumps(ada) + "\n", encoding="utf-8")
    return {
        "assistant": {"url": mcp_url},
        "files": {"command": str(NODE_BIN / "mcp-server-filesystem"), "args": [str(files)]},
        "memory": {"command": str(NODE_BIN / "mcp-server-memory"), "env": {"MEMORY_FILE_PATH": str(memory)}},
    }


def client_for(peer_url: str, tmp_path: Path, servers: dict[str, dict[str, Any]], **env: str) -> Config:
    """A text-mode voice-client Config whose only servers are those of an mcpServers file."""
    path = mcp_servers_file(tmp_path, servers)
    values = {"REALTIME_URL": peer_url, "OPENAI_API_KEY": "sk-test", "TRANSCRIPTION_MODEL": "", "MCP_CONFIG": str(path)}
    return Config.from_env({**values, **env}, base_dir=tmp_path).with_overrides(text_only=True)


def tool_names(event: dict[str, Any]) -> list[str]:
    return [tool["name"] for tool in event["session"].get("tools", [])]


def _is_output(event: dict[str, Any]) -> bool:
    return event["item"]["type"] == "function_call_output"


async def test_a_call_to_each_server_reaches_it_and_its_output_comes_back(tmp_path: Path, mcp_url: str) -> None:
    hello = json.dumps({"path": str(tmp_path / "files" / "hello.md")})
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *function_call("resp_1", "call_ours", "list_scripts", "{}", 0),
                *function_call("resp_1", "call_files", "files__read_text_file", hello, 1),
                *function_call("resp_1", "call_memory", "memory__read_graph", "{}", 2),
                response_done("resp_1"),
            ],
        ),
        *[Step("conversation.item.create", where=_is_output) for _ in range(3)],
        Step("response.create", send=text_reply("resp_2", "msg_2", "Done.")),
    ]
    async with RealtimePeer(script) as peer:
        config = client_for(peer.url, tmp_path, three_servers(tmp_path, mcp_url))
        async with McpTools(config) as tools, RealtimeSession(config, tools=tools) as session:
            await run_text_turn(session, "Use all three")
            assert tools.route("files__read_text_file") == ("files", "read_text_file")
        await peer.finished()
    names = tool_names(peer.of_type("session.update")[0])
    assert all(VALID.match(name) for name in names) and len(set(names)) == len(names) <= MAX_TOOLS
    assert {"file_operation", "list_scripts", "files__read_text_file", "memory__read_graph"} <= set(names)
    outputs = {
        e["item"]["call_id"]: e["item"]["output"] for e in peer.of_type("conversation.item.create") if _is_output(e)
    }
    assert "blog_writer" in outputs["call_ours"]
    assert "hello from the filesystem server" in outputs["call_files"]
    assert "likes tea" in outputs["call_memory"]


async def test_filters_decide_which_tools_the_model_gets(tmp_path: Path, mcp_url: str) -> None:
    servers = three_servers(tmp_path, mcp_url)
    servers["files"]["allowedTools"] = ["read_text_file", "write_file"]
    servers["files"]["disabledTools"] = ["write_file"]
    servers["memory"]["enabled"] = False
    config = client_for("ws://127.0.0.1:9/v1/realtime", tmp_path, servers)
    async with McpTools(config) as tools:
        names = {d["name"] for d in tools.definitions}
    assert "files__read_text_file" in names and "file_operation" in names
    assert not any(n.startswith(("memory__", "files__write")) for n in names)


async def test_a_servers_description_comes_before_each_of_its_tools_descriptions(tmp_path: Path, mcp_url: str) -> None:
    servers = three_servers(tmp_path, mcp_url)
    servers["files"]["description"] = "The user's shared folder (paths are relative to it)."
    async with McpTools(client_for("ws://127.0.0.1:9/v1/realtime", tmp_path, servers)) as tools:
        described = {d["name"]: d["description"] for d in tools.definitions}
    assert described["files__list_directory"].startswith("The user's shared folder (paths are relative to it): Get a")
    assert not described["memory__read_graph"].startswith("The user's") and "shared" not in described["file_operation"]


async def test_a_tool_list_change_of_any_server_re_registers_the_full_list(tmp_path: Path, mcp_url: str) -> None:
    with serve_in_thread(_growing_server().streamable_http_app()) as base:
        servers = {"assistant": {"url": mcp_url}, "growing": {"url": base + "/mcp"}}
        script = [
            Step(None, send=[session_created()]),
            Step("session.update", where=lambda e: "growing__extra" not in tool_names(e), reply=session_updated),
            Step(
                "session.update",
                where=lambda e: {"growing__grow", "growing__extra", "file_operation"} <= set(tool_names(e)),
                reply=session_updated,
            ),
        ]
        async with RealtimePeer(script) as peer:
            config = client_for(peer.url, tmp_path, servers)
            async with McpTools(config) as tools, RealtimeSession(config, tools=tools):
                assert not (await tools.call("growing__grow", "{}")).is_error
                await peer.finished()
                assert (await tools.call("growing__extra", "{}")).output == "extra"


@pytest.fixture
def crowded_url() -> Iterator[str]:
    mcp = MCPServer("crowded")
    for number in range(110):
        mcp.add_tool(lambda: "ok", name=f"tool_{number:03d}", description="One of many.")
    with serve_in_thread(mcp.streamable_http_app()) as base:
        yield base + "/mcp"


async def test_past_the_ceiling_tools_are_left_out_and_named(
    tmp_path: Path, mcp_url: str, crowded_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    servers = {"assistant": {"url": mcp_url}, "crowded": {"url": crowded_url}}
    async with McpTools(client_for("ws://127.0.0.1:9/v1/realtime", tmp_path, servers)) as tools:
        names = [d["name"] for d in tools.definitions]
        left_out = tools.left_out
    assert len(names) == MAX_TOOLS and "file_operation" in names  # our own server's tools come first
    assert len(names) + len(left_out) > 110 and left_out[-1] == "crowded/tool_109"
    assert all(name.startswith("crowded/") for name in left_out)
    warning = next(r.getMessage() for r in caplog.records if "left out" in r.getMessage())
    assert "crowded/tool_109" in warning and f"takes {MAX_TOOLS} at most" in warning
