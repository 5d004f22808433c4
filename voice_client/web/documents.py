"""The workspace files the assistant writes, rendered for the page and kept current by the MCP server.

A file enters the page when a tool result names it as changed (`ToolOutcome.changed`); from then on it is
followed through the server's `workspace://<path>` resource updates (`subscriptions/listen`), never by reading
the disk. Markdown is rendered here with markdown-it-py's `js-default` preset: raw HTML in a file is shown as
text and `javascript:` links are not made, so a file cannot run code in the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from markdown_it import MarkdownIt
from mcp import MCPError
from mcp.client.subscriptions import ListenNotSupportedError

from voice_client.tools import McpTools, reconnect_delays
from voice_client.web.tab import Tab

logger = logging.getLogger(__name__)

SCHEME = "workspace://"
"""Contract with the MCP server: each workspace file is the resource `workspace://<path>`."""


def render(markdown: str) -> str:
    """HTML for `markdown`, with raw HTML escaped (markdown-it-py `js-default`: tables and strikethrough on)."""
    return MarkdownIt("js-default").render(markdown)


class Documents:
    """Followed workspace files; `run()` keeps the page's document view current until cancelled.

    Messages to the page: `document.updated{path, html}` and `document.removed{path}`.
    """

    def __init__(self, tools: McpTools, tab: Tab) -> None:
        self._tools = tools
        self._tab = tab
        self._followed: dict[str, None] = {}  # ordered set of workspace paths
        self._fresh: list[str] = []  # followed, not yet read
        self._grown = asyncio.Event()
        self._reads: asyncio.Queue[str] = asyncio.Queue()

    def changed(self, paths: list[str]) -> None:
        """A tool call changed `paths` (relative to the workspace): follow the new ones from now on."""
        new = [path for path in paths if path not in self._followed]
        for path in new:
            self._followed[path] = None
            self._fresh.append(path)
        if new:
            self._grown.set()

    async def run(self) -> None:
        """Subscribe to the followed files and send each one to the page whenever the server says it changed."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._read_forever())
            await self._listen_forever()

    async def _listen_forever(self) -> None:
        delays = reconnect_delays()
        while True:
            if not self._followed:
                await self._grown.wait()
            self._grown.clear()
            listening = asyncio.create_task(self._listen(list(self._followed)))
            grown = asyncio.create_task(self._grown.wait())
            try:
                await asyncio.wait({listening, grown}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (listening, grown):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if grown.cancelled():  # the subscription ended by itself (the MCP connection went): wait, then again
                error = None if listening.cancelled() else listening.exception()
                logger.info("document updates stopped (%s); subscribing again", error or "stream ended")
                await asyncio.sleep(next(delays))
            else:
                delays = reconnect_delays()

    async def _listen(self, paths: list[str]) -> None:
        try:
            async with (
                self._tools.resource_updates([SCHEME + path for path in paths]) as stream,
                contextlib.aclosing(stream) as updates,
            ):
                fresh, self._fresh = self._fresh, []
                for path in fresh:  # read after the subscription holds: no change can fall between
                    self._reads.put_nowait(path)
                async for uri in updates:
                    if uri.startswith(SCHEME):
                        self._reads.put_nowait(uri.removeprefix(SCHEME))
        except ListenNotSupportedError:
            logger.warning("the MCP server cannot send resource updates; the document view shows first versions")
            for path in self._fresh:
                self._reads.put_nowait(path)
            self._fresh = []
            await asyncio.Event().wait()  # until more files are followed

    async def _read_forever(self) -> None:
        while True:
            path = await self._reads.get()
            try:
                text = await self._tools.read_text(SCHEME + path)
            except MCPError as exc:
                logger.info("workspace file %s is gone (%s)", path, exc.error.message)
                self._tab.send({"type": "document.removed", "path": path}, remember=f"document:{path}")
                continue
            html = await asyncio.to_thread(render, text)  # a long file must not stall the audio
            self._tab.send({"type": "document.updated", "path": path, "html": html}, remember=f"document:{path}")
