"""The audit log: one JSON line per tool call (tool, shortened arguments, outcome, duration).

An assistant that edits people's files should leave a trail they can read. `AuditLog` is MCP
server middleware, so every tool, including ones registered later, is covered in one place.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.types import CallToolResult

logger = logging.getLogger(__name__)

_MAX_VALUE_CHARS = 200


def shorten(value: Any) -> Any:
    """Arguments as logged: strings over 200 characters become their head plus a length note."""
    if isinstance(value, str) and len(value) > _MAX_VALUE_CHARS:
        return f"{value[:_MAX_VALUE_CHARS]}... ({len(value)} chars)"
    if isinstance(value, dict):
        return {k: shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten(v) for v in value[:20]]
    return value


def _tool_error(result: HandlerResult) -> str | None:
    """The error text of a failed tools/call result (a model or its wire dict), else None."""
    if isinstance(result, CallToolResult):
        failed, content = result.is_error, [getattr(c, "text", "") for c in result.content]
    elif isinstance(result, dict):
        failed, content = bool(result.get("isError")), [c.get("text", "") for c in result.get("content") or []]
    else:
        return None
    return (content[0] if content else "tool error") if failed else None


class AuditLog(ServerMiddleware[Any]):
    """Middleware appending `{"time", "tool", "arguments", "outcome", "error", "duration_ms"}` lines.

    Args:
        path: the JSON-lines file (created with its folder when first written).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call" or not isinstance(ctx.params, dict):
            return await call_next(ctx)
        started = time.perf_counter()
        outcome, error = "error", None
        try:
            result = await call_next(ctx)
            error = _tool_error(result)
            outcome = "ok" if error is None else "error"
            return result
        except Exception as exc:
            error = type(exc).__name__
            raise
        finally:
            self.write(
                {
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "tool": ctx.params.get("name"),
                    "arguments": shorten(ctx.params.get("arguments") or {}),
                    "outcome": outcome,
                    "error": shorten(error),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                }
            )

    def write(self, entry: dict[str, Any]) -> None:
        """Append one entry; a failure to write is logged, never raised into the tool call."""
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC  # never through a link
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                fd = os.open(self.path, flags, 0o666)
                try:
                    os.write(fd, line)  # one write of an O_APPEND file: lines from processes never interleave
                finally:
                    os.close(fd)
        except OSError as exc:
            logger.warning("Could not write the audit log %s: %s", self.path, exc)
