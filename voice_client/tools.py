"""The MCP bridge: the server's tools as Realtime function tools, and forwarding one call.

One task owns the MCP `Client` (anyio scopes must be entered and left in the same task); it
reconnects when the server restarts or the session is terminated, and watches `tools/list_changed` and the
server's vocabulary (`VOCABULARY_URI`, the words its user is likely to say: the transcription prompt).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import mcp.types as mcp_types
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError
from mcp.shared.subscriptions import ResourceUpdated
from websockets.client import backoff

from voice_client.config import Config

CLIENT_INFO = mcp_types.Implementation(name="realtime-mcp-assistant-voice", version="0.1.0")
"""How the voice client names itself to the MCP server (not the SDK's default "mcp")."""

logger = logging.getLogger(__name__)

INSTRUCTIONS_KEY = "instructions"
"""Contract with the MCP server (README, "Architecture"): a tool result whose structured content has a
non-empty string under this key replaces the Realtime session's instructions (a script's coach)."""
CHANGED_KEY = "changed"
"""Contract: the workspace paths a successful call created, changed or removed, for the live file view."""
SCRIPT_KEYS = ("script_name", "current_stage", "stage_number")
"""Contract: a result carrying `script_name` reports the active script, its stage and the stage's number."""
VOCABULARY_URI = "assistant://vocabulary"
"""Contract: a resource whose text is the words the user is likely to say (the library's titles, names and rare
words, the script's terms), updated when they change: the session's transcription prompt. A server without it
gives none."""

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_RETRYABLE = ("Session terminated", "Connection closed")
"""MCPError messages after which the server cannot have run the call: reconnect and send it again."""
_MAX_TEXT = 1000
"""Longest string the model gets back per field; the screen (`on_tool_result`) gets everything."""


@dataclass(frozen=True)
class ToolOutcome:
    """What one tool call produced."""

    output: str
    """The `function_call_output` text the model reads (a short JSON summary or an error)."""
    structured: dict[str, Any] | None
    """The full structured result, for a UI; None on errors or text-only results."""
    is_error: bool
    duration_s: float
    """Wall time of the MCP call itself."""

    @property
    def instructions(self) -> str | None:
        """New session instructions the result carries (`INSTRUCTIONS_KEY`), or None."""
        value = (self.structured or {}).get(INSTRUCTIONS_KEY)
        return value if isinstance(value, str) and value.strip() else None

    @property
    def changed(self) -> list[str]:
        """Workspace paths the call changed (`CHANGED_KEY`); empty for reads, listings and failures."""
        value = (self.structured or {}).get(CHANGED_KEY) if not self.is_error else None
        return [str(path) for path in value] if isinstance(value, list) else []

    @property
    def script_stage(self) -> tuple[str | None, str | None, int | None] | None:
        """(script name or None, stage name, stage number) when the result reports the script (`SCRIPT_KEYS`)."""
        result = self.structured or {}
        if self.is_error or SCRIPT_KEYS[0] not in result or result.get("success") is False:
            return None
        name, stage, number = (result.get(key) for key in SCRIPT_KEYS)
        return name, stage, number if isinstance(number, int) else None


def failure(message: str, duration_s: float = 0.0) -> ToolOutcome:
    """An outcome telling the model what went wrong."""
    return ToolOutcome(json.dumps({"error": message}), None, True, duration_s)


def realtime_tool(tool: mcp_types.Tool) -> dict[str, Any]:
    """One MCP tool as a flat Realtime function tool (the schema made acceptable to the API)."""
    schema = {k: v for k, v in dict(tool.input_schema or {}).items() if k not in ("$schema", "title")}
    schema["type"] = "object"
    schema.setdefault("properties", {})
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description or tool.title or tool.name,
        "parameters": schema,
    }


def summarize(structured: dict[str, Any]) -> str:
    """JSON for the model: long strings and lists clipped; the full value goes to the screen.

    `instructions` are left out: the session applies them as its instructions (see `ToolOutcome`).
    """

    def clip(value: Any) -> Any:
        if isinstance(value, str) and len(value) > _MAX_TEXT:
            return value[:_MAX_TEXT] + f"... ({len(value) - _MAX_TEXT} more characters shown on screen)"
        if isinstance(value, list):
            return [clip(v) for v in value[:20]] + ([f"... {len(value) - 20} more"] if len(value) > 20 else [])
        if isinstance(value, dict):
            return {k: clip(v) for k, v in value.items() if v is not None}
        return value

    shown = {k: v for k, v in structured.items() if k != INSTRUCTIONS_KEY}
    if INSTRUCTIONS_KEY in structured:
        shown[INSTRUCTIONS_KEY] = "(now your session instructions)"
    return json.dumps(clip(shown), ensure_ascii=False)


