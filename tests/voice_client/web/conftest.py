"""The page in a real headless Chromium (Debian's `chromium`, driven by Playwright without a browser download),
with the conversation's front end served on 127.0.0.1 and a free port."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from voice_client.config import Config
from voice_client.front_end import FrontEnd
from voice_client.plain_view import PlainView
from voice_client.tools import McpTools
from voice_client.transcript import Transcript
from voice_client.web.page import WebOptions

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",  # grant the microphone
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


class NotingView(PlainView):
    """Plain lines that also keep the notes, so a test learns the page's address from what is printed."""

    def __init__(self) -> None:
        super().__init__(labelled=True)
        self.notes: list[str] = []
        self.noted = asyncio.Event()

    def note(self, text: str) -> None:
        super().note(text)
        self.notes.append(text)
        self.noted.set()


@contextlib.asynccontextmanager
async def conversation_page(
    config: Config, tools: McpTools | None, transcript: Transcript | None = None
) -> AsyncIterator[str]:
    """`FrontEnd.talk` with `--web` on a free port, as `python -m voice_client --web` runs it (writing `transcript`,
    if given); yields the page's URL and stops the conversation (as Ctrl-C does) when the block ends."""
    view = NotingView()
    front = FrontEnd(view, web=WebOptions(port=0), mode="web")
    talking = asyncio.create_task(front.talk(config, tools, transcript))
    url = None
    async with asyncio.timeout(20):
        while url is None:
            waiter = asyncio.create_task(view.noted.wait())
            await asyncio.wait({waiter, talking}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if talking.done():
                talking.result()
            view.noted.clear()
            found = [m.group(0) for note in view.notes if (m := re.search(r"http://\S+", note))]
            url = found[0] if found else None
    try:
        yield url
    finally:
        talking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await talking


@contextlib.asynccontextmanager
async def launch_chromium(microphone: Path | None = None) -> AsyncIterator[Any]:
    """A headless Chromium (Playwright's async API over the system browser); `microphone`, a WAV file, is what
    its microphone hears, once, then silence. Skips the test where Chromium or Playwright is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make system-deps installs it)")
    playwright_api = pytest.importorskip("playwright.async_api")
    flags = list(CHROMIUM_FLAGS)
    if microphone is not None:
        flags.append(f"--use-file-for-fake-audio-capture={microphone}%noloop")
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium whose microphone is Chromium's fake device."""
    async with launch_chromium() as browser:
        yield browser


async def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A new page on `url`, connected; returns it and the list its console errors and page errors go to."""
    page = await browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    await page.goto(url)
    await page.wait_for_function("() => window.assistantPage && window.assistantPage.connection === 'connected'")
    return page, problems
