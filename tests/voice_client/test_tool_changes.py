"""`tools/list_changed`: a server that grows a tool mid-session gets it re-registered with the model."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from tests.realtime_peer import RealtimePeer, Step, session_created, session_updated
from tests.servers import serve_in_thread
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.tools import McpTools


def _growing_server() -> MCPServer:
    mcp = MCPServer("growing")

    @mcp.tool()
    async def grow(ctx: Context) -> str:
        """Add the `extra` tool."""

        def extra() -> str:
            """A tool that did not exist at start-up."""
            return "extra"

        mcp.add_tool(extra)
        await ctx.notify_tools_changed()
        return "grown"

    return mcp


@pytest.fixture
def growing_url() -> Iterator[str]:
    mcp = _growing_server()
    with serve_in_thread(mcp.streamable_http_app()) as base:
        yield base + "/mcp"


def _names(event: dict) -> set[str]:
    return {tool["name"] for tool in event["session"].get("tools", [])}


async def test_a_tool_list_change_is_sent_to_the_model(client_config: Callable[..., Config], growing_url: str) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=lambda e: _names(e) == {"grow"}, reply=session_updated),
        Step("session.update", where=lambda e: _names(e) == {"grow", "extra"}, reply=session_updated),
    ]
    async with RealtimePeer(script) as peer:
        config = client_config(peer.url, growing_url)
        async with McpTools(config) as tools, RealtimeSession(config, tools=tools):
            outcome = await tools.call("grow", "{}")
            assert not outcome.is_error, outcome.output
            await peer.finished()
            assert (await tools.call("extra", "{}")).output == "extra"  # the text the tool wrote