def _outcome(result: mcp_types.CallToolResult, duration_s: float) -> ToolOutcome:
    """What the model reads: the tool's own text when it wrote one for the model (not just its structured
    result as JSON, which is summarised instead); the structured result goes to the screen either way."""
    text = "\n".join(b.text for b in result.content if isinstance(b, mcp_types.TextContent))
    if result.is_error:
        return failure(text or "the tool failed without a message", duration_s)
    structured = result.structured_content
    written_for_model = bool(text.strip()) and not text.lstrip().startswith(("{", "["))
    if isinstance(structured, dict) and not written_for_model:
        return ToolOutcome(summarize(structured), structured, False, duration_s)
    return ToolOutcome(text[: _MAX_TEXT * 4], structured if isinstance(structured, dict) else None, False, duration_s)


def reconnect_delays() -> Iterator[float]:
    """Seconds to wait before each reconnect: websockets' jittered exponential backoff, 0.1 s up to 5 s."""
    return backoff(initial_delay=0.1, min_delay=0.1, max_delay=5.0)


def _describe(exc: BaseException) -> str:
    """The innermost cause of a (possibly grouped) transport failure, for a log line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


class McpTools:
    """The MCP server's tools, usable as `async with McpTools(config) as tools`.

    Raises (on enter):
        ConnectionError: if the MCP server cannot be reached at start-up.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._client: Client | None = None
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._closing = False
        self._definitions: list[dict[str, Any]] = []
        self._changes: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(maxsize=1)
        self._vocabulary = ""
        self._vocabularies: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        self._owner: asyncio.Task[None] | None = None
        self._startup_error: BaseException | None = None
        self._client_id = uuid.uuid4().hex

    @property
    def definitions(self) -> list[dict[str, Any]]:
        """Realtime function tools, one per MCP tool, names unchanged."""
        return list(self._definitions)

    @property
    def vocabulary(self) -> str:
        """The server's `VOCABULARY_URI` text ("" if it has none)."""
        return self._vocabulary

    async def __aenter__(self) -> McpTools:
        self._owner = asyncio.create_task(self._own(), name="mcp-client")
        try:
            async with asyncio.timeout(self._config.mcp_connect_timeout_s):
                await self._ready.wait()
        except TimeoutError:
            await self.__aexit__(None, None, None)
            reason = _describe(self._startup_error) if self._startup_error else "timeout"
            raise ConnectionError(f"cannot reach the MCP server at {self._config.mcp_url} ({reason})") from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        self._wake.set()
        if self._owner is not None:
            self._owner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._owner

    async def changes(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The new tool definitions each time the server's tool list changes."""
        while True:
            yield await self._changes.get()

    async def vocabulary_changes(self) -> AsyncIterator[str]:
        """The new vocabulary each time the server's changes."""
        while True:
            yield await self._vocabularies.get()

    async def read_text(self, uri: str) -> str:
        """The text of resource `uri` (e.g. `workspace://notes.md`), read now, never from a cache.

        Raises:
            MCPError: the server has no such resource (a deleted file).
        """
        client = await self._connected()
        result = await client.read_resource(uri, cache_mode="bypass")
        return "".join(c.text for c in result.contents if isinstance(c, mcp_types.TextResourceContents))

    @contextlib.asynccontextmanager
    async def resource_updates(self, uris: Sequence[str]) -> AsyncIterator[AsyncGenerator[str, None]]:
        """Subscribe to `uris`; entering waits for the server's acknowledgement, then yields an iterator of the
        URI of each update (it ends when the MCP connection does: subscribe again).

        Raises:
            MCPError, ListenNotSupportedError or RuntimeError: the server cannot listen now.
        """
        client = await self._connected()
        async with client.listen(resource_subscriptions=list(uris)) as subscription:

            async def updates() -> AsyncGenerator[str, None]:
                async for event in subscription:
                    if isinstance(event, ResourceUpdated):
                        yield str(event.uri)

            yield updates()

    async def call(self, name: str, arguments: str) -> ToolOutcome:
        """Run tool `name` with JSON `arguments`; every failure becomes an outcome the model can read."""
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            return failure(f"arguments are not valid JSON ({exc}); send a JSON object")
        if not isinstance(args, dict):
            return failure("arguments must be a JSON object")
        known = [d["name"] for d in self._definitions]
        if name not in known:
            return failure(f"no tool named {name!r}; available: {', '.join(known)}")
        started = time.perf_counter()
        timeout_s = self._config.tool_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                result = await self._call_once(name, args, timeout_s)
        except TimeoutError:
            if not self._ready.is_set():
                return failure(f"the tool server is unreachable (tried for {timeout_s:g} s); try again later")
            return failure(f"{name} timed out after {timeout_s:g} s", time.perf_counter() - started)
        except MCPError as exc:
            elapsed = time.perf_counter() - started
            if exc.error.code == mcp_types.REQUEST_TIMEOUT:
                return failure(f"{name} timed out after {timeout_s:g} s", elapsed)
            logger.warning("tool %s failed: %s", name, exc.error.message)
            return failure(f"{name} failed: {exc.error.message}", elapsed)
        except Exception as exc:  # boundary: one tool call must never end the session
            logger.exception("tool %s crashed", name)
            return failure(f"{name} failed: {type(exc).__name__}", time.perf_counter() - started)
        return _outcome(result, time.perf_counter() - started)

    async def _call_once(self, name: str, args: dict[str, Any], timeout_s: float) -> mcp_types.CallToolResult:
        client = await self._connected()
        try:
            return await client.call_tool(name, args, read_timeout_seconds=timeout_s)
        except MCPError as exc:
            if not any(m in exc.error.message for m in _RETRYABLE):
                raise
            logger.warning("MCP session lost (%s); reconnecting", exc.error.message)
        self._reconnect(client)
        client = await self._connected()
        return await client.call_tool(name, args, read_timeout_seconds=timeout_s)

    async def _connected(self) -> Client:
        await self._ready.wait()
        assert self._client is not None
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
                    client = await stack.enter_async_context(await self._open(stack))
                    await self._refresh(client, announce=self._client is not None)
                    self._client, delays = client, reconnect_delays()
                    self._wake.clear()
                    self._ready.set()
                    logger.info("MCP connected (%d tools)", len(self._definitions))
                    watcher = asyncio.create_task(self._watch(client))
                    try:
                        await self._wake.wait()
                    finally:
                        watcher.cancel()
            except Exception as exc:  # boundary: the MCP connection owner survives any transport failure
                self._startup_error = exc
                self._ready.clear()
                delay_s = next(delays)
                logger.warning("MCP connection failed (%s); retrying in %.1f s", _describe(exc), delay_s)
                await asyncio.sleep(delay_s)  # a reconnect pause, not a per-call retry

    async def _open(self, stack: contextlib.AsyncExitStack) -> Client:
        config = self._config
        # Our own identity, kept across reconnects: the server keys this user's script state by it (clients
        # that share the SDK's default name would otherwise share one script).
        headers = {"X-Client-Id": self._client_id}
        if config.mcp_auth_token:
            headers["Authorization"] = f"Bearer {config.mcp_auth_token}"
        options: dict[str, Any] = {"message_handler": self._on_message, "client_info": CLIENT_INFO}
        if config.mcp_transport == "stdio":
            command, *args = config.mcp_command
            return Client(StdioServerParameters(command=command, args=args, env=dict(config.mcp_env)), **options)
        if config.mcp_transport == "sse":
            return Client(sse_client(config.mcp_url, headers=headers, timeout=10, sse_read_timeout=300), **options)
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300), follow_redirects=True)
        )
        return Client(streamable_http_client(config.mcp_url, http_client=http), **options)

    async def _refresh(self, client: Client, announce: bool) -> None:
        tools = (await client.list_tools()).tools
        for tool in tools:
            if not _NAME.match(tool.name):
                logger.warning("MCP tool name %r does not fit the Realtime API; skipped", tool.name)
        definitions = [realtime_tool(t) for t in tools if _NAME.match(t.name)]
        changed = definitions != self._definitions
        self._definitions = definitions
        if announce and changed:
            _replace(self._changes, definitions)
        await self._read_vocabulary(client, announce)

    async def _read_vocabulary(self, client: Client, announce: bool) -> None:
        try:
            result = await client.read_resource(VOCABULARY_URI, cache_mode="bypass")
        except MCPError:  # a server without one (resources/read unknown, or no such resource)
            return
        text = "".join(c.text for c in result.contents if isinstance(c, mcp_types.TextResourceContents)).strip()
        changed = text != self._vocabulary
        self._vocabulary = text
        if announce and changed:
            _replace(self._vocabularies, text)

    async def _watch(self, client: Client) -> None:
        """Follow tool-list and vocabulary changes; when the stream ends (server restarted), reconnect the client."""
        try:
            async with client.listen(tools_list_changed=True, resource_subscriptions=[VOCABULARY_URI]) as subscription:
                await self._refresh(client, announce=True)  # what changed before the server listened for us
                async for event in subscription:
                    if isinstance(event, ResourceUpdated):
                        await self._read_vocabulary(client, announce=True)
                    else:
                        await self._refresh(client, announce=True)
        except ListenNotSupportedError:
            logger.debug("server predates subscriptions/listen; relying on list_changed notifications")
            return
        except (MCPError, RuntimeError, OSError) as exc:
            logger.info("MCP change stream ended (%s)", type(exc).__name__)
        if not self._closing:
            self._reconnect(client)

    async def _on_message(self, message: object) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification) and self._client is not None:
            await self._refresh(self._client, announce=True)


def _replace(queue: asyncio.Queue[Any], value: Any) -> None:
    """Put `value` on a one-place queue in place of what is waiting there: only the newest matters."""
    with contextlib.suppress(asyncio.QueueEmpty):
        queue.get_nowait()
    queue.put_nowait(value)
