"""The local page of a conversation: serves it (Starlette on uvicorn, in the client's own event loop) and hands
what the tab sends (microphone audio, typed turns, Stop, playback reports) to the Realtime session.

Safe by default: bound to 127.0.0.1, the `Host` header must name the page's own host (no DNS rebinding), the
WebSocket refuses any `Origin` but the page's own, every response carries a strict Content-Security-Policy, and
only one tab holds the conversation (a second one is told so and closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
import webbrowser
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from voice_client.session import RealtimeSession
from voice_client.tools import McpTools
from voice_client.web.browser_audio import BrowserAudio
from voice_client.web.browser_view import BrowserView
from voice_client.web.documents import Documents
from voice_client.web.tab import Tab

if TYPE_CHECKING:
    from voice_client.front_end import View

logger = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "media-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""No inline script or style, nothing from another origin: a rendered file cannot load or run anything."""
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ANY_ADDRESS = ("0.0.0.0", "::")
RELOAD_S = 1.0
"""How long a new tab waits for the old one to let go (a reload) before it is told another tab has the page."""
SECOND_TAB = "This conversation is already open in another tab. Close that tab, then reload this one."
_STATIC = ("voice_client.web", "static")


@dataclass(frozen=True)
class WebOptions:
    """Where the page is served (`--web-host`, `--web-port`) and whether a browser is opened on it."""

    host: str = "127.0.0.1"
    port: int = 8780
    """0: any free port (tests)."""
    open_browser: bool = False
    """Open the page in the desktop's browser once it is served (only where there is a desktop)."""


def desktop_browser(env: Mapping[str, str]) -> bool:
    """True where a desktop browser can be opened: macOS, Windows, or a Linux desktop (`DISPLAY` or
    `WAYLAND_DISPLAY` set); never a text browser in the terminal the conversation runs in."""
    return sys.platform in ("darwin", "win32") or bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


