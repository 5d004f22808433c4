"""One MCP server's connection: opened, watched and reopened by its own task, whatever the others do.

One task owns the MCP `Client` (anyio scopes must be entered and left in the same task). It reconnects
when the server restarts, dies or terminates the session, with backoff, for as long as the toolbox lives;
while it is down its tool list is empty. It follows `tools/list_changed` and the server's vocabulary
(`VOCABULARY_URI`); a server that cannot `subscriptions/listen` is polled (its tool list) so that its death is noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx2
import mcp.types as mcp_types
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError
from websockets.client import backoff

from voice_client.toolbox.approvals import Ask, answer_elicitation
from voice_client.toolbox.outcome import VOCABULARY_URI
from voice_client.toolbox.servers import ServerSpec

CLIENT_INFO = mcp_types.Implementation(name="realtime-mcp-assistant-voice", version="0.1.0")
"""How the voice client names itself to MCP servers (not the SDK's default "mcp")."""
RETRYABLE = ("Session terminated", "Connection closed")
"""MCPError messages after which the server cannot have run the call: reconnect and send it again."""

_TRANSPORT_ERRORS = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream)
"""What a stream to a dead server raises (a killed stdio child's pipes)."""

logger = logging.getLogger(__name__)


class ServerDown(ConnectionError):
    """The server is not connected now; its connection keeps retrying in the background."""


def reconnect_delays() -> Iterator[float]:
    """Seconds to wait before each reconnect: websockets' jittered exponential backoff, 0.1 s up to 5 s."""
    return backoff(initial_delay=0.1, min_delay=0.1, max_delay=5.0)


