"""Every configured MCP server's tools as one Realtime tool list, and forwarding one call to its server.

`McpTools(config, servers)` opens one `Connection` per enabled server. The assistant's own server (built
from `MCP_SERVER_URL` / `MCP_TRANSPORT`) must answer at start-up; any other may fail, die or time out:
that is logged once, its tools leave the list (`changes()` yields the new list for a `session.update`),
and they come back when its connection does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import mcp.types as mcp_types
from mcp import Client, MCPError
from mcp.shared.subscriptions import ResourceUpdated

from voice_client.toolbox import names
from voice_client.toolbox.approvals import Ask, approval_question
from voice_client.toolbox.connection import Connection, ServerDown, describe
from voice_client.toolbox.outcome import ToolOutcome, failure, outcome_of, realtime_tool
from voice_client.toolbox.servers import OWN_SERVER, ServerSpec

if TYPE_CHECKING:  # config.py reads the servers file with servers.py: no import cycle at run time
    from voice_client.config import Config

logger = logging.getLogger(__name__)

MAX_TOOLS = 100
"""Most tools registered on a session: well under the Realtime API's 128, leaving the model room to choose.
Tools past it (last servers first) are left out, and a warning names them."""


def own_server(config: Config, client_id: str) -> ServerSpec:
    """The assistant's own MCP server as `config` describes it (`MCP_SERVER_URL`, `MCP_TRANSPORT`, ...)."""
    # Our own identity, kept across reconnects: the server keys this user's script state by it.
    headers = {"X-Client-Id": client_id}
    if config.mcp_auth_token:
        headers["Authorization"] = f"Bearer {config.mcp_auth_token}"
    return ServerSpec(
        name=OWN_SERVER,
        transport=config.mcp_transport,
        url=config.mcp_url,
        headers=tuple(headers.items()),
        command=config.mcp_command,
        env=config.mcp_env,
        trusted=True,
        own=True,
    )


def _as_own(spec: ServerSpec, client_id: str) -> ServerSpec:
    """A config file's `assistant` entry: our own server, trusted, its tool names unchanged."""
    return replace(spec, own=True, trusted=True, headers=(("X-Client-Id", client_id), *spec.headers))


