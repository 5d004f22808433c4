"""`python -m voice_client --web` and `python demo.py --web` as processes: the page's address printed, the page
served (a typed turn answered in Chromium), Ctrl-C stops everything cleanly; wrong flags and a busy port get one
line."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Spawn
from tests.realtime_peer import RealtimePeer, Step, session_created, session_updated, text_reply
from tests.voice_client.web.conftest import open_page

REPO = Path(__file__).resolve().parents[3]


def _env(tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "HF_HUB_OFFLINE")}
    return {
        **keep,
        "PYTHONPATH": str(REPO),
        "OPENAI_API_KEY": "sk-test",
        "TRANSCRIPTION_MODEL": "",
        "WORKING_DIRECTORY": str(tmp_path / "ws"),
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _start(spawn: Spawn, *args: str, tmp_path: Path, program: tuple[str, ...] = ("-m", "voice_client")) -> Any:
    return await spawn(
        sys.executable, *program, *args, cwd=tmp_path, env=_env(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _address(stream: Any) -> str:
    """Read `stream` (the process's stdout or stderr) up to the line with the page's address; return the address."""
    while line := (await stream.readline()).decode():
        if "http://" in line and "MCP server" not in line:
            return next(word for word in line.split() if word.startswith("http://"))
    raise AssertionError("the page's address was never printed")


async def test_web_prints_the_address_serves_the_page_and_stops_on_ctrl_c(tmp_path: Path, spawn: Spawn) -> None:
    port = _free_port()
    script = [Step(None, send=[session_created()]), Step("session.update", reply=session_updated)]
    async with RealtimePeer(script) as peer:
        process = await _start(
            spawn, "--web", "--web-port", str(port), "--realtime-url", peer.url, "--no-tools", tmp_path=tmp_path
        )
        assert process.stderr is not None
        async with asyncio.timeout(30):
            lines = [await process.stderr.readline()]
            while b"http://" not in lines[-1] and lines[-1]:
                lines.append(await process.stderr.readline())
            await peer.finished()
            async with httpx.AsyncClient() as http:
                page = await http.get(f"http://127.0.0.1:{port}/")
            process.send_signal(signal.SIGINT)
            _out, rest = await process.communicate()
    said = b"".join(lines).decode() + rest.decode()
    assert f"http://127.0.0.1:{port}/" in said
    assert page.status_code == 200 and "content-security-policy" in page.headers
    assert process.returncode == 130
    assert "Traceback" not in said


async def test_web_with_turns_or_on_a_busy_port_says_so_in_one_line(tmp_path: Path, spawn: Spawn) -> None:
    process = await _start(spawn, "--web", "--text", "hello", tmp_path=tmp_path)
    _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert err.decode().strip() == "error: --web talks through the page: leave out --text, --wav and --typed"

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        script = [Step(None, send=[session_created()])]
        async with RealtimePeer(script, ignore={"session.update"}) as peer:
            process = await _start(
                spawn, "--web", "--web-port", str(port), "--realtime-url", peer.url, "--no-tools", tmp_path=tmp_path
            )
            _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert f"cannot serve the page on 127.0.0.1:{port}" in err.decode()
    assert "--web-port" in err.decode() and "Traceback" not in err.decode()


async def test_demo_web_answers_a_typed_turn_in_the_page_and_stops_on_ctrl_c(
    tmp_path: Path, spawn: Spawn, chromium: Any
) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("conversation.item.create", where=lambda e: e["item"]["content"][0]["text"] == "Hello there"),
        Step("response.create", send=text_reply("r1", "item_1", "Hello! What shall we write today?")),
    ]
    async with RealtimePeer(script, ignore={"session.update"}) as peer:
        process = await _start(
            spawn,
            "--web", "--web-port", str(_free_port()), "--realtime-url", peer.url, "--no-library",
            tmp_path=tmp_path, program=(str(REPO / "demo.py"),),
        )  # fmt: skip
        async with asyncio.timeout(60):
            url = await _address(process.stdout)  # the demo's live view writes to stdout
            page, problems = await open_page(chromium, url)
            await page.get_by_label("Message").fill("Hello there")
            await page.get_by_role("button", name="Send").click()
            await page.locator("#transcript li.assistant", has_text="What shall we write today?").wait_for()
            await peer.finished()
            process.send_signal(signal.SIGINT)
            out, err = await process.communicate()
    assert process.returncode == 130
    assert "Traceback" not in out.decode() + err.decode()
    assert problems == [], problems
