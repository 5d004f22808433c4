"""The server's vocabulary (`assistant://vocabulary`: the words the user is likely to say) is the transcription
prompt: sent with the session, and again when the server says it changed; a server without one gives none."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from tests.realtime_peer import RealtimePeer, Step, session_created, session_updated
from tests.servers import make_config, running_mcp_server, serve_in_thread
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.tools import VOCABULARY_URI, McpTools

COMMANDS = "Search my library, create a file, a heading, a line, load a script, next stage, save it"
SCRIPTS = (
    "blog writer script, brainstorm session script, email workshop script, improv game script, interview prep script"
)
"""What the MCP server's vocabulary starts with (`mcp_server.vocabulary.COMMANDS`: another program's)."""


def _library_server() -> MCPServer:
    """A server whose vocabulary grows when a document is added (as the assistant's does after indexing)."""
    mcp = MCPServer("library")
    words = ["Garden plan 2027", "Alfama"]

    @mcp.resource(VOCABULARY_URI, mime_type="text/plain")
    def vocabulary() -> str:
        """Words the user is likely to say."""
        return ", ".join(words)

    @mcp.tool()
    async def add_document(title: str, ctx: Context) -> str:
        """Add a document to the library."""
        words.insert(0, title)
        await ctx.notify_resource_updated(VOCABULARY_URI)
        return "added"

    return mcp


@pytest.fixture
def library_url() -> Iterator[str]:
    with serve_in_thread(_library_server().streamable_http_app()) as base:
        yield base + "/mcp"


def _prompt(event: dict) -> str | None:
    return event["session"]["audio"]["input"]["transcription"].get("prompt")


GROWN = "Zanzibar, Garden plan 2027, Alfama"


async def test_the_vocabulary_is_the_transcription_prompt_and_follows_the_server(
    client_config: Callable[..., Config], library_url: str
) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=lambda e: _prompt(e) == "Garden plan 2027, Alfama", reply=session_updated),
        Step(
            "session.update",
            where=lambda e: (
                set(e["session"]) == {"type", "audio"} and _prompt(e) == "Zanzibar, Garden plan 2027, Alfama"
            ),
            reply=session_updated,
        ),
    ]
    async with RealtimePeer(script) as peer:
        config = client_config(peer.url, library_url, TRANSCRIPTION_MODEL="whisper-1")
        async with McpTools(config) as tools, RealtimeSession(config, tools=tools):
            assert not (await tools.call("add_document", '{"title": "Zanzibar"}')).is_error
            await peer.finished()

    transcription = peer.of_type("session.update")[-1]["session"]["audio"]["input"]["transcription"]
    assert transcription == {"model": "whisper-1", "prompt": GROWN}


async def test_the_assistants_vocabulary_follows_its_script(tmp_path: Path) -> None:
    with running_mcp_server(make_config(tmp_path)) as base:
        config = Config.from_env({"MCP_SERVER_URL": base + "/mcp", "OPENAI_API_KEY": "sk-test"}, base_dir=tmp_path)
        async with McpTools(config) as tools:
            assert tools.vocabulary == f"{COMMANDS}, {SCRIPTS}"  # no library, no script running
            assert not (await tools.call("load_script", '{"script_name": "blog_writer"}')).is_error
            async with asyncio.timeout(5):
                vocabulary = await anext(aiter(tools.vocabulary_changes()))

    assert vocabulary == f"{COMMANDS}, Blog Post Writing Assistant, discovery, outline, writing" == tools.vocabulary


async def test_a_server_without_a_vocabulary_sends_no_prompt(client_config: Callable[..., Config]) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=lambda e: _prompt(e) is None, reply=session_updated),
    ]
    with serve_in_thread(MCPServer("plain").streamable_http_app()) as base:
        async with RealtimePeer(script) as peer:
            config = client_config(peer.url, base + "/mcp", TRANSCRIPTION_MODEL="whisper-1")
            async with McpTools(config) as tools, RealtimeSession(config, tools=tools):
                await peer.finished()
    assert tools.vocabulary == ""
