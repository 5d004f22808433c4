"""Guided scripts through the real MCP client in memory: loading, stages, state, authoring."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mcp import Client

from mcp_server.config import Config
from mcp_server.scripts import ScriptLibrary
from mcp_server.server import build_server
from tests.servers import make_config

SHIPPED = ["blog_writer", "brainstorm_session", "email_workshop", "improv_game", "interview_prep"]


def _own_scripts(tmp_path: Path) -> Config:
    """A config whose scripts folder is a writable copy of the shipped one."""
    folder = tmp_path / "scripts"
    shutil.copytree(Path(__file__).resolve().parents[2] / "scripts", folder)
    return make_config(tmp_path, SCRIPTS_DIR=str(folder))


def test_every_shipped_script_validates(config: Config) -> None:
    scripts, errors = ScriptLibrary(config.scripts_dir).scan()
    assert errors == []
    assert sorted(scripts) == SHIPPED
    assert scripts["blog_writer"].stage_names() == ["discovery", "outline", "writing"]
    assert scripts["improv_game"].save_transcript is True
    assert scripts["brainstorm_session"].deliverable == "idea_map"
    assert "clarity" in scripts["interview_prep"].stages[1].feedback_areas


def test_broken_script_is_reported_by_file_and_field_and_others_still_load(tmp_path: Path) -> None:
    config = _own_scripts(tmp_path)
    (config.scripts_dir / "broken.json").write_text(json.dumps({"name": "broken", "title": "B"}))
    (config.scripts_dir / "garbage.json").write_text("{ not json")
    scripts, errors = ScriptLibrary(config.scripts_dir).scan()
    assert sorted(scripts) == SHIPPED
    assert any("broken.json" in e and "stages" in e and "persona" in e for e in errors)
    assert any("garbage.json" in e for e in errors)


async def test_load_script_returns_the_seed_contract_and_first_stage(config: Config) -> None:
    async with Client(build_server(config), raise_exceptions=True) as client:
        result = await client.call_tool("load_script", {"script_name": "blog_writer"})
    data = result.structured_content
    assert result.is_error is False
    assert data["success"] is True and data["script_name"] == "blog_writer"
    assert data["current_stage"] == "discovery" and data["stages"] == ["discovery", "outline", "writing"]
    assert "editor" in data["instructions"] and "next_stage" in data["instructions"]
    assert data["message"]


async def test_stages_progress_jump_and_stop_at_the_end(config: Config) -> None:
    async with Client(build_server(config)) as client:
        await client.call_tool("load_script", {"script_name": "email_workshop"})
        second = await client.call_tool("next_stage", {})
        assert second.structured_content["current_stage"] == "drafting"
        at_end = await client.call_tool("next_stage", {})
        assert at_end.is_error and "last stage" in at_end.content[0].text
        back = await client.call_tool("goto_stage", {"stage": "context"})
        assert back.structured_content["current_stage"] == "context"
        state = await client.call_tool("get_script_state", {})
        assert state.structured_content["script_name"] == "email_workshop"
        assert state.structured_content["current_stage"] == "context"


async def test_unknown_script_and_stage_list_the_valid_choices(config: Config) -> None:
    async with Client(build_server(config)) as client:
        missing = await client.call_tool("load_script", {"script_name": "karaoke"})
        assert missing.is_error
        assert "karaoke" in missing.content[0].text and "blog_writer" in missing.content[0].text
        no_script = await client.call_tool("next_stage", {})
        assert no_script.is_error and "load_script" in no_script.content[0].text
        await client.call_tool("load_script", {"script_name": "blog_writer"})
        bad_stage = await client.call_tool("goto_stage", {"stage": "publishing"})
        assert bad_stage.is_error and "discovery, outline, writing" in bad_stage.content[0].text


async def test_loading_the_running_script_again_carries_on_where_it_is(config: Config) -> None:
    async with Client(build_server(config)) as client:
        await client.call_tool("load_script", {"script_name": "improv_game"})
        await client.call_tool("next_stage", {})
        again = await client.call_tool("load_script", {"script_name": "improv_game"})
        state = await client.call_tool("get_script_state", {})
    assert again.is_error is False
    assert again.structured_content["current_stage"] == "play"  # not restarted at setup
    assert "already running" in again.structured_content["message"]
    assert state.structured_content["current_stage"] == "play"


async def test_a_script_result_carries_its_stage_as_data(config: Config) -> None:
    async with Client(build_server(config)) as client:
        loaded = await client.call_tool("load_script", {"script_name": "email_workshop"})
        moved = await client.call_tool("next_stage", {})
    stage = loaded.structured_content["stage"]
    assert stage["name"] == "context" and stage["next_stage"] == "drafting"
    assert stage["opening"].endswith("?") and "Is there a deadline?" in stage["questions"]
    assert loaded.structured_content["title"] == "Email Writing Workshop"
    assert moved.structured_content["stage"]["next_stage"] is None  # the last stage
    assert moved.structured_content["stage"]["deliverable_file"] == "email_draft.md"


async def test_how_a_stage_s_turns_go_is_in_its_data(config: Config) -> None:
    async with Client(build_server(config)) as client:
        brainstorm = await client.call_tool("load_script", {"script_name": "brainstorm_session"})
        await client.call_tool("load_script", {"script_name": "improv_game"})
        play = await client.call_tool("next_stage", {})
    assert brainstorm.structured_content["stage"]["offers"] == 3  # "How about A, B, or C?" each turn
    assert play.structured_content["stage"]["turn_start"] == "Yes, and"
    assert play.structured_content["stage"]["offers"] == 0


def test_every_shipped_stage_opens_with_a_question(config: Config) -> None:
    """The coach's first words in a stage are its prompt, so each ends with the question the user answers."""
    scripts, _ = ScriptLibrary(config.scripts_dir).scan()
    openings = {f"{s.name}/{stage.name}": stage.prompt for s in scripts.values() for stage in s.stages}
    assert [name for name, prompt in openings.items() if not prompt.rstrip().endswith("?")] == []