class McpTools:
    """The tools of every server, usable as `async with McpTools(config, servers) as tools`.

    Args:
        servers: the servers to use besides our own (`read_servers`); disabled ones are skipped.
            Default: `config.mcp_servers` (`MCP_CONFIG`).
        own: connect the assistant's own server too (required at start-up). Default: `config.mcp_own`.
        poll_interval_s: how often a server that cannot `subscriptions/listen` is polled (its tool list)
            to notice its death.

    Raises (on enter):
        ConnectionError: if our own server cannot be reached within `config.mcp_connect_timeout_s`.
    """

    def __init__(
        self,
        config: Config,
        servers: Sequence[ServerSpec] | None = None,
        *,
        own: bool | None = None,
        poll_interval_s: float = 5.0,
    ) -> None:
        self._config = config
        own = config.mcp_own if own is None else own
        servers = config.mcp_servers if servers is None else servers
        client_id = uuid.uuid4().hex
        listed = [_as_own(s, client_id) if s.name == OWN_SERVER else s for s in servers if s.enabled]
        specs = ([own_server(config, client_id)] if own else []) + listed
        if len({s.name for s in specs}) != len(specs):
            raise ValueError(f"two servers share a name: {', '.join(s.name for s in specs)}")
        self._connections = [
            Connection(
                spec,
                self._changed,
                connect_timeout_s=spec.connect_timeout_s or config.mcp_connect_timeout_s,
                poll_interval_s=poll_interval_s,
            )
            for spec in specs
        ]
        self._routes: dict[str, tuple[Connection, mcp_types.Tool]] = {}
        self._definitions: list[dict[str, Any]] = []
        self.left_out: list[str] = []
        """`server/tool` names not registered because of `MAX_TOOLS`."""
        self._changes: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(maxsize=1)
        self._vocabularies: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        self._vocabulary = ""
        self._started = False
        self._reads: set[asyncio.Task[ToolOutcome]] = set()  # read-only calls running: `interrupt` stops them

    @property
    def definitions(self) -> list[dict[str, Any]]:
        """Realtime function tools of every connected server, under their public names (`names.py`)."""
        return list(self._definitions)

    @property
    def vocabulary(self) -> str:
        """Our own server's `VOCABULARY_URI` text ("" if it has none or is not connected)."""
        return self._vocabulary

    def route(self, name: str) -> tuple[str, str] | None:
        """(server name, real tool name) behind public tool `name`, or None."""
        found = self._routes.get(name)
        return (found[0].spec.name, found[1].name) if found else None

    async def __aenter__(self) -> McpTools:
        for connection in self._connections:
            connection.start()
        waits = [c.wait_up(c.connect_timeout_s) for c in self._connections]
        ups = await asyncio.gather(*waits)
        for connection, up in zip(self._connections, ups, strict=True):
            if up:
                continue
            reason = describe(connection.last_error) if connection.last_error else "timeout"
            if connection.spec.own:
                await self.__aexit__(None, None, None)
                where = connection.spec.url or " ".join(connection.spec.command)
                raise ConnectionError(f"cannot reach the MCP server at {where} ({reason})")
            if not connection.reported:  # one line per outage: the connection may have said it already
                connection.reported = True
                logger.warning("MCP server %s did not start (%s); going on without it", connection.spec.name, reason)
        self._started = True
        self._changed(announce=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for connection in self._connections:
            await connection.close()

    async def changes(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The full new tool list each time any server's tools change, leave or come back."""
        while True:
            yield await self._changes.get()

    async def vocabulary_changes(self) -> AsyncIterator[str]:
        """Our own server's new vocabulary each time it changes."""
        while True:
            yield await self._vocabularies.get()

    def _changed(self, announce: bool = True) -> None:
        """Rebuild the tool list from every connection's tools; queue it when it differs."""
        pairs = []
        tools: dict[tuple[str, str], tuple[Connection, mcp_types.Tool]] = {}
        for connection in self._connections:
            spec = connection.spec
            for tool in connection.tools:  # in the server's order: a small model's choice of tool depends on it
                allowed = spec.allowed_tools is None or tool.name in spec.allowed_tools
                if not allowed or tool.name in spec.disabled_tools:
                    continue
                pairs.append((spec.name, tool.name, spec.own))
                tools[spec.name, tool.name] = (connection, tool)
        assigned = list(names.assign(pairs).items())
        kept, dropped = assigned[:MAX_TOOLS], assigned[MAX_TOOLS:]
        left_out = [f"{server}/{tool}" for _, (server, tool) in dropped]
        if left_out and left_out != self.left_out:
            shown = ", ".join(left_out)
            logger.warning("%d tools left out (the session takes %d at most): %s", len(left_out), MAX_TOOLS, shown)
        self.left_out = left_out
        self._routes = {name: tools[key] for name, key in kept}
        definitions = [realtime_tool(tool, name, c.spec.description) for name, (c, tool) in self._routes.items()]
        vocabulary = next((c.vocabulary for c in self._connections if c.spec.own), "")
        if not self._started:
            self._definitions, self._vocabulary = definitions, vocabulary
            return
        if definitions != self._definitions:
            self._definitions = definitions
            if announce:
                _replace(self._changes, definitions)
        if vocabulary != self._vocabulary:
            self._vocabulary = vocabulary
            if announce:
                _replace(self._vocabularies, vocabulary)

    async def call(self, name: str, arguments: str, ask: Ask | None = None) -> ToolOutcome:
        """Run public tool `name` with JSON `arguments` on its server; every failure becomes an outcome the
        model can read.

        Args:
            ask: how to get the user's yes where the call needs one (`approvals.py`); a "no" returns a
                declined outcome and the tool never runs. None: the application itself makes the call
                (a script loaded by `--script`), so nothing is asked.
        """
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            return failure(f"arguments are not valid JSON ({exc}); send a JSON object")
        if not isinstance(args, dict):
            return failure("arguments must be a JSON object")
        found = self._routes.get(name)
        if found is None:
            return failure(self._unknown(name))
        connection, tool = found
        question = await approval_question(connection, tool, args) if ask is not None else None
        if ask is not None and question is not None and not await ask(question):
            logger.info("user declined %s of %s", tool.name, connection.spec.name)
            return declined(tool.name)
        if self.writes(name):
            return await self._forward(connection, tool.name, args, ask)
        return await self._stoppable(connection, tool.name, args, ask)

    async def read_text(self, uri: str) -> str:
        """The text of our own server's resource `uri` (e.g. `workspace://notes.md`), read now, never from a cache;
        waits while the server is away.

        Raises:
            MCPError: the server has no such resource (a deleted file).
        """
        client = await self._own_client()
        result = await client.read_resource(uri, cache_mode="bypass")
        return "".join(c.text for c in result.contents if isinstance(c, mcp_types.TextResourceContents))

    @contextlib.asynccontextmanager
    async def resource_updates(self, uris: Sequence[str]) -> AsyncIterator[AsyncGenerator[str, None]]:
        """Subscribe to our own server's `uris`; entering waits for the server's acknowledgement, then yields an
        iterator of the URI of each update (it ends when the MCP connection does: subscribe again).

        Raises:
            MCPError, ListenNotSupportedError or RuntimeError: the server cannot listen now.
        """
        client = await self._own_client()
        async with client.listen(resource_subscriptions=list(uris)) as subscription:

            async def updates() -> AsyncGenerator[str, None]:
                async for event in subscription:
                    if isinstance(event, ResourceUpdated):
                        yield str(event.uri)

            yield updates()

    async def _own_client(self) -> Client:
        """Our own server's MCP client, once it is connected."""
        own = next((c for c in self._connections if c.spec.own), None)
        if own is None:
            raise RuntimeError("the assistant's own MCP server is not configured")
        while not await own.wait_up(5.0):
            logger.info("waiting for the assistant's MCP server")
        return own.client()

    def interrupt(self) -> None:
        """The user spoke over the assistant: stop the read-only calls still running (the SDK tells their
        servers). Calls that write, and any waiting for the user's answer, go on."""
        for task in self._reads:
            task.cancel()

    async def _stoppable(self, connection: Connection, tool: str, args: dict[str, Any], ask: Ask | None) -> ToolOutcome:
        """A read-only call that `interrupt` may stop; its outcome then says so."""

        async def ask_kept(question: str) -> bool:
            self._reads.discard(task)  # the user's next words answer the server's question: never stopped by them
            assert ask is not None
            return await ask(question)

        task = asyncio.create_task(self._forward(connection, tool, args, ask_kept if ask else None))
        self._reads.add(task)
        try:
            await asyncio.wait({task})  # unlike `await task`, a stopped call does not stop this one
        finally:
            self._reads.discard(task)
            task.cancel()  # does something only when this task itself was cancelled (the session closed)
        if task.cancelled():
            logger.info("read-only tool %s stopped: the user spoke over it", tool)
            return failure(f"{tool} was stopped because the user started speaking; nothing was changed")
        return task.result()

    def _unknown(self, name: str) -> str:
        """Why `name` cannot be called: its server is down, or there is no such tool (some that exist)."""
        for connection in self._connections:
            if not connection.up and name.startswith(connection.spec.name + names.SEPARATOR):
                return f"the {connection.spec.name} tools are unavailable right now (its server is down); try later"
        known = list(self._routes)
        return f"no tool named {name!r}; available: {', '.join(known[:30])}" + (" ..." if len(known) > 30 else "")

    def writes(self, name: str) -> bool:
        """False only for a tool marked read-only (`readOnlyHint`, the same hint that spares it an approval):
        a barge-in may stop such a call, never any other."""
        found = self._routes.get(name)
        hints = found[1].annotations if found else None
        return not (hints is not None and hints.read_only_hint)

    async def _forward(self, connection: Connection, tool: str, args: dict[str, Any], ask: Ask | None) -> ToolOutcome:
        started = time.perf_counter()
        timeout_s = connection.spec.call_timeout_s or self._config.tool_timeout_s
        server = connection.spec.name
        try:
            async with asyncio.timeout(timeout_s) as deadline:

                async def ask_untimed(question: str) -> bool:
                    """The user's time to answer a server's own question does not count against the call."""
                    assert ask is not None
                    deadline.reschedule(None)
                    try:
                        return await ask(question)
                    finally:
                        deadline.reschedule(asyncio.get_running_loop().time() + timeout_s)

                result = await connection.call(tool, args, timeout_s, ask_untimed if ask else None)
        except ServerDown:
            return failure(f"the {server} tools are unavailable right now (its server is down); try again later")
        except TimeoutError:
            if not connection.up:
                return failure(f"the tool server is unreachable (tried for {timeout_s:g} s); try again later")
            return failure(f"{tool} timed out after {timeout_s:g} s", time.perf_counter() - started)
        except MCPError as exc:
            elapsed = time.perf_counter() - started
            if exc.error.code == mcp_types.REQUEST_TIMEOUT:
                return failure(f"{tool} timed out after {timeout_s:g} s", elapsed)
            logger.warning("tool %s of %s failed: %s", tool, server, exc.error.message)
            return failure(f"{tool} failed: {exc.error.message}", elapsed)
        except Exception as exc:  # boundary: one tool call must never end the session
            logger.exception("tool %s of %s crashed", tool, server)
            return failure(f"{tool} failed: {type(exc).__name__}", time.perf_counter() - started)
        return outcome_of(result, time.perf_counter() - started)


def declined(tool: str) -> ToolOutcome:
    """The outcome of a call the user said no to (or did not answer): the tool did not run."""
    message = f"The user declined, so {tool} did not run and nothing changed. Do not run it again unless asked."
    return ToolOutcome(json.dumps({"declined": message}), None, True, 0.0)


def _replace(queue: asyncio.Queue[Any], value: Any) -> None:
    """Put `value` on a one-place queue in place of what is waiting there: only the newest matters."""
    with contextlib.suppress(asyncio.QueueEmpty):
        queue.get_nowait()
    queue.put_nowait(value)
