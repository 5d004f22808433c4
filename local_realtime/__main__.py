"""`python -m local_realtime`: the offline Realtime engine on a WebSocket.

The composition root: reads the environment (and `.env`), configures logging to stderr, builds the
real models (imported lazily, so `--help` works without the `[offline]` extra) and serves.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from local_realtime.config import Config, ConfigError
from local_realtime.engine import Engine
from local_realtime.server import serve_engine

logger = logging.getLogger("local_realtime")


def build_engine(config: Config) -> Engine:
    """Load the real brain (warmed up), Whisper, the voice and the VAD; takes a few seconds.

    Raises:
        FileNotFoundError / RuntimeError subclasses from the model modules, naming what to install.
    """
    from local_realtime.cpu import CpuTurns
    from local_realtime.llm import LlamaBrain
    from local_realtime.model import locate_model
    from local_realtime.session import DEFAULT_INSTRUCTIONS
    from local_realtime.stt import MissingSpeechModel, WhisperTranscriber
    from local_realtime.tts import EspeakSynthesizer, PiperSynthesizer, Synthesizer
    from local_realtime.vad import VoiceActivityDetector

    cpu = CpuTurns()
    brain = LlamaBrain(
        locate_model(config.model_cache, config.model_path), cache_dir=config.model_cache / "prompts", cpu=cpu
    )
    brain.warm(instructions=DEFAULT_INSTRUCTIONS)
    synthesizer: Synthesizer
    if config.tts == "piper":
        try:
            synthesizer = PiperSynthesizer.load()
        except MissingSpeechModel as exc:
            logger.warning("piper voice unavailable (%s); using espeak-ng", exc)
            synthesizer = EspeakSynthesizer()
    else:
        synthesizer = EspeakSynthesizer()
    VoiceActivityDetector(0.5, 300, 500)  # fail now, not on the first connection, if Silero is missing
    return Engine(brain, WhisperTranscriber.load(), synthesizer, VoiceActivityDetector, cpu=cpu)


async def _serve(engine: Engine, host: str, port: int) -> None:
    async with serve_engine(engine, host, port) as url:
        print(f"Local Realtime engine listening on {url}/realtime?model=local", flush=True)
        await asyncio.Future()  # until interrupted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_realtime",
        description="Offline OpenAI-Realtime-compatible (GA) WebSocket server: VAD, Whisper, a local LLM, TTS.",
        epilog="Environment: LOCAL_REALTIME_HOST, LOCAL_REALTIME_PORT, LOCAL_MODEL_PATH, LOCAL_MODEL_CACHE, "
        "LOCAL_TTS=piper|espeak, LOG_LEVEL. Point a client at websocket_base_url=ws://HOST:PORT/v1.",
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
