"""The page through the offline engine (no stand-ins): two spoken requests from the page's microphone (a WAV file
of piper speech as Chromium's fake microphone). The first loads a script: the page shows the call and the script's
stage, and the spoken reply plays in the page. The second creates a file: the document view shows it rendered
within 2 s of the tool's result, and hostile markdown added to it later by another MCP client is shown as text."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from local_realtime.server import serve_engine
from mcp_server.config import Config as ServerConfig
from tests.speech_audio import silence, synthesize, write_wav
from tests.voice_client.web.conftest import conversation_page, launch_chromium, open_page
from tests.voice_client.web.test_page import HOSTILE_NOTE
from voice_client.config import Config
from voice_client.tools import McpTools

pytestmark = pytest.mark.slow

TURN_MS = 120_000
"""Longest wait for the spoken turn (a cold offline engine takes ~3-10 s; CI machines are slower)."""
GAP_MS = 20_000
"""Silence between the two requests: time for the first turn and its reply."""
CREATE = (
    "Create a new file named Honeybees with the heading Honeybees "
    "and one paragraph saying bees make honey from flower nectar."
)


async def test_a_spoken_request_in_the_page_loads_the_script_and_the_reply_plays_there(
    real_engine: Any, config: ServerConfig, mcp_url: str, tmp_path: Path
) -> None:
    speech = (
        silence(500)
        + synthesize("Please load the blog writer script.", voice="piper")
        + silence(GAP_MS)
        + synthesize(CREATE, voice="piper")
        + silence(1500)
    )
    microphone = write_wav(tmp_path / "request.wav", speech)
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
            conversation_page(client, tools) as url,
            launch_chromium(microphone) as chromium,
        ):
            page, problems = await open_page(chromium, url + "?processing=off")  # Whisper hears the file as is
            await page.get_by_role("button", name="Start").click()
            await page.locator("#transcript li.tool.ok", has_text="load_script").wait_for(timeout=TURN_MS)
            await page.locator("#stages li.current").wait_for()
            heard = await page.locator("#transcript li.user").all_inner_texts()
            script = await page.locator("#script-name").inner_text()
            await page.wait_for_function("() => window.assistantPage.playedSamples > 0", timeout=TURN_MS)
            await page.locator("#transcript li.assistant").first.wait_for(timeout=TURN_MS)
            created = page.locator("#transcript li.tool.ok", has_text="file_operation")
            await created.wait_for(timeout=GAP_MS + TURN_MS)
            result_at = time.monotonic()
            await page.locator("#document h1", has_text="Honeybees").wait_for(timeout=2000)
            document_after_s = time.monotonic() - result_at
            paragraph = await page.locator("#document p").first.inner_text()
            sent = await page.evaluate("() => window.assistantPage.microphoneSamples")
            # The file now followed gets hostile markdown from another MCP client: shown as text, nothing runs.
            path = await page.locator("#document-path").inner_text()
            async with Client(streamable_http_client(mcp_url)) as other:
                hostile = {"operation": "append", "filename": path, "content": HOSTILE_NOTE}
                await other.call_tool("file_operation", hostile)
            await page.locator("#document", has_text="<script>window.pwned = 1</script>").wait_for(timeout=2000)
            active = await page.locator("#document script, #document img, #document a").count()
            pwned = await page.evaluate("() => window.pwned")
    assert heard and "blog writer" in heard[0].lower()
    assert "stage 1 of" in script
    assert sent > 0
    assert document_after_s < 2.0
    assert "honey" in paragraph.lower()
    assert active == 0 and pwned is None
    assert problems == [], problems
