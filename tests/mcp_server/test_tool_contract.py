"""What every tool promises a client: an output schema, honest hints, and the result keys that steer the voice
client (`mcp_server.contract`), checked over the real MCP in-memory transport."""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from mcp_server.contract import CHANGED_KEY, INSTRUCTIONS_KEY
from mcp_server.library.embedder import SentenceTransformerEmbedder
from mcp_server.library.search import Library
from mcp_server.server import build_server
from tests.servers import make_config

ALL_TOOLS = {
    *("list_scripts", "load_script", "next_stage", "goto_stage", "get_script_state", "create_script"),
    *("file_operation", "index_library", "list_documents", "search_library", "search_document"),
    *("ask_document", "read_passage"),
}
READ_ONLY = {"list_scripts", "get_script_state", "list_documents", "search_library", "search_document"}
READ_ONLY |= {"ask_document", "read_passage"}


async def test_every_tool_declares_an_output_schema_and_all_four_hints(
    sample_library: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    config = make_config(tmp_path)
    library = Library(sample_library, config.index_dir, embedder, workspace_dir=config.workspace_dir)
    async with Client(build_server(config, library), raise_exceptions=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}

    assert set(tools) == ALL_TOOLS
    for name, tool in tools.items():
        assert tool.output_schema is not None and tool.output_schema.get("type") == "object", name
        hints = tool.annotations
        assert hints is not None, name
        assert None not in (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint), name
        assert hints.open_world_hint is False, name
        assert hints.read_only_hint is (name in READ_ONLY), name
    assert tools["file_operation"].annotations.destructive_hint is True
    assert tools["file_operation"].annotations.idempotent_hint is False
    assert [n for n, t in tools.items() if t.annotations.destructive_hint] == ["file_operation"]


async def test_only_the_script_tools_carry_instructions_and_file_operation_says_what_changed(
    tmp_path: Path,
) -> None:
    async with Client(build_server(make_config(tmp_path)), raise_exceptions=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        loaded = await client.call_tool("load_script", {"script_name": "blog_writer"})
        written = await client.call_tool("file_operation", {"operation": "write", "filename": "a.md", "content": "x"})
        read = await client.call_tool("file_operation", {"operation": "read", "filename": "a.md"})

    steering = {n for n, t in tools.items() if INSTRUCTIONS_KEY in t.output_schema.get("properties", {})}
    assert steering == {"load_script", "next_stage", "goto_stage", "get_script_state"}
    assert CHANGED_KEY in tools["file_operation"].output_schema["properties"]
    assert loaded.structured_content[INSTRUCTIONS_KEY].strip()
    assert written.structured_content[CHANGED_KEY] == ["a.md"]
    assert read.structured_content[CHANGED_KEY] == []
