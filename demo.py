"""`python demo.py`: the whole assistant in one process: MCP server, voice client and, without an
OpenAI key, the offline Realtime engine.

    python demo.py                       # microphone and speaker; typed text when there is no device
    python demo.py --text "load the blog writer script"
    python demo.py --wav question.wav [--out-wav answer.wav]

With `OPENAI_API_KEY` set the voice client talks to OpenAI's Realtime API (`REALTIME_URL`); otherwise
the local engine (Whisper, Qwen 1.5B, piper) starts on a free loopback port and is used instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

logger = logging.getLogger("demo")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python demo.py", description=__doc__.splitlines()[0])
    parser.add_argument("--text", help="say this (typed), run the tool calls, print the reply and exit")
    parser.add_argument("--wav", type=Path, help="a WAV file to use as your spoken turn")
    parser.add_argument("--out-wav", type=Path, help="write the assistant's speech to this WAV file")
    parser.add_argument("--no-library", action="store_true", help="skip the document library (faster start)")
    return parser.parse_args(argv)


@contextlib.contextmanager
def _mcp_server(env: dict[str, str], with_library: bool) -> Any:
    """The MCP server over HTTP on a free loopback port; yields its `/mcp` URL."""
    from mcp_server.__main__ import open_library
    from mcp_server.config import Config
    from mcp_server.http import build_app, serve_in_thread
    from mcp_server.server import build_server

    config = Config.from_env({**env, "MCP_PORT": "0"})
    library = open_library(config) if with_library else None
    if library is not None and config.index_on_start:
        library.start_background_index()
    with serve_in_thread(build_app(build_server(config, library), config), config.host, 0) as base:
        yield base + "/mcp"


@contextlib.asynccontextmanager
async def _realtime_url(env: dict[str, str]) -> Any:
    """OpenAI's Realtime URL when a key is set; else the offline engine started here."""
    if env.get("OPENAI_API_KEY"):
        yield env.get("REALTIME_URL") or ""
        return
    from local_realtime.__main__ import build_engine
    from local_realtime.config import Config
    from local_realtime.server import serve_engine

    print("No OPENAI_API_KEY: starting the offline engine (Whisper, Qwen 1.5B, piper)...", file=sys.stderr)
    engine = await asyncio.to_thread(build_engine, Config.from_env(env))
    async with serve_engine(engine, "127.0.0.1", 0) as url:
        yield url + "/realtime"


def _has_audio_devices() -> bool:
    try:
        from voice_client import audio

        audio.require_devices()
    except (OSError, RuntimeError) as exc:
        print(f"No audio device ({exc}); type what you would say instead.", file=sys.stderr)
        return False
    return True


async def _chat(config: Any) -> None:
    """Typed conversation: one text turn per line until an empty line or end of input."""
    from voice_client.session import RealtimeSession
    from voice_client.tools import McpTools
    from voice_client.transcript import Transcript
    from voice_client.turns import run_text_turn

    transcript = Transcript(config.workspace_dir) if config.workspace_dir else None
    async with McpTools(config) as tools, RealtimeSession(config, tools=tools, transcript=transcript) as session:
        print("Type a message (empty line to quit). Try: load the blog writer script", file=sys.stderr)
        while line := (await asyncio.to_thread(_read_line)).strip():
            await run_text_turn(session, line, on_text=lambda text: print(f"assistant: {text}"))


def _read_line() -> str:
    try:
        return input("you> ")
    except EOFError:
        return ""


async def _run(args: argparse.Namespace, env: dict[str, str]) -> int:
    from voice_client import __main__ as voice

    with _mcp_server(env, not args.no_library) as mcp_url:
        async with _realtime_url(env) as realtime_url:
            flags = ["--mcp-url", mcp_url] + (["--realtime-url", realtime_url] if realtime_url else [])
            if args.text:
                flags += ["--text", args.text]
            elif args.wav:
                flags += ["--wav", str(args.wav)] + (["--out-wav", str(args.out_wav)] if args.out_wav else [])
            elif not _has_audio_devices():
                from voice_client.config import Config

                urls = {"MCP_SERVER_URL": mcp_url} | ({"REALTIME_URL": realtime_url} if realtime_url else {})
                await _chat(Config.from_env({**env, **urls}).with_overrides(text_only=True))
                return 0
            return await asyncio.to_thread(voice.main, flags)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _arguments(argv)
    load_dotenv(override=False)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    env = dict(os.environ)
    logging.basicConfig(level=env.get("LOG_LEVEL", "WARNING"), stream=sys.stderr)
    try:
        return asyncio.run(_run(args, env))
    except KeyboardInterrupt:
        return 130
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
