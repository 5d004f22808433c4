"""`python -m voice_client --text ...` end to end: peer + real MCP server, reply on stdout, key never shown."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from mcp_server.config import Config as ServerConfig
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

SECRET = "sk-never-show-this-0123456789"
REPO = Path(__file__).resolve().parents[2]


async def _run_cli(*args: str, env: dict[str, str], cwd: Path, typed: bytes = b"") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voice_client",
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate(typed)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "HF_HUB_OFFLINE")}
    return {
        **keep,
        "PYTHONPATH": str(REPO),
        "OPENAI_API_KEY": SECRET,
        "LOG_LEVEL": "DEBUG",
        "TRANSCRIPTION_MODEL": "",
        "WORKING_DIRECTORY": str(tmp_path / "ws"),
        **values,
    }


async def test_cli_text_turn_runs_the_tool_prints_the_reply_and_exits(
    tmp_path: Path, config: ServerConfig, mcp_url: str
) -> None:
    args = json.dumps({"operation": "create", "filename": "todo.md", "content": "- call mum"})
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=lambda e: e["session"]["output_modalities"] == ["text"], reply=session_updated),
        Step("conversation.item.create"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *function_call("resp_1", "call_1", "file_operation", args),
                response_done("resp_1"),
            ],
        ),
        Step("conversation.item.create", where=lambda e: e["item"]["type"] == "function_call_output"),
        Step(
            "response.create",
            send=text_reply("resp_2", "m", "Added to todo.md."),
        ),
    ]
    async with RealtimePeer(script) as peer:
        code, out, err = await _run_cli(
            "--realtime-url", peer.url, "--mcp-url", mcp_url, "--text", "Remind me", env=_env(tmp_path), cwd=tmp_path
        )
        await peer.finished()
    assert code == 0, err
    assert out == "Added to todo.md.\n"
    assert "call mum" in (config.workspace_dir / "todo.md").read_text()
    transcripts = list((tmp_path / "ws" / "transcripts").glob("*.md"))
    assert len(transcripts) == 1
    saved = transcripts[0].read_text()
    assert "Tool `file_operation`** (ok)" in saved and "Remind me" in saved and "Added to todo.md." in saved
    assert SECRET not in out + err + saved
    assert peer.requests[0][1]["authorization"] == f"Bearer {SECRET}"


async def test_cli_without_audio_device_takes_typed_turns_like_the_demo(tmp_path: Path) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=lambda e: e["session"]["output_modalities"] == ["text"], reply=session_updated),
        Step("conversation.item.create", where=lambda e: e["item"]["content"][0]["text"] == "Good morning"),
        Step("response.create", send=text_reply("resp_1", "m", "Good morning to you.")),
    ]
    async with RealtimePeer(script) as peer:
        code, out, err = await _run_cli(
            "--realtime-url", peer.url, "--no-tools", env=_env(tmp_path), cwd=tmp_path, typed=b"Good morning\n"
        )
        await peer.finished()
    assert code == 0, err
    assert "No microphone or speaker found: type what you would say" in err
    assert out == "Good morning to you.\n"
    assert SECRET not in out + err


async def test_cli_reports_an_unreachable_realtime_server_without_the_key(tmp_path: Path, mcp_url: str) -> None:
    env = _env(tmp_path, REALTIME_URL="ws://127.0.0.1:9/v1/realtime", REALTIME_CONNECT_TIMEOUT_S="1")
    code, _, err = await _run_cli("--mcp-url", mcp_url, "--text", "hi", env=env, cwd=tmp_path)
    assert code == 1
    assert "error: no Realtime connection to ws://127.0.0.1:9/v1/realtime?model=" in err
    assert SECRET not in err


async def test_cli_script_lets_the_coach_open_before_the_first_turn(tmp_path: Path, mcp_url: str) -> None:
    def coach_session(event: dict) -> bool:
        return "blog" in event["session"]["instructions"].lower()

    def item(kind: str, **fields: str) -> Callable[[dict], bool]:
        return lambda e: e["item"]["type"] == kind and all(e["item"].get(k) == v for k, v in fields.items())

    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=coach_session, reply=session_updated),
        Step("conversation.item.create", where=item("function_call", name="load_script")),
        Step("conversation.item.create", where=item("function_call_output")),
        Step("response.create", send=text_reply("resp_1", "m1", "Welcome! What will you write about?")),
        Step("conversation.item.create", where=lambda e: e["item"]["content"][0]["text"] == "Tomatoes"),
        Step("response.create", send=text_reply("resp_2", "m2", "Tomatoes it is.")),
    ]
    async with RealtimePeer(script) as peer:
        code, out, err = await _run_cli(
            *("--realtime-url", peer.url, "--mcp-url", mcp_url, "--script", "blog_writer", "--text", "Tomatoes"),
            env=_env(tmp_path),
            cwd=tmp_path,
        )
        await peer.finished()
    assert code == 0, err
    assert out == "Welcome! What will you write about?\nTomatoes it is.\n"
    arguments = json.loads(peer.of_type("conversation.item.create")[0]["item"]["arguments"])
    assert arguments == {"script_name": "blog_writer"}


async def test_cli_unknown_script_names_the_scripts_there_are(tmp_path: Path, mcp_url: str) -> None:
    code, out, err = await _run_cli(
        *("--realtime-url", "ws://127.0.0.1:9/v1/realtime", "--mcp-url", mcp_url, "--script", "nope", "--text", "hi"),
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    assert code == 2
    assert "cannot start script 'nope'" in err and "blog_writer" in err
    assert out == "" and "Traceback" not in err