async def test_switching_scripts_mid_session(config: Config) -> None:
    async with Client(build_server(config)) as client:
        await client.call_tool("load_script", {"script_name": "blog_writer"})
        await client.call_tool("next_stage", {})
        switched = await client.call_tool("load_script", {"script_name": "improv_game"})
        assert switched.structured_content["current_stage"] == "setup"
        state = await client.call_tool("get_script_state", {})
        assert state.structured_content["script_name"] == "improv_game"


async def test_script_state_survives_a_reconnect_and_a_server_restart(config: Config) -> None:
    async with Client(build_server(config)) as client:
        await client.call_tool("load_script", {"script_name": "brainstorm_session"})
        await client.call_tool("next_stage", {})
    async with Client(build_server(config)) as again:
        state = await again.call_tool("get_script_state", {})
    assert state.structured_content["script_name"] == "brainstorm_session"
    assert state.structured_content["current_stage"] == "converge"
    assert list(config.state_dir.glob("*.json"))


async def test_create_script_by_voice_then_load_it_as_tool_prompt_and_resource(tmp_path: Path) -> None:
    config = _own_scripts(tmp_path)
    definition = {
        "name": "gratitude_journal",
        "title": "Gratitude Journal",
        "description": "Three good things, every evening.",
        "persona": "You are a calm, kind journaling partner.",
        "stages": [{"name": "recall", "goal": "Three things are named.", "prompt": "What went well today?"}],
        "deliverable_file": "gratitude.md",
    }
    async with Client(build_server(config), raise_exceptions=True) as client:
        created = await client.call_tool("create_script", {"definition": definition})
        assert created.structured_content["script_name"] == "gratitude_journal"
        loaded = await client.call_tool("load_script", {"script_name": "gratitude_journal"})
        assert loaded.structured_content["current_stage"] == "recall"
        prompts = [p.name for p in (await client.list_prompts()).prompts]
        assert "gratitude_journal" in prompts
        resource = await client.read_resource("script://gratitude_journal")
        assert json.loads(resource.contents[0].text)["title"] == "Gratitude Journal"
    assert (config.scripts_dir / "gratitude_journal.json").is_file()


async def test_create_script_rejects_invalid_definitions_naming_the_field(tmp_path: Path) -> None:
    config = _own_scripts(tmp_path)
    async with Client(build_server(config)) as client:
        bad = await client.call_tool("create_script", {"definition": {"name": "Bad Name!", "stages": []}})
    assert bad.is_error
    text = bad.content[0].text
    assert "name" in text and "stages" in text and "persona" in text
    assert not list(config.scripts_dir.glob("Bad*"))


async def test_each_script_is_a_prompt_and_a_resource(config: Config) -> None:
    async with Client(build_server(config), raise_exceptions=True) as client:
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert set(SHIPPED) <= prompts
        prompt = await client.get_prompt("interview_prep")
        assert "Interview Preparation Coach" in prompt.messages[0].content.text
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {f"script://{name}" for name in SHIPPED} <= uris
        body = await client.read_resource("script://improv_game")
        assert json.loads(body.contents[0].text)["stages"][0]["name"] == "setup"


async def test_a_json_dropped_into_scripts_appears_without_restart(tmp_path: Path) -> None:
    config = _own_scripts(tmp_path)
    server = build_server(config)
    data = json.loads((config.scripts_dir / "blog_writer.json").read_text())
    data["name"] = "poem_writer"
    (config.scripts_dir / "poem_writer.json").write_text(json.dumps(data))
    async with Client(server, raise_exceptions=True) as client:
        listed = await client.call_tool("list_scripts", {})
        assert "poem_writer" in [s["name"] for s in listed.structured_content["scripts"]]
        loaded = await client.call_tool("load_script", {"script_name": "poem_writer"})
        assert loaded.structured_content["current_stage"] == "discovery"
