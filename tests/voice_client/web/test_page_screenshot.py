"""The page mid-conversation, as a user sees it, saved as `docs/page.png` (the README shows it): two typed turns
against the wire-level Realtime peer and the real MCP server load the blog writer script and write a draft, so the
transcript has both sides and the tool calls, the script its stages and the document view the rendered draft."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.realtime_peer import RealtimePeer, Step, function_call, response_created, response_done, session_updated
from tests.realtime_peer import session_created as created
from tests.voice_client.web.conftest import conversation_page, open_page
from tests.voice_client.web.test_page import IGNORED, audio_reply, typed_text
from voice_client.config import Config
from voice_client.tools import McpTools

SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "page.png"
VIEWPORT = {"width": 1280, "height": 800}
"""CSS pixels of the screenshot (a laptop's screen)."""
REPLY_MS = 300
"""Audio in each reply (a tone)."""
DRAFT = """# Tomatoes on a Small Balcony

A sunny balcony of two square metres can feed you tomatoes from July to the first frost.

## What you need

- two pots of at least 20 litres, with holes in the bottom
- a cherry or bush variety such as 'Tumbling Tom' or 'Balconi Red'
- a bamboo cane and soft string for each plant

## When to plant

Plant out after the last frost, when nights stay above 10 °C. Water at the base every morning in summer.
"""
WRITE = {"operation": "write", "filename": "tomatoes.md", "content": DRAFT}
OPENING = "The blog writer script is loaded. Let's start with discovery: what would you like to write about?"
DRAFTED = "I started tomatoes.md with a title and two sections. What should the next section cover?"


def _call(response_id: str, call_id: str, name: str, arguments: dict[str, str]) -> list[dict[str, Any]]:
    return [
        response_created(response_id),
        *function_call(response_id, call_id, name, json.dumps(arguments, ensure_ascii=False)),
        response_done(response_id),
    ]


def _output(event: dict[str, Any]) -> bool:
    return event["item"]["type"] == "function_call_output"


async def test_the_page_mid_conversation_is_saved_as_a_screenshot(
    client_config: Callable[..., Config], mcp_url: str, chromium: Any
) -> None:
    first = "Please load the blog writer script."
    second = "Tomatoes on a small balcony. Start a draft file for it."
    script = [
        Step(None, send=[created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create", where=typed_text(first)),
        Step("response.create", send=_call("r1", "call_1", "load_script", {"script_name": "blog_writer"})),
        Step("conversation.item.create", where=_output),
        Step("response.create", send=audio_reply("r2", "item_r2", REPLY_MS, OPENING)),
        Step("conversation.item.create", where=typed_text(second)),
        Step("response.create", send=_call("r3", "call_2", "file_operation", WRITE)),
        Step("conversation.item.create", where=_output),
        Step("response.create", send=audio_reply("r4", "item_r4", REPLY_MS, DRAFTED)),
    ]
    async with RealtimePeer(script, ignore=IGNORED) as peer:
        config = client_config(peer.url, mcp_url)
        async with McpTools(config) as tools, conversation_page(config, tools) as url:
            page, problems = await open_page(chromium, url)
            await page.set_viewport_size(VIEWPORT)
            for turn, (words, reply) in enumerate(((first, OPENING), (second, DRAFTED)), 1):
                await page.get_by_label("Message").fill(words)
                await page.get_by_role("button", name="Send").click()
                await page.locator("#transcript li.assistant", has_text=reply).wait_for()
                # typing over a reply would stop it: let it play out first
                await page.wait_for_function(f"() => window.assistantPage.playedSamples >= {turn * REPLY_MS * 24}")
            await peer.finished()
            heading = page.locator("#document h1", has_text="Tomatoes on a Small Balcony")
            await heading.wait_for(timeout=2000)
            written = page.locator("#transcript li.tool.ok", has_text="file_operation")
            await written.locator("summary").click()  # expanded: its arguments and result
            SCREENSHOT.parent.mkdir(exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT))
            shown = await page.locator("body").inner_text()
            visible = {
                name: await locator.is_visible() and await _inside(locator, VIEWPORT["height"])
                for name, locator in {
                    "heading": heading,
                    "stage": page.locator("#stages li.current", has_text="discovery"),
                    "user": page.locator("#transcript li.user", has_text=second),
                    "assistant": page.locator("#transcript li.assistant", has_text=DRAFTED),
                    "tool": written.locator("pre.arguments"),
                }.items()
            }
    assert visible == dict.fromkeys(visible, True), visible  # all of it on the screen the PNG shows
    assert "Ctrl-C" not in shown and "listening to the page" not in shown  # the terminal's hints stay there
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert problems == [], problems


async def _inside(locator: Any, height: int) -> bool:
    """True when the element's box lies within the first `height` CSS pixels of the page (the screenshot)."""
    box = await locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height