class WebPage:
    """`async with WebPage(options, terminal_view, tools) as page`: the page is served until the block ends.

    `page.view` is the conversation's `View`, `page.audio` its `AudioOutput`; `await page.converse(session)`
    then lets the tab talk until the session ends.

    Raises (on enter):
        OSError: the port is taken or the host cannot be bound.
    """

    def __init__(self, options: WebOptions, terminal_view: View, tools: McpTools | None) -> None:
        self.options = options
        self.tab = Tab()
        self.documents = Documents(tools, self.tab) if tools is not None else None
        self.view = BrowserView(terminal_view, self.tab, self.documents.changed if self.documents else None)
        self.audio = BrowserAudio(self.tab)
        self.url = ""
        """The page's address, once served."""
        self._session: RealtimeSession | None = None
        self._session_ready = asyncio.Event()
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WebPage:
        host = self.options.host
        if host not in LOOPBACK:
            self.view.note(f"warning: the page is served on {host}: anyone who can reach it can use your assistant")
        listening = _bind(host, self.options.port)  # here, not in uvicorn: a busy port is an OSError, not an exit
        config = uvicorn.Config(self._app(), log_level="warning", lifespan="off")
        self._server = _Server(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[listening]), name="web-page")
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
                raise OSError(f"the page could not be served on {host}:{self.options.port}")
            await asyncio.sleep(0.02)
        port = listening.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}/"
        self.view.terminal.note(f"The assistant's page: {self.url}  (Ctrl-C to stop)")  # the page knows its URL
        if self.options.open_browser:
            await asyncio.to_thread(webbrowser.open, self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._serving

    async def converse(self, session: RealtimeSession) -> None:
        """Let the tab talk to `session` until the session ends (raising its error, if it ends with one)."""
        self._session = session
        self._session_ready.set()
        async with asyncio.TaskGroup() as group:
            follow = group.create_task(self.documents.run()) if self.documents else None
            try:
                async for _event in session:  # ends (or raises) when the session does
                    pass
            finally:
                if follow is not None:
                    follow.cancel()

    # ------------------------------------------------------------------ the web app

    def _app(self) -> Starlette:
        host = self.options.host
        everywhere = host in ANY_ADDRESS  # the user chose to be reached by any name (with a warning)
        hosts = ["*"] if everywhere else [*LOOPBACK, host, f"[{host}]"]
        return Starlette(
            routes=[
                Route("/", self._index),
                WebSocketRoute("/ws", self._socket),
                Mount("/static", StaticFiles(packages=[_STATIC]), name="static"),
            ],
            middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts), Middleware(_Headers)],
        )

    async def _index(self, request: Request) -> Response:
        return FileResponse(_static_file("index.html"), media_type="text/html")

    def _allowed_origin(self, socket: WebSocket) -> bool:
        """The `Origin` must be the page itself: http://<the Host header>, where the Host is already checked."""
        return socket.headers.get("origin") == f"http://{socket.headers.get('host', '')}"

    async def _socket(self, socket: WebSocket) -> None:
        if not self._allowed_origin(socket):
            logger.warning("refused a WebSocket from origin %r", socket.headers.get("origin"))
            await socket.close(code=1008)  # before accept: the handshake gets HTTP 403
            return
        await socket.accept()
        if not await self.tab.wait_free(RELOAD_S) or self.tab.attached:  # no await from this check to attach()
            await socket.send_text(json.dumps({"type": "error", "message": SECOND_TAB}))
            await socket.close(code=4409, reason="already open in another tab")
            return
        self.audio.new_tab()
        async with self.tab.attach(socket):
            logger.info("page connected")
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    message = await socket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    if message.get("bytes") is not None:
                        await self._microphone(message["bytes"])
                    elif message.get("text") is not None:
                        await self._handle(message["text"])
        logger.info("page disconnected")

    async def _microphone(self, pcm: bytes) -> None:
        """One block of the page's microphone to the session; dropped while the session is not connected."""
        audio = self.audio.microphone(pcm)
        if audio and self._session is not None:
            try:
                await self._session.send_audio(audio)
            except (TimeoutError, ConnectionError, RuntimeError) as exc:  # RealtimeError too: the session says
                logger.debug("microphone audio dropped: %s", exc)

    async def _handle(self, text: str) -> None:
        """One JSON message from the page; a malformed one is logged and dropped."""
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, KeyError, TypeError):
            logger.warning("malformed message from the page dropped")
            return
        try:
            await self._act(kind, message)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("bad %s message from the page: %s", kind, exc)
        except (TimeoutError, ConnectionError, RuntimeError) as exc:  # the session is down (RealtimeError too)
            self.view.error(f"The assistant is not connected; try again in a moment ({exc or type(exc).__name__}).")

    async def _act(self, kind: str, message: dict[str, Any]) -> None:
        match kind:
            case "hello":
                self.audio.start_microphone(int(message["sample_rate"]))
                logger.info("page microphone at %d Hz", self.audio.input_rate_hz)
            case "playback.position":
                self.audio.position(int(message["played_samples"]))
            case "playback.cleared":
                self.audio.cleared(int(message["played_samples"]))
            case "interrupt":
                await self._session_ready.wait()
                assert self._session is not None
                await self._session.interrupt()
            case "text":
                words = str(message["text"]).strip()
                if not words:
                    return
                await self._session_ready.wait()
                assert self._session is not None
                self.view.user(words)
                await self._session.interrupt()  # typing over a reply stops it, like speaking over it
                await self._session.send_text(words)
            case _:
                logger.debug("unknown message %r from the page", kind)


class _Server(uvicorn.Server):
    """uvicorn inside the client's event loop, leaving Ctrl-C to the program (which stops everything)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


class _Headers:
    """Adds the Content-Security-Policy and related headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-store"),
                ]
            await send(message)

        await self._app(scope, receive, with_headers)


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (0: a free port).

    Raises:
        OSError: the address is taken or not this machine's.
    """
    family, kind, protocol, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listening = socket.socket(family, kind, protocol)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen(64)
    except OSError:
        listening.close()
        raise
    return listening


def _static_file(name: str) -> str:
    from importlib.resources import files

    return str(files("voice_client.web").joinpath("static", name))
