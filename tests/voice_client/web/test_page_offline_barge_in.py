"""The page through the offline engine (no stand-ins), the parts the spoken requests of `test_page_offline.py` do
not show: a typed turn whose reply plays in the page, and speech over that reply (a WAV of piper speech as
Chromium's microphone) stopping it, with the item truncated within 50 ms of what the page played. The page of
this live conversation is also checked for its Content-Security-Policy and for refusing a foreign `Origin`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from local_realtime.server import serve_engine
from mcp_server.config import Config as ServerConfig
from tests.speech_audio import silence, synthesize, write_wav
from tests.voice_client.web.conftest import conversation_page, launch_chromium, open_page
from voice_client.config import Config
from voice_client.tools import McpTools
from voice_client.transcript import Transcript

pytestmark = pytest.mark.slow

TURN_MS = 120_000
"""Longest wait for the engine's reply (a cold offline engine takes ~3-10 s; CI machines are slower)."""
FOREIGN = "http://attacker.example"
REQUEST = "Tell me a long story about a brave little boat."  # a long spoken answer, no tool


async def test_speech_over_a_typed_turns_reply_truncates_it_where_the_page_stopped_playing(
    real_engine: Any, config: ServerConfig, mcp_url: str, tmp_path: Path
) -> None:
    speech = silence(300) + synthesize("Hold on, stop there please.", voice="piper") + silence(1500)
    microphone = write_wav(tmp_path / "over.wav", speech)
    transcript = Transcript(tmp_path, title="Page barge-in")
    async with serve_engine(real_engine) as engine_url:
        client = Config.from_env(
            {
                "REALTIME_URL": engine_url + "/realtime",
                "MCP_SERVER_URL": mcp_url,
                "WORKING_DIRECTORY": str(config.workspace_dir),
                "TRANSCRIPTION_MODEL": "whisper-1",
            }
        )
        async with (
            McpTools(client) as tools,
            conversation_page(client, tools, transcript) as url,
            launch_chromium(microphone) as chromium,
        ):
            async with httpx.AsyncClient() as http:
                policy = (await http.get(url)).headers["content-security-policy"]
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url.replace("http://", "ws://") + "ws", origin=FOREIGN):  # type: ignore[arg-type]
                    pass
            page, problems = await open_page(chromium, url + "?processing=off")
            await page.get_by_label("Message").fill(REQUEST)
            await page.get_by_role("button", name="Send").click()
            await page.locator("#transcript li.user", has_text=REQUEST).wait_for()
            await page.wait_for_function("() => window.assistantPage.playedSamples > 24000", timeout=TURN_MS)
            await page.get_by_role("button", name="Start").click()  # the microphone: speech 0.3 s from now
            await page.wait_for_function("() => window.assistantPage.cleared.length >= 1", timeout=15_000)
            played_ms = (await page.evaluate("() => window.assistantPage.cleared"))[0]
            tools_called = await page.locator("#transcript li.tool").all_inner_texts()
    notes = re.findall(r"user interrupted after (\d+) ms of the reply", transcript.path.read_text(encoding="utf-8"))
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert refused.value.response.status_code == 403
    assert tools_called == []  # one reply item, which the page's count starts with
    assert len(notes) == 1 and played_ms > 1000
    assert abs(int(notes[0]) - played_ms) <= 50  # the truncate's audio_end_ms is the note's number
    assert problems == [], problems
