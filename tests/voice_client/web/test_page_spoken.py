"""A spoken request from the page's microphone on the cloud path: a WAV of piper speech is Chromium's microphone,
and the wire-level Realtime peer plays OpenAI's part (its server VAD hears the page's audio, then it asks for
`load_script`), with the real MCP server running the call. The page shows what was heard, the call and the
script's current stage, and plays the reply."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.realtime_peer import (
    RealtimePeer,
    Step,
    function_call,
    response_created,
    response_done,
    session_created,
    session_updated,
    speech_started,
)
from tests.speech_audio import silence, synthesize, write_wav
from tests.voice_client.web.conftest import conversation_page, launch_chromium, open_page
from tests.voice_client.web.test_page import IGNORED, audio_reply, is_loud
from voice_client.config import Config
from voice_client.tools import McpTools

REQUEST = "Please load the blog writer script."
REPLY = "The blog writer script is loaded. What would you like to write about?"
QUIET_MS = 500
"""Silence after speech that ends the turn, as OpenAI's server VAD waits by default."""


def _spoken_request(loud: list[int]) -> Iterator[Step]:
    """OpenAI's side: speech starts at the first loud block of the page's audio and ends after `QUIET_MS` of
    quiet; the transcript and a `load_script` call follow, then the reply once the call's output is in.
    `loud` gets where (ms into the input audio) each loud block ended."""
    yield Step(None, send=[session_created()])
    yield Step("session.update", reply=session_updated)
    heard_ms = [0]  # audio appended so far, in ms (PCM16 mono 24 kHz: 48 bytes a ms)

    def listen(event: dict[str, Any]) -> list[dict[str, Any]]:
        heard_ms[0] += len(base64.b64decode(event["audio"])) // 48
        if not is_loud(event):
            return []
        loud.append(heard_ms[0])
        return [speech_started("item_u1", heard_ms[0])] if len(loud) == 1 else []

    while not loud or heard_ms[0] - loud[-1] < QUIET_MS:
        yield Step("input_audio_buffer.append", reply=listen)
    yield Step(
        None,
        send=[
            {"type": "input_audio_buffer.speech_stopped", "item_id": "item_u1", "audio_end_ms": heard_ms[0]},
            {"type": "input_audio_buffer.committed", "item_id": "item_u1", "previous_item_id": None},
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": "item_u1",
                "content_index": 0,
                "transcript": REQUEST,
            },
            response_created("r1"),
            *function_call("r1", "call_1", "load_script", json.dumps({"script_name": "blog_writer"})),
            response_done("r1"),
        ],
    )
    yield Step("conversation.item.create", where=lambda e: e["item"]["type"] == "function_call_output")
    yield Step("response.create", send=audio_reply("r2", "item_r2", 600, REPLY))


async def test_a_spoken_request_in_the_page_shows_the_call_and_the_stage_on_the_cloud_path(
    client_config: Callable[..., Config], mcp_url: str, tmp_path: Path
) -> None:
    speech = silence(500) + synthesize(REQUEST, voice="piper") + silence(1500)
    microphone = write_wav(tmp_path / "request.wav", speech)
    loud: list[int] = []
    async with RealtimePeer(_spoken_request(loud), ignore=IGNORED) as peer:
        config = client_config(peer.url, mcp_url)
        async with (
            McpTools(config) as tools,
            conversation_page(config, tools) as url,
            launch_chromium(microphone) as chromium,
        ):
            page, problems = await open_page(chromium, url + "?processing=off")
            await page.get_by_role("button", name="Start").click()
            await page.locator("#transcript li.tool.ok", has_text="load_script").wait_for(timeout=15_000)
            await page.locator("#transcript li.assistant", has_text=REPLY).wait_for()
            await page.wait_for_function("() => window.assistantPage.playedSamples >= 600 * 24")
            await peer.finished()
            heard = await page.locator("#transcript li.user").all_inner_texts()
            stage = await page.locator("#stages li.current").inner_text()
            script = await page.locator("#script-name").inner_text()
    assert loud[-1] - loud[0] > 1000  # the page's microphone carried the spoken request to the peer
    assert heard == [REQUEST]
    assert stage == "discovery" and "stage 1 of 3" in script
    assert problems == [], problems
