"""Another server's tools through the offline engine's real brain (Qwen 1.5B, as `demo.py` runs it): an `mcpServers`
file with our server and the reference filesystem server (npm, stdio, over a folder named `shared`); typed requests
about the shared folder go to its `files__...` tools and are answered with what they return, while requests about
the user's workspace still go to our own server (`file_operation`, or `list_documents`, which lists the
workspace's notes too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.offline_client import Call, recorded_session, warmed_client
from tests.servers import NODE_BIN, make_config, mcp_servers_file, running_mcp_server
from voice_client.config import Config
from voice_client.turns import run_text_turn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (NODE_BIN / "mcp-server-filesystem").exists(), reason="run `make inspector` first"),
]

SHARED = 'The user\'s shared folder (its paths are relative to it; "." is the folder itself)'
"""The server's `description`, as the README advises: without it the model asked for path "shared" (the folder's
name, which the server resolves inside itself: shared/shared) and answered that it found nothing."""


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """(the test's folder, our server's URL): a workspace with ideas.md, a shared folder with todo.txt."""
    tmp = tmp_path_factory.mktemp("toolbox")
    config = make_config(tmp)
    config.workspace_dir.mkdir(parents=True)
    (config.workspace_dir / "ideas.md").write_text("# Ideas\n\n- a podcast about gardening\n", encoding="utf-8")
    (tmp / "shared").mkdir()
    (tmp / "shared" / "todo.txt").write_text("buy stamps\nwater the ferns\n", encoding="utf-8")
    (tmp / "shared" / "recipes.txt").write_text("pancakes: flour, milk, eggs\n", encoding="utf-8")
    config.library_dir.mkdir(parents=True)
    with running_mcp_server(config, library=True) as base:
        yield tmp, base + "/mcp"


@pytest.fixture(scope="module")
async def client(real_engine: Any, folders: tuple[Path, str]) -> AsyncIterator[Config]:
    """A typed client whose servers come from an `mcpServers` file: ours, and the filesystem server over shared/."""
    tmp, url = folders
    servers = {
        "assistant": {"url": url},
        "files": {
            "command": str(NODE_BIN / "mcp-server-filesystem"),
            "args": [str(tmp / "shared")],
            "description": SHARED,
        },
    }
    env = {"MCP_CONFIG": str(mcp_servers_file(tmp, servers)), "WORKING_DIRECTORY": str(tmp / "workspace")}
    async with warmed_client(real_engine, env, tmp) as config:
        yield config


async def _ask(config: Config, request: str) -> tuple[Call, str]:
    """The turn's last call (the one answered) and the reply, for `request` typed in a fresh session."""
    async with recorded_session(config) as (session, record):
        replies = await run_text_turn(session, request, timeout_s=240)
    assert record.calls and replies, (record, replies)
    return record.calls[-1], replies[-1]


@pytest.mark.parametrize(
    ("request_", "tools", "fact"),
    [
        ("List the files in the shared folder.", ("files__list_directory", "files__list_directory_with_sizes"), "todo"),
        ("Read the file todo.txt from the shared folder.", ("files__read_text_file", "files__read_file"), "stamps"),
    ],
)
async def test_a_request_about_the_shared_folder_is_answered_by_the_filesystem_server(
    client: Config, request_: str, tools: tuple[str, ...], fact: str
) -> None:
    call, reply = await _ask(client, request_)
    assert call.name in tools and fact in (call.output or ""), call
    assert fact in reply.lower(), reply


@pytest.mark.parametrize(
    ("request_", "tools", "fact"),
    [
        ("Read me my ideas file.", ("file_operation",), "podcast"),
        ("What files do I have in my workspace?", ("file_operation", "list_documents"), "ideas"),
    ],
)
async def test_a_request_about_the_workspace_still_goes_to_our_server(
    client: Config, request_: str, tools: tuple[str, ...], fact: str
) -> None:
    call, _reply = await _ask(client, request_)
    assert call.name in tools and fact in (call.output or ""), call
