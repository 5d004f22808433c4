"""The HTTP face of the server: streamable HTTP at `/mcp`, legacy SSE at `/sse`, and `GET /health`.

One Starlette app holds the SDK's two transport apps (their routes, with the session manager's
lifespan entered here, as mounted apps' lifespans never run). With a token configured, every path but
`/health` needs `Authorization: Bearer <token>`. DNS-rebinding protection stays on for loopback.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator

import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_server.config import Config

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class QueryRedaction(logging.Filter):
    """Access-log lines with every query value replaced by `***`: a client that puts a token in the URL
    (`/mcp?token=...`) must not find it in the server's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            path, query = args[2].split("?", 1)
            record.args = (*args[:2], path + "?" + re.sub(r"=[^&]*", "=***", query), *args[3:])
        return True


_REDACTION = QueryRedaction()


class BearerAuth:
    """ASGI middleware: 401 unless the request carries `Authorization: Bearer <token>`.

    `/health` stays open for liveness probes. The token is compared in constant time and never logged.
    """

    def __init__(self, app: ASGIApp, token: str, open_paths: tuple[str, ...] = ("/health",)) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        logger.info("Refused %s %s: missing or wrong bearer token", scope.get("method"), scope["path"])
        body = json.dumps({"error": "unauthorized", "message": "Send Authorization: Bearer <MCP_AUTH_TOKEN>."})
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="mcp"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


def transport_security(host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection for loopback binds; None (SDK default: off) for other hosts."""
    if host not in _LOOPBACK:
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


def build_app(mcp: MCPServer, config: Config) -> ASGIApp:
    """A Starlette app serving `mcp` over streamable HTTP (`/mcp`) and SSE (`/sse`), plus `/health`; uvicorn's
    access log (whoever serves the app) gets its query strings redacted."""
    logging.getLogger("uvicorn.access").addFilter(_REDACTION)  # once: the same filter is not added twice
    security = transport_security(config.host)
    streamable = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=security,
        host=config.host,
        max_sessions=config.max_sessions,
        session_idle_timeout=config.session_idle_s,
    )
    sse = mcp.sse_app(sse_path="/sse", message_path="/messages/", transport_security=security, host=config.host)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "server": mcp.name, "version": mcp.version})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            logger.info("MCP server ready: streamable HTTP at /mcp, SSE at /sse")
            yield

    app = Starlette(routes=[Route("/health", health), *streamable.routes, *sse.routes], lifespan=lifespan)
    if config.auth_token:
        return BearerAuth(app, config.auth_token)
    return app


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` with uvicorn in a daemon thread; yields the base URL ("http://127.0.0.1:PORT").

    Port 0 picks a free port. The server is shut down (and the thread joined) on exit. Used by
    `demo.py` to run the server beside the voice client, and by the tests.

    Raises:
        RuntimeError: if the server did not start within 20 s (e.g. the port is taken).
    """
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, name="mcp-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the MCP HTTP server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
