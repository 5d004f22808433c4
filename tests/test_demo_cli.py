"""`python demo.py`'s command line: typed chat, Ctrl-C, and what users get wrong (one clear line each).

Real processes: demo.py itself, a real MCP server inside it, a wire-level Realtime peer (the one
stand-in for OpenAI) or a WebSocket endpoint that refuses the key like OpenAI does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from http import HTTPStatus
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from tests.conftest import Spawn
from tests.realtime_peer import (
    RealtimePeer,
    Step,
    session_created,
    session_updated,
    text_reply,
)

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")}
    return {
        **keep,
        "HF_HUB_OFFLINE": "1",
        "OPENAI_API_KEY": "",  # set, so a developer's .env cannot change the test
        "WORKING_DIRECTORY": str(tmp_path / "workspace"),
        "INDEX_DIR": str(tmp_path / "index"),
        "MCP_CONNECT_TIMEOUT_S": "3",
        "REALTIME_CONNECT_TIMEOUT_S": "5",
        **values,
    }


async def _start(spawn: Spawn, tmp_path: Path, *args: str, **env: str) -> asyncio.subprocess.Process:
    return await spawn(
        sys.executable,
        "demo.py",
        *args,
        cwd=ROOT,
        env=_env(tmp_path, **env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _demo(spawn: Spawn, tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    """Run demo.py to its end; returns (exit code, stdout + stderr)."""
    process = await _start(spawn, tmp_path, *args, **env)
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_port_in_use_is_named_with_the_flag_to_change_it(tmp_path: Path, spawn: Spawn) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = await _demo(spawn, tmp_path, "--no-library", "--mcp-port", str(port), "--text", "hi")
    assert code == 2
    assert f"port {port} is in use; choose another with --mcp-port" in out
    assert "Traceback" not in out


async def test_a_missing_wav_file_is_reported_before_anything_starts(tmp_path: Path, spawn: Spawn) -> None:
    code, out = await _demo(spawn, tmp_path, "--wav", str(tmp_path / "nothing.wav"))
    assert code == 2
    assert f"no such WAV file: {tmp_path / 'nothing.wav'}" in out
    assert "MCP server" not in out and "Traceback" not in out


async def test_openai_without_a_key_says_which_variable_to_set(tmp_path: Path, spawn: Spawn) -> None:
    code, out = await _demo(spawn, tmp_path, "--no-library", "--openai", "--text", "hi")
    assert code == 2
    assert "--openai needs OPENAI_API_KEY" in out and "Traceback" not in out


async def test_an_unreachable_mcp_server_says_how_to_start_one(tmp_path: Path, spawn: Spawn) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/mcp"
    code, out = await _demo(spawn, tmp_path, "--mcp-url", dead, "--realtime-url", "ws://127.0.0.1:9/v1", "--text", "hi")
    assert code == 2
    assert f"cannot reach the MCP server at {dead}" in out and "make serve" in out
    assert "Traceback" not in out


async def test_a_rejected_api_key_says_to_check_it(tmp_path: Path, spawn: Spawn) -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.UNAUTHORIZED, "Incorrect API key provided\n")

    async with serve(lambda ws: ws.close(), "127.0.0.1", 0, process_request=refuse) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime"
        code, out = await _demo(
            spawn, tmp_path, "--no-library", "--realtime-url", url, "--text", "hi", OPENAI_API_KEY="sk-wrong-key-000"
        )
    assert code == 1
    assert "refused the credentials" in out and "check OPENAI_API_KEY" in out
    assert "sk-wrong-key-000" not in out and "Traceback" not in out


async def test_ctrl_c_in_typed_chat_stops_everything_and_keeps_the_transcript(tmp_path: Path, spawn: Spawn) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
    ]
    async with RealtimePeer(script) as peer:
        process = await _start(spawn, tmp_path, "--no-library", "--typed", "--realtime-url", peer.url)
        assert process.stdout is not None
        seen = b""
        async with asyncio.timeout(60):
            while b"you> " not in seen:  # the prompt: everything is up and waiting for the user
                chunk = await process.stdout.read(256)
                assert chunk, f"demo.py ended early: {seen.decode()}"
                seen += chunk
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            out, err = await process.communicate()
    text = seen.decode() + out.decode() + err.decode()
    assert process.returncode == 130, text
    assert "Interrupted; everything stopped." in text and "Traceback" not in text
    (transcript,) = (tmp_path / "workspace" / "transcripts").glob("*.md")
    assert f"Transcript: {transcript}" in text
    assert transcript.read_text(encoding="utf-8").startswith("# Demo session")


async def test_typed_chat_from_a_pipe_runs_each_line_as_a_turn_and_ends_at_end_of_input(
    tmp_path: Path, spawn: Spawn
) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=lambda e: e["session"]["output_modalities"] == ["text"], reply=session_updated),
        Step("conversation.item.create", where=lambda e: e["item"]["content"][0]["text"] == "Good morning"),
        Step(
            "response.create",
            send=text_reply("resp_1", "m1", "Morning! What shall we do?"),
        ),
    ]
    async with RealtimePeer(script) as peer:
        process = await _start(spawn, tmp_path, "--no-library", "--typed", "--realtime-url", peer.url)
        async with asyncio.timeout(60):
            out, err = await process.communicate(b"Good morning\n")
        await peer.finished()
    text = out.decode() + err.decode()
    assert process.returncode == 0, text
    assert "you › Good morning" in text and "assistant › Morning! What shall we do?" in text
    (transcript,) = (tmp_path / "workspace" / "transcripts").glob("*.md")
    assert "Morning! What shall we do?" in transcript.read_text(encoding="utf-8")
    assert not list(transcript.parent.glob("*.wav")), "typed chat gets text replies, no audio file"


def test_console_log_masks_credentials_and_keeps_library_tracebacks_to_one_line() -> None:
    from voice_client.console_log import ConsoleLog

    try:
        raise ConnectionResetError("peer went away")
    except ConnectionResetError:
        record = logging.LogRecord(
            "mcp", logging.ERROR, __file__, 1, "send with %s failed", ("sk-secret",), sys.exc_info()
        )
    assert ConsoleLog(["sk-secret"], tracebacks=False).filter(record)
    line = logging.Formatter().format(record)
    assert line == "send with *** failed (ConnectionResetError; LOG_LEVEL=DEBUG shows the traceback)"
    assert "Traceback" not in line and "sk-secret" not in line


async def test_a_sound_server_with_no_devices_gives_one_line_and_typed_chat(tmp_path: Path, spawn: Spawn) -> None:
    """PulseAudio up with no sink and no source (ALSA lists its devices; they will not open)."""
    from tests.virtual_audio import VirtualAudio

    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=lambda e: e["session"]["output_modalities"] == ["text"], reply=session_updated),
    ]
    with VirtualAudio(devices=False) as audio:
        async with RealtimePeer(script) as peer:
            process = await _start(spawn, tmp_path, "--no-library", "--realtime-url", peer.url, **audio.env)
            async with asyncio.timeout(60):
                out, err = await process.communicate(b"")  # end of input at once
            await peer.finished()
    text = out.decode() + err.decode()
    assert process.returncode == 0, text
    assert "No microphone or speaker found: type what you would say" in text
    assert "Traceback" not in text and "PortAudioError" not in text and "host error" not in text