def describe(exc: BaseException) -> str:
    """The innermost cause of a (possibly grouped) transport failure, for a log line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


class Connection:
    """One server, kept connected by `start()` until `close()`; `on_change` runs after its tools (or its
    vocabulary) change, including when it goes down (no tools) and comes back. Our own server's tools
    stay listed while it is down (a call waits for it, up to the call's timeout)."""

    def __init__(
        self,
        spec: ServerSpec,
        on_change: Callable[[], None],
        *,
        connect_timeout_s: float = 15.0,
        poll_interval_s: float = 5.0,
    ) -> None:
        self.spec = spec
        self.tools: list[mcp_types.Tool] = []
        """The server's tools as last listed; empty while it is down."""
        self.vocabulary = ""
        """The server's `VOCABULARY_URI` text ("" if it has none)."""
        self.last_error: BaseException | None = None
        self._on_change = on_change
        self.connect_timeout_s = connect_timeout_s
        """Longest one connect (transport, handshake, first tool list) may take before it is retried."""
        self._poll_interval_s = poll_interval_s
        self._client: Client | None = None
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._closing = False
        self.reported = False
        """Its being down was logged at WARNING (once per outage)."""
        self._owner: asyncio.Task[None] | None = None
        self._asks: list[Ask] = []  # of the calls in flight: a server's own question goes to the newest

    @property
    def up(self) -> bool:
        return self._ready.is_set()

    def start(self) -> None:
        self._owner = asyncio.create_task(self._own(), name=f"mcp-{self.spec.name}")

    async def wait_up(self, timeout_s: float) -> bool:
        """True once connected; False if `timeout_s` passed first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        return self.up

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._owner is not None:
            self._owner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._owner

    async def call(
        self, tool: str, args: dict[str, Any], timeout_s: float, ask: Ask | None = None
    ) -> mcp_types.CallToolResult:
        """Run `tool` once (again after a reconnect if the session was lost before it ran); a question the
        server asks meanwhile (MCP elicitation) goes to `ask` (declined when None).

        Raises:
            ServerDown: the server is not connected.
            MCPError: the server answered with an error (-32001 for its own timeout).
        """
        if ask is not None:
            self._asks.append(ask)
        try:
            return await self._call(tool, args, timeout_s)
        finally:
            if ask is not None:
                self._asks.remove(ask)

    async def _call(self, tool: str, args: dict[str, Any], timeout_s: float) -> mcp_types.CallToolResult:
        if self.spec.own:  # our own server's tools stay registered while it restarts: wait for it
            await self._ready.wait()
        client = self.client()
        try:
            return await client.call_tool(tool, args, read_timeout_seconds=timeout_s)
        except MCPError as exc:
            if not any(m in exc.error.message for m in RETRYABLE):
                raise
            logger.warning("MCP server %s lost the session (%s); reconnecting", self.spec.name, exc.error.message)
        self._reconnect(client)
        await self._ready.wait()
        return await self.client().call_tool(tool, args, read_timeout_seconds=timeout_s)

    def client(self) -> Client:
        """The connected MCP client.

        Raises:
            ServerDown: the server is not connected now.
        """
        if not self.up or self._client is None:
            raise ServerDown(f"the {self.spec.name} server is not connected")
        return self._client

    def _reconnect(self, client: Client) -> None:
        if self._client is client:
            self._ready.clear()
            self._wake.set()

    async def _own(self) -> None:
        delays = reconnect_delays()
        while not self._closing:
            try:
                async with contextlib.AsyncExitStack() as stack:
                    async with asyncio.timeout(self.connect_timeout_s):  # a server that never answers is retried
                        client = await stack.enter_async_context(await self._open(stack))
                        await self._refresh(client)
                    self._client, delays, self.reported = client, reconnect_delays(), False
                    self._wake.clear()
                    self._ready.set()
                    logger.info("MCP server %s connected (%d tools)", self.spec.name, len(self.tools))
                    self._on_change()
                    watcher = asyncio.create_task(self._watch(client))
                    try:
                        await self._wake.wait()
                    finally:
                        watcher.cancel()
            except Exception as exc:  # boundary: the connection owner survives any transport failure
                self.last_error = exc
            self._went_down()
            if not self._closing:
                delay_s = next(delays)
                level = logging.DEBUG if self.reported else logging.WARNING
                self.reported = True
                reason = describe(self.last_error) if self.last_error else "connection ended"
                name = self.spec.name
                logger.log(level, "MCP server %s is unavailable (%s); retrying in %.1f s", name, reason, delay_s)
                await asyncio.sleep(delay_s)  # a reconnect pause, not a per-call retry

    def _went_down(self) -> None:
        self._ready.clear()
        self._client = None
        if self.tools and not self.spec.own:
            self.tools = []
            self._on_change()

    async def _open(self, stack: contextlib.AsyncExitStack) -> Client:
        spec = self.spec
        options: dict[str, Any] = {
            "message_handler": self._on_message,
            "client_info": CLIENT_INFO,
            "elicitation_callback": self._on_elicit,
        }
        if spec.transport == "stdio":
            command, *args = spec.command
            parameters = StdioServerParameters(command=command, args=args, env=dict(spec.env) or None, cwd=spec.cwd)
            return Client(parameters, **options)
        headers = dict(spec.headers)
        if spec.transport == "sse":
            return Client(sse_client(spec.url, headers=headers, timeout=10, sse_read_timeout=300), **options)
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300), follow_redirects=True)
        )
        return Client(streamable_http_client(spec.url, http_client=http), **options)

    async def _refresh(self, client: Client) -> None:
        tools = (await client.list_tools(cache_mode="bypass")).tools
        changed = [t.model_dump() for t in tools] != [t.model_dump() for t in self.tools]
        self.tools = tools
        vocabulary = await self._read_vocabulary(client) if self.spec.own else ""  # a contract of ours alone
        changed = changed or vocabulary != self.vocabulary
        self.vocabulary = vocabulary
        if changed and self.up:
            self._on_change()

    async def _read_vocabulary(self, client: Client) -> str:
        try:
            result = await client.read_resource(VOCABULARY_URI, cache_mode="bypass")
        except MCPError:  # a server without one (resources/read unknown, or no such resource)
            return ""
        return "".join(c.text for c in result.contents if isinstance(c, mcp_types.TextResourceContents)).strip()

    async def _watch(self, client: Client) -> None:
        """Follow tool-list and vocabulary changes; however the stream or the polling ends, reconnect."""
        try:
            resources = [VOCABULARY_URI] if self.spec.own else []
            async with client.listen(tools_list_changed=True, resource_subscriptions=resources) as subscription:
                await self._refresh(client)  # what changed before the server listened for us
                async for _event in subscription:  # ToolsListChanged or ResourceUpdated: both re-read
                    await self._refresh(client)
        except ListenNotSupportedError:
            logger.debug("MCP server %s predates subscriptions/listen; polling it instead", self.spec.name)
            await self._poll_forever(client)
        except (MCPError, RuntimeError, OSError, *_TRANSPORT_ERRORS) as exc:
            logger.info("MCP server %s change stream ended (%s)", self.spec.name, type(exc).__name__)
        finally:
            if not self._closing:
                self._reconnect(client)

    async def _poll_forever(self, client: Client) -> None:
        """Re-list the tools every `poll_interval_s` (`ping` is deprecated as of 2026-07-28); returns when the
        server stops answering (a dead stdio child, a stopped HTTP server)."""
        while True:
            await asyncio.sleep(self._poll_interval_s)
            try:
                async with asyncio.timeout(max(self._poll_interval_s, 2.0)):
                    await self._refresh(client)
            except (MCPError, TimeoutError, OSError, RuntimeError, *_TRANSPORT_ERRORS) as exc:
                logger.info("MCP server %s stopped answering (%s)", self.spec.name, describe(exc))
                return

    async def _on_elicit(
        self, context: object, params: mcp_types.ElicitRequestParams
    ) -> mcp_types.ElicitResult | mcp_types.ErrorData:
        return await answer_elicitation(params, self._asks[-1] if self._asks else None)

    async def _on_message(self, message: object) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification) and self._client is not None:
            await self._refresh(self._client)
