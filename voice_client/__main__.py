"""`python -m voice_client`: the composition root (reads the environment, configures logging).

    python -m voice_client --realtime-url URL --mcp-url URL [--text "..."] [--wav FILE] [--out-wav FILE]
    python -m voice_client --mcp-config .mcp.json [--mcp-url URL] ...   # the servers an mcpServers file lists

With neither --text nor --wav it talks through the microphone and speaker, or takes typed turns when
there is no audio device (or with --typed); with --web, through a local page in the browser. Replies go to
stdout, everything else to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys

from dotenv import load_dotenv

from voice_client.client_secrets import mint_client_secret
from voice_client.config import Config, ConfigError
from voice_client.console_log import explain, log_to_terminal
from voice_client.front_end import FrontEnd, FrontEndError, add_arguments
from voice_client.plain_view import PlainView
from voice_client.toolbox import McpTools
from voice_client.transcript import Transcript

logger = logging.getLogger("voice_client")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m voice_client", description=__doc__.splitlines()[0])
    parser.add_argument("--realtime-url", help="Realtime WebSocket URL (default: REALTIME_URL)")
    parser.add_argument("--mcp-url", help="MCP server URL (default: MCP_SERVER_URL)")
    parser.add_argument(
        "--mcp-config",
        metavar="FILE",
        help="an mcpServers JSON file (.mcp.json, Claude Desktop, Cursor) naming more servers (default: MCP_CONFIG)",
    )
    add_arguments(parser)
    parser.add_argument("--no-tools", action="store_true", help="talk without connecting to the MCP server")
    parser.add_argument(
        "--mint-client-secret",
        action="store_true",
        help="print a short-lived client secret (JSON) for a browser or device and exit",
    )
    return parser.parse_args(argv)


def _config(args: argparse.Namespace) -> Config:
    flags = {"REALTIME_URL": args.realtime_url, "MCP_SERVER_URL": args.mcp_url, "MCP_CONFIG": args.mcp_config}
    return Config.from_env({**os.environ, **{name: value for name, value in flags.items() if value}})


async def _run(config: Config, args: argparse.Namespace) -> None:
    if args.mint_client_secret:
        secret = await mint_client_secret(config)
        print(json.dumps({"value": secret.value, "expires_at": secret.expires_at}))
        return
    view = PlainView()
    front = FrontEnd.from_arguments(args, view, os.environ)
    view.labelled = not front.text_only
    transcript = Transcript(config.workspace_dir) if config.workspace_dir else None
    if transcript is not None:
        logger.info("transcript: %s", transcript.path)
    async with contextlib.AsyncExitStack() as stack:
        tools = None if args.no_tools else await stack.enter_async_context(McpTools(config))
        await front.talk(config, tools, transcript)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 failed, 2 usage or configuration, 130 interrupted)."""
    load_dotenv(override=False)
    args = _arguments(argv)
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    log_to_terminal(config.log_level, [config.api_key, os.environ.get("MCP_AUTH_TOKEN", "")])
    try:
        asyncio.run(_run(config, args))
    except KeyboardInterrupt:
        return 130
    except FrontEndError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ConnectionError, OSError, ValueError, RuntimeError, TimeoutError) as exc:  # RealtimeError, ...
        print(f"error: {explain(exc)}", file=sys.stderr)
        return 1
    except Exception:  # boundary: anything else is a bug; show it
        logger.exception("voice client crashed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
