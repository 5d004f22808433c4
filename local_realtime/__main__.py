"""`python -m local_realtime`: the offline Realtime engine on a WebSocket.

The composition root: reads the environment (and `.env`), configures logging to stderr, builds the
real engine (`engine.build_engine`, which imports the models lazily, so `--help` works without the
`[offline]` extra) and serves.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from local_realtime.config import Config, ConfigError
from local_realtime.engine import Engine, build_engine
from local_realtime.server import serve_engine

logger = logging.getLogger("local_realtime")


async def _serve(engine: Engine, host: str, port: int) -> None:
    async with serve_engine(engine, host, port) as url:
        print(f"Local Realtime engine listening on {url}/realtime?model=local", flush=True)
        await asyncio.Future()  # until interrupted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_realtime",
        description="Offline OpenAI-Realtime-compatible (GA) WebSocket server: VAD, Whisper, a local LLM, TTS.",
        epilog="Environment: LOCAL_REALTIME_HOST, LOCAL_REALTIME_PORT, LOCAL_MODEL_PATH, LOCAL_MODEL_CACHE, "
        "LOCAL_TTS=piper|espeak, LOCAL_FEW_SHOT_PATH (few-shot examples, JSON), LOG_LEVEL. "
        "Point a client at websocket_base_url=ws://HOST:PORT/v1.",
    )
    parser.add_argument("--host", help="bind address (default LOCAL_REALTIME_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default LOCAL_REALTIME_PORT or 8765; 0 = any free port)")
    args = parser.parse_args(argv)
    from dotenv import load_dotenv

    load_dotenv(override=False)
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        engine = build_engine(config)
        asyncio.run(_serve(engine, args.host or config.host, config.port if args.port is None else args.port))
    except KeyboardInterrupt:
        return 0
    except Exception:  # boundary: report start-up and serving failures once, with the cause
        logger.exception("local realtime engine stopped")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
