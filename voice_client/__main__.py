"""`python -m voice_client`: the composition root (reads the environment, configures logging).

    python -m voice_client --realtime-url URL --mcp-url URL [--text "..."] [--wav FILE] [--out-wav FILE]

With neither --text nor --wav it talks through the microphone and speaker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from voice_client.client_secrets import mint_client_secret
from voice_client.config import Config, ConfigError
from voice_client.live_audio import LiveAudio, audio_module
from voice_client.session import RealtimeSession
from voice_client.tools import McpTools, ToolOutcome
from voice_client.transcript import Transcript
from voice_client.turns import run_text_turn, run_wav

logger = logging.getLogger("voice_client")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m voice_client", description=__doc__.splitlines()[0])
    parser.add_argument("--realtime-url", help="Realtime WebSocket URL (default: REALTIME_URL)")
    parser.add_argument("--mcp-url", help="MCP server URL (default: MCP_SERVER_URL)")
    parser.add_argument("--text", help="send this text, run the tool calls, print the replies and exit")
    parser.add_argument("--wav", type=Path, help="use this WAV file as the user's turn instead of the microphone")
    parser.add_argument("--out-wav", type=Path, help="write the assistant's audio to this WAV file")
    parser.add_argument("--no-tools", action="store_true", help="talk without connecting to the MCP server")
    parser.add_argument(
        "--mint-client-secret",
        action="store_true",
        help="print a short-lived client secret (JSON) for a browser or device and exit",
    )
    return parser.parse_args(argv)


def _config(args: argparse.Namespace) -> Config:
    flags = {"REALTIME_URL": args.realtime_url, "MCP_SERVER_URL": args.mcp_url}
    env = {**os.environ, **{name: value for name, value in flags.items() if value}}
    return Config.from_env(env).with_overrides(text_only=bool(args.text))


def _show_tool_call(name: str, arguments: str) -> None:
    print(f"[tool] {name} {arguments}", file=sys.stderr)


def _show_tool_result(name: str, outcome: ToolOutcome) -> None:
    print(f"[tool] {name} -> {'failed' if outcome.is_error else 'ok'}", file=sys.stderr)


async def _run(config: Config, args: argparse.Namespace) -> None:
    if args.mint_client_secret:
        secret = await mint_client_secret(config)
        print(json.dumps({"value": secret.value, "expires_at": secret.expires_at}))
        return
    if not args.text and not args.wav:
        audio_module().require_devices()  # fail before connecting anything
    transcript = Transcript(config.workspace_dir) if config.workspace_dir else None
    if transcript:
        logger.info("transcript: %s", transcript.path)
    async with contextlib.AsyncExitStack() as stack:
        tools = None if args.no_tools else await stack.enter_async_context(McpTools(config))
        callbacks: dict[str, Any] = {"on_tool_call": _show_tool_call, "on_tool_result": _show_tool_result}
        if args.text:
            async with RealtimeSession(config, tools=tools, transcript=transcript, **callbacks) as session:
                await run_text_turn(session, args.text, on_text=print)
        elif args.wav:
            await _run_wav(config, tools, transcript, args, callbacks)
        else:
            await _run_microphone(config, tools, transcript, callbacks)


async def _run_wav(
    config: Config,
    tools: McpTools | None,
    transcript: Transcript | None,
    args: argparse.Namespace,
    callbacks: dict[str, Any],
) -> None:
    audio = audio_module()
    pcm = audio.read_wav(args.wav)
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(audio.WavSink(args.out_wav)) if args.out_wav else None
        async with RealtimeSession(
            config,
            tools=tools,
            transcript=transcript,
            audio_output=output,
            on_transcription_received=lambda t: print(f"you: {t}"),
            **callbacks,
        ) as session:
            await run_wav(session, pcm, manual_turn=config.turn_detection == "none", on_text=print)


async def _run_microphone(
    config: Config, tools: McpTools | None, transcript: Transcript | None, callbacks: dict[str, Any]
) -> None:
    with LiveAudio.from_config(config) as live:
        async with RealtimeSession(
            config,
            tools=tools,
            transcript=transcript,
            audio_output=live,
            on_transcription_received=lambda t: print(f"you: {t}"),
            on_response_received=lambda t: print(f"assistant: {t}"),
            **callbacks,
        ) as session:
            print("Listening; press Ctrl+C to stop.", file=sys.stderr)
            await live.converse(session)


def main(argv: list[str] | None = None) -> int:
    load_dotenv(override=False)
    args = _arguments(argv)
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        stream=sys.stderr, level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "mcp", "websockets"):  # they log payloads
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        asyncio.run(_run(config, args))
    except KeyboardInterrupt:
        return 130
    except (ConnectionError, OSError, ValueError, RuntimeError) as exc:  # RealtimeError, NoAudioDevice, ...
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception:  # boundary: anything else is a bug; show it
        logger.exception("voice client crashed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
