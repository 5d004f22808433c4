"""What a tool call gives back: the model's short text, the screen's structured result, and the
contract keys (README, "Contracts between the programs") the session and the live view read from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import mcp.types as mcp_types

INSTRUCTIONS_KEY = "instructions"
"""Contract with the MCP server (README, "Architecture"): a tool result whose structured content has a
non-empty string under this key replaces the Realtime session's instructions (a script's coach)."""
CHANGED_KEY = "changed"
"""Contract: the workspace paths a successful call created, changed or removed, for the live file view."""
SCRIPT_KEYS = ("script_name", "current_stage", "stage_number")
"""Contract: a result carrying `script_name` reports the active script, its stage and the stage's number."""
VOCABULARY_URI = "assistant://vocabulary"
"""Contract: a resource whose text is the words the user is likely to say (the library's titles, names and rare
words, the script's terms), updated when they change: the session's transcription prompt. A server without it
gives none."""

_MAX_TEXT = 1000
"""Longest string the model gets back per field; the screen (`on_tool_result`) gets everything."""


@dataclass(frozen=True)
class ToolOutcome:
    """What one tool call produced."""

    output: str
    """The `function_call_output` text the model reads (a short JSON summary or an error)."""
    structured: dict[str, Any] | None
    """The full structured result, for a UI; None on errors or text-only results."""
    is_error: bool
    duration_s: float
    """Wall time of the MCP call itself."""

    @property
    def instructions(self) -> str | None:
        """New session instructions the result carries (`INSTRUCTIONS_KEY`), or None."""
        value = (self.structured or {}).get(INSTRUCTIONS_KEY)
        return value if isinstance(value, str) and value.strip() else None

    @property
    def changed(self) -> list[str]:
        """Workspace paths the call changed (`CHANGED_KEY`); empty for reads, listings and failures."""
        value = (self.structured or {}).get(CHANGED_KEY) if not self.is_error else None
        return [str(path) for path in value] if isinstance(value, list) else []

    @property
    def script_stage(self) -> tuple[str | None, str | None, int | None] | None:
        """(script name or None, stage name, stage number) when the result reports the script (`SCRIPT_KEYS`)."""
        result = self.structured or {}
        if self.is_error or SCRIPT_KEYS[0] not in result or result.get("success") is False:
            return None
        name, stage, number = (result.get(key) for key in SCRIPT_KEYS)
        return name, stage, number if isinstance(number, int) else None


def failure(message: str, duration_s: float = 0.0) -> ToolOutcome:
    """An outcome telling the model what went wrong."""
    return ToolOutcome(json.dumps({"error": message}), None, True, duration_s)


def realtime_tool(tool: mcp_types.Tool, name: str | None = None, server_description: str = "") -> dict[str, Any]:
    """One MCP tool as a flat Realtime function tool (the schema made acceptable to the API), registered
    under `name` (default: the tool's own name), its description after its server's (`ServerSpec.description`)."""
    schema = {k: v for k, v in dict(tool.input_schema or {}).items() if k not in ("$schema", "title")}
    schema["type"] = "object"
    schema.setdefault("properties", {})
    return {
        "type": "function",
        "name": name or tool.name,
        "description": _about(server_description, tool.description or tool.title or tool.name),
        "parameters": schema,
    }


def _about(server_description: str, description: str) -> str:
    """The tool's description after its server's, joined by a colon rather than a full stop: the offline brain
    shows a tool's first sentence only."""
    about = server_description.strip().rstrip(".")
    return f"{about}: {description}" if about else description


def summarize(structured: dict[str, Any]) -> str:
    """JSON for the model: long strings and lists clipped; the full value goes to the screen.

    `instructions` are left out: the session applies them as its instructions (see `ToolOutcome`).
    """

    def clip(value: Any) -> Any:
        if isinstance(value, str) and len(value) > _MAX_TEXT:
            return value[:_MAX_TEXT] + f"... ({len(value) - _MAX_TEXT} more characters shown on screen)"
        if isinstance(value, list):
            return [clip(v) for v in value[:20]] + ([f"... {len(value) - 20} more"] if len(value) > 20 else [])
        if isinstance(value, dict):
            return {k: clip(v) for k, v in value.items() if v is not None}
        return value

    shown = {k: v for k, v in structured.items() if k != INSTRUCTIONS_KEY}
    if INSTRUCTIONS_KEY in structured:
        shown[INSTRUCTIONS_KEY] = "(now your session instructions)"
    return json.dumps(clip(shown), ensure_ascii=False)


def outcome_of(result: mcp_types.CallToolResult, duration_s: float) -> ToolOutcome:
    """What the model reads: the tool's own text when it wrote one for the model (not just its structured
    result as JSON, which is summarised instead); the structured result goes to the screen either way."""
    text = "\n".join(b.text for b in result.content if isinstance(b, mcp_types.TextContent))
    if result.is_error:
        return failure(text or "the tool failed without a message", duration_s)
    structured = result.structured_content
    written_for_model = bool(text.strip()) and not text.lstrip().startswith(("{", "["))
    if isinstance(structured, dict) and not written_for_model:
        return ToolOutcome(summarize(structured), structured, False, duration_s)
    return ToolOutcome(text[: _MAX_TEXT * 4], structured if isinstance(structured, dict) else None, False, duration_s)
