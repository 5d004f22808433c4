"""Coached sessions through the voice client, the offline engine (the real Qwen 1.5B) and the real MCP server with
the shipped library, typed as a user talks: a few whole sessions; `benchmarks/coach_bench.py` runs 25.

What each shows: the running script is never loaded again; after a load or a stage change the user hears the
stage's opening (a question), not a status report; an answer gets one of the stage's questions next, word for word;
"ask me a question" in a practice stage gets one; "save ... to NAME.md" writes NAME.md (save_as with the text)
with the conversation's words and the deliverable's footer once, however often it is rewritten.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from local_realtime.brain import tool_specs
from local_realtime.server import serve_engine
from mcp_server.config import Config as ServerConfig
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServerConfig]]:
    config = make_config(tmp_path_factory.mktemp("coached"))
    shutil.copytree(ROOT / "library", config.library_dir)
    library = open_library(config)
    library.index()
    with serve_in_thread(build_app(build_server(config, library), config), "127.0.0.1", 0) as base:
        yield base + "/mcp", config
    library.close()


@pytest.fixture(scope="module")
async def client_config(real_engine: Any, server: tuple[str, ServerConfig]) -> AsyncIterator[Config]:
    async with serve_engine(real_engine) as url:
        config = Config.from_env({"MCP_SERVER_URL": server[0], "REALTIME_URL": url + "/realtime"})
        config = config.with_overrides(text_only=True)
        async with McpTools(config) as tools:
            await real_engine.warm(tool_specs(tools.definitions), config.instructions)
        yield config


async def _session(config: Config, turns: list[str]) -> list[dict[str, Any]]:
    """Each turn's calls (name, arguments, output) and replies, in one session."""
    said: list[dict[str, Any]] = []

    def call(name: str, arguments: str) -> None:
        said[-1]["calls"].append({"name": name, "arguments": json.loads(arguments)})

    def result(name: str, outcome: Any) -> None:
        next(c for c in said[-1]["calls"] if c["name"] == name and "output" not in c)["output"] = outcome.output

    async with (
        McpTools(config) as tools,
        RealtimeSession(config, tools=tools, on_tool_call=call, on_tool_result=result) as session,
    ):
        for text in turns:
            said.append({"user": text, "calls": []})
            said[-1]["replies"] = await run_text_turn(session, text, timeout_s=240)
    return said


def _stage(name: str) -> dict[str, Any]:
    script, stage = name.split("/")
    data = json.loads((ROOT / "scripts" / f"{script}.json").read_text())
    return next(s for s in data["stages"] if s["name"] == stage)


async def test_the_coach_opens_each_stage_asks_its_questions_and_never_reloads(client_config: Config) -> None:
    turns = await _session(
        client_config,
        ["I need to write an email to my landlord.", "The heating has been broken for a week.", "Let's draft it."],
    )
    calls = [c["name"] for turn in turns for c in turn["calls"]]
    assert calls.count("load_script") == 1 and "search_library" not in calls, turns
    context, drafting = _stage("email_workshop/context"), _stage("email_workshop/drafting")
    opening = turns[0]["replies"][-1]
    assert opening.endswith("?") and ("situation" in opening or opening.endswith(context["questions"][0])), turns
    answer = turns[1]["replies"][-1]
    assert any(answer.endswith(q) for q in context["questions"]), turns  # the script's own question, word for word
    assert [c["name"] for c in turns[2]["calls"]] == ["next_stage"], turns
    assert turns[2]["replies"][-1] == drafting["prompt"], turns  # the stage's opening, not a status report
    assert not any("the user" in r.lower() for turn in turns for r in turn["replies"]), turns


async def test_a_practice_stage_asks_one_of_its_questions(client_config: Config) -> None:
    turns = await _session(
        client_config, ["Help me prepare for a job interview.", "Let's practice now.", "Ask me a question."]
    )
    practice = _stage("interview_prep/practice")
    assert [c["name"] for c in turns[1]["calls"]] == ["next_stage"], turns
    assert any(q in turns[2]["replies"][-1] for q in practice["questions"]), turns


async def test_a_story_is_saved_to_the_name_given_with_one_footer(
    client_config: Config, server: tuple[str, ServerConfig]
) -> None:
    turns = await _session(
        client_config,
        [
            "Let's play the improv game.",
            "A lighthouse keeper finds a talking seagull.",
            "Let's start the scene.",
            "Yes, and the seagull says a storm is coming tonight.",
            "Save our story so far to lighthouse.md.",
            "Save it to lighthouse.md again, please.",
        ],
    )
    saved = [c for c in turns[4]["calls"] if c["name"] == "file_operation"]
    assert saved and "error" not in saved[0]["output"], turns
    story = (server[1].workspace_dir / "lighthouse.md").read_text()
    assert "seagull" in story and "storm" in story, story  # the conversation's own words
    assert story.count("*Created on: ") == 1 and story.count("*Script used: improv_game*") == 1, story
