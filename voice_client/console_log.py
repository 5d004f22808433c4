"""The terminal's log and error lines: credentials masked, library tracebacks cut, errors explained."""

from __future__ import annotations

import errno
import logging

from rich.console import Console
from rich.logging import RichHandler

from voice_client.realtime import RealtimeError

NOISY_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "mcp", "websockets")
"""Libraries that log whole payloads at INFO or DEBUG: held at WARNING unless the whole log is quieter."""


class ConsoleLog(logging.Filter):
    """Log records fit for the user's terminal: credentials masked, and a library's traceback (e.g. a
    connection torn down while exiting) cut to one line unless LOG_LEVEL=DEBUG.

    Args:
        secrets: strings replaced by "***" wherever they appear (API keys, tokens).
        tracebacks: keep tracebacks.
    """

    def __init__(self, secrets: list[str], tracebacks: bool) -> None:
        super().__init__()
        self._secrets = [secret for secret in secrets if secret]
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


def log_to_terminal(level: str, secrets: list[str]) -> None:
    """Send the root logger to stderr through rich at `level` ("DEBUG" ... "ERROR"), masking `secrets`."""
    handler = RichHandler(console=Console(stderr=True), show_path=False)
    handler.setLevel(level.upper())  # libraries that set DEBUG on their own loggers stay at this level
    handler.addFilter(ConsoleLog(secrets, tracebacks=handler.level <= logging.DEBUG))
    logging.basicConfig(level=handler.level, handlers=[handler], format="%(message)s", force=True)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, handler.level))


def explain(exc: BaseException) -> str:
    """A one-line message for what went wrong, naming the fix where we know it."""
    text = str(exc)
    if isinstance(exc, RealtimeError) and exc.code in ("invalid_api_key", "authentication_error"):
        return "OpenAI rejected the API key: check OPENAI_API_KEY (or use --offline)"
    if "HTTP 401" in text or "HTTP 403" in text:
        return f"the Realtime server refused the credentials ({text}): check OPENAI_API_KEY (or use --offline)"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"a port is in use ({exc.strerror}); choose another with --mcp-port / --engine-port"
    return text or type(exc).__name__
