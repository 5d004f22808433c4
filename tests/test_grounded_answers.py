"""Questions about the user's own documents, answered from them: the voice client, the offline engine (the real
Qwen 1.5B) and the real MCP server with the shipped library and a workspace note, as in the demo.

A handful of `benchmarks/answer_questions.jsonl`; the benchmark runs all of them, typed and spoken.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from local_realtime.brain import tool_specs
from local_realtime.server import serve_engine
from mcp_server.http import build_app, serve_in_thread
from mcp_server.library import open_library
from mcp_server.server import build_server
from tests.servers import make_config
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.tools import McpTools
from voice_client.turns import run_text_turn

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    ("What temperature do I heat the oven to for the sourdough?", ("250",)),
    ("According to my budget notes, how much do we save each month?", ("400",)),
    ("When do I need to renew the car insurance?", ("5 December", "December 5")),  # a note in the workspace
]


@pytest.fixture(scope="module")
def mcp_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("grounded")
    config = make_config(tmp)
    shutil.copytree(ROOT / "library", config.library_dir)
    shutil.copytree(ROOT / "benchmarks" / "answer_workspace", config.workspace_dir)
    library = open_library(config)
    library.index()
    with serve_in_thread(build_app(build_server(config, library), config), "127.0.0.1", 0) as base:
        yield base + "/mcp"
    library.close()


@pytest.fixture(scope="module")
async def client_config(real_engine: Any, mcp_url: str) -> AsyncIterator[Config]:
    async with serve_engine(real_engine) as url:
        config = Config.from_env({"MCP_SERVER_URL": mcp_url, "REALTIME_URL": url + "/realtime"})
        config = config.with_overrides(text_only=True)
        async with McpTools(config) as tools:
            await real_engine.warm(tool_specs(tools.definitions), config.instructions)
        yield config


async def _ask(config: Config, question: str) -> tuple[list[str], list[str], list[str]]:
    """(tools called, what the model read from them, the replies) for one question in a fresh session."""
    called: list[str] = []
    read: list[str] = []
    async with (
        McpTools(config) as tools,
        RealtimeSession(
            config,
            tools=tools,
            on_tool_call=lambda name, _arguments: called.append(name),
            on_tool_result=lambda _name, outcome: read.append(outcome.output),
        ) as session,
    ):
        replies = await run_text_turn(session, question, timeout_s=180)
    return called, read, replies


@pytest.mark.parametrize(("question", "fact"), QUESTIONS)
async def test_a_question_about_the_users_documents_is_answered_from_them(
    client_config: Config, question: str, fact: tuple[str, ...]
) -> None:
    called, read, replies = await _ask(client_config, question)

    assert called == ["search_library"], (called, replies)
    assert fact[0] in read[0], read  # the evidence holds the fact ...
    answer = replies[-1].replace(",", "")
    assert any(f in answer for f in fact), replies  # ... and the spoken answer says it as written
    assert len(replies[0]) <= 80, "a short preamble first"


async def test_what_the_documents_do_not_hold_is_not_invented(client_config: Config) -> None:
    called, read, replies = await _ask(client_config, "What did the team decide about the office party?")

    assert called == ["search_library"]
    assert "say nothing about" in read[0], read
    answer = replies[-1].lower()
    assert "nothing" in answer or "no " in answer or "not" in answer, replies
    assert not any(ch.isdigit() for ch in answer), replies
