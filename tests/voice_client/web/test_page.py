"""The page against the wire-level Realtime peer (the cloud path) and the real MCP server, in headless Chromium:
a typed turn and its reply (played in the page), the tool call, the document rendered and kept current from the
server's resource updates, a hostile workspace file shown as text, and Stop truncating where the page stopped."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.realtime_peer import (
    RealtimePeer,
    Step,
    audio_message,
    function_call,
    response_created,
    response_done,
    session_created,
    session_updated,
    speech_started,
)
from tests.speech_audio import silence, synthesize, write_wav
from tests.voice_client.web.conftest import conversation_page, launch_chromium, open_page
from voice_client.config import Config
from voice_client.tools import McpTools

HOSTILE_NOTE = (
    "# Heating\n\nCall the plumber on Monday.\n\n"
    "<script>window.pwned = 1</script>\n\n"
    '<img src="x" onerror="window.pwned = 2">\n\n'
    "[a link](javascript:window.pwned=3)\n"
)
IGNORED = {"input_audio_buffer.append", "session.update"}


def tone(ms: int, hz: float = 440.0) -> bytes:
    """PCM16 mono 24 kHz: a sine at half scale."""
    t = np.arange(ms * 24) / 24_000
    return (np.sin(2 * np.pi * hz * t) * 16_000).astype("<i2").tobytes()


def typed_text(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event["item"].get("content", [{}])[0].get("text") == text


def audio_reply(response_id: str, item_id: str, audio_ms: int, words: str) -> list[dict[str, Any]]:
    chunks = [tone(100) for _ in range(audio_ms // 100)]
    return [
        response_created(response_id),
        *audio_message(response_id, item_id, chunks, words),
        response_done(response_id),
    ]


async def test_a_typed_turn_shows_the_tool_call_the_document_and_the_reply(
    client_config: Callable[..., Config], mcp_url: str, chromium: Any
) -> None:
    arguments = json.dumps({"operation": "write", "filename": "heating.md", "content": HOSTILE_NOTE})
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create", where=typed_text("Write my heating note")),
        Step(
            "response.create",
            send=[
                response_created("r1"),
                *function_call("r1", "call_1", "file_operation", arguments, 0),
                *function_call("r1", "call_2", "load_script", json.dumps({"script_name": "blog_writer"}), 1),
                response_done("r1"),
            ],
        ),
        Step("conversation.item.create", where=lambda e: e["item"]["type"] == "function_call_output"),
        Step("conversation.item.create", where=lambda e: e["item"]["type"] == "function_call_output"),
        Step("response.create", send=audio_reply("r2", "item_r2", 600, "I wrote heating.md for you.")),
    ]
    async with RealtimePeer(script, ignore=IGNORED) as peer:
        config = client_config(peer.url, mcp_url)
        async with McpTools(config) as tools, conversation_page(config, tools) as url:
            page, problems = await open_page(chromium, url)
            assert await page.get_by_role("button", name="Start").is_visible()
            await page.get_by_label("Message").fill("Write my heating note")
            await page.get_by_role("button", name="Send").click()

            tool = page.locator("#transcript li.tool.ok", has_text="file_operation")
            await tool.wait_for()
            shown_at = time.monotonic()
            await page.locator("#document h1", has_text="Heating").wait_for(timeout=2000)
            assert time.monotonic() - shown_at < 2.0
            assert "file_operation" in await tool.locator("summary").inner_text()
            await tool.locator("summary").click()  # the entry expands to its arguments and result
            assert "heating.md" in await tool.locator("pre.arguments").inner_text()
            assert '"changed"' in await tool.locator("pre.result").inner_text()
            assert "Call the plumber on Monday." in await page.locator("#document p").first.inner_text()

            document = await page.locator("#document").inner_text()
            assert "<script>window.pwned = 1</script>" in document  # shown as text
            assert 'onerror="window.pwned = 2"' in document
            assert await page.locator("#document script, #document img, #document a").count() == 0
            assert await page.evaluate("() => window.pwned") is None

            await page.locator("#transcript li.assistant", has_text="I wrote heating.md for you.").wait_for()
            await page.wait_for_function("() => window.assistantPage.playedSamples >= 600 * 24")
            await page.locator("#transcript li.tool.ok", has_text="load_script").wait_for()
            assert await page.locator("#stages li.current").inner_text() == "discovery"
            assert await page.locator("#stages li").count() > 1
            assert "Blog" in await page.locator("#script-name").inner_text()
            await page.locator("#latency", has_text="last reply after").wait_for()
            await peer.finished()

            # Another MCP client appends to the file: the server's resource update alone brings it to the page.
            async with Client(streamable_http_client(mcp_url)) as other:
                await other.call_tool(
                    "file_operation", {"operation": "append", "filename": "heating.md", "content": "Second line."}
                )
            await page.locator("#document p", has_text="Second line.").wait_for(timeout=2000)
            assert await page.locator("#transcript li.user").all_inner_texts() == ["Write my heating note"]

            await page.reload()  # a reloaded page gets the conversation so far, the script and the document
            await page.locator("#transcript li.assistant", has_text="I wrote heating.md for you.").wait_for()
            assert await page.locator("#transcript li.user").all_inner_texts() == ["Write my heating note"]
            assert await page.locator("#transcript li.tool.ok").count() == 2
            assert await page.locator("#stages li.current").inner_text() == "discovery"
            await page.locator("#document p", has_text="Second line.").wait_for()
            assert problems == [], problems


async def test_stop_truncates_each_reply_where_the_page_stopped_playing_it(
    client_config: Callable[..., Config], chromium: Any
) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create", where=typed_text("Tell me a long story")),
        Step("response.create", send=audio_reply("r1", "item_story", 5000, "Once upon a time there was a lighthouse.")),
        Step("conversation.item.truncate", where=lambda e: e["item_id"] == "item_story"),
        Step("conversation.item.create", where=typed_text("Another one")),
        Step("response.create", send=audio_reply("r2", "item_two", 5000, "A gull lived on the lighthouse.")),
        Step("conversation.item.truncate", where=lambda e: e["item_id"] == "item_two"),
    ]
    async with RealtimePeer(script, ignore=IGNORED) as peer:
        config = client_config(peer.url)
        async with conversation_page(config, None) as url:
            page, problems = await open_page(chromium, url)
            await page.get_by_label("Message").fill("Tell me a long story")
            await page.get_by_role("button", name="Send").click()
            await page.wait_for_function("() => window.assistantPage.playedSamples > 24000", timeout=10_000)
            await page.get_by_role("button", name="Stop").click()
            await page.wait_for_function("() => window.assistantPage.cleared.length >= 1", timeout=5000)
            first_ms = (await page.evaluate("() => window.assistantPage.cleared"))[0]
            # The second reply starts where the first stopped: its position must not carry the first one's error.
            await page.get_by_label("Message").fill("Another one")
            await page.get_by_role("button", name="Send").click()
            await page.wait_for_function(f"() => window.assistantPage.playedSamples > {(first_ms + 1500) * 24}")
            await page.get_by_role("button", name="Stop").click()
            await page.wait_for_function(f"() => window.assistantPage.cleared.some((ms) => ms > {first_ms})")
            await peer.finished()
            cleared = await page.evaluate("() => window.assistantPage.cleared")
            after = await page.evaluate("() => window.assistantPage.playedSamples")
    first, second = (e["audio_end_ms"] for e in peer.of_type("conversation.item.truncate"))
    second_ms = max(cleared) - first_ms
    assert 1000 <= first_ms < 5000 and 1500 <= second_ms < 5000
    assert abs(first - first_ms) <= 50
    assert abs(second - second_ms) <= 50
    assert after // 24 <= max(cleared) + 1  # nothing played after the stop
    assert problems == []


def is_loud(event: dict[str, Any]) -> bool:
    samples = np.frombuffer(base64.b64decode(event["audio"]), dtype="<i2").astype(np.float64)
    return len(samples) > 0 and float(np.sqrt(np.mean(samples**2))) > 1000


def _story_then_speech_over_it() -> Iterator[Step]:
    """The reply plays; the first loud microphone block over it is the user speaking (the peer's VAD)."""
    yield Step(None, send=[session_created()])
    yield Step("session.update", reply=session_updated)
    yield Step("conversation.item.create", where=typed_text("Tell me a long story"))
    story = audio_reply("r1", "item_story", 8000, "Once upon a time there was a lighthouse.")
    yield Step("response.create", send=story)
    spoke: list[bool] = []
    while not spoke:
        yield Step(
            "input_audio_buffer.append",
            reply=lambda e: [speech_started("item_user")] if is_loud(e) and not spoke.append(True) else [],
        )
    yield Step("conversation.item.truncate", where=lambda e: e["item_id"] == "item_story")


async def test_speaking_over_the_reply_stops_it_where_the_page_stopped_playing_it(
    client_config: Callable[..., Config], tmp_path: Path
) -> None:
    microphone = write_wav(tmp_path / "over.wav", silence(2500) + synthesize("Wait, stop please.") + silence(500))
    async with RealtimePeer(_story_then_speech_over_it(), ignore=IGNORED) as peer:
        config = client_config(peer.url)
        async with conversation_page(config, None) as url, launch_chromium(microphone) as chromium:
            page, problems = await open_page(chromium, url + "?processing=off")
            await page.get_by_label("Message").fill("Tell me a long story")
            await page.get_by_role("button", name="Send").click()
            await page.get_by_role("button", name="Start").click()
            await page.wait_for_function("() => window.assistantPage.cleared.length >= 1", timeout=15_000)
            await peer.finished()
            played_ms = (await page.evaluate("() => window.assistantPage.cleared"))[0]
    truncated_ms = peer.of_type("conversation.item.truncate")[0]["audio_end_ms"]
    assert 1500 <= played_ms < 8000
    assert abs(truncated_ms - played_ms) <= 50
    assert problems == [], problems
