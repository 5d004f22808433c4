"""Which tool calls wait for the user's yes, the short question that names what would happen, and reading
the user's answer as yes, no or unclear.

`requireApproval` per server (`servers.py`): `always`, `never`, a list of tool names, or `destructive` (the
default). `destructive` trusts a trusted server's annotations (`readOnlyHint`, `destructiveHint`, which
defaults to true); for any other server every tool not marked read-only asks. Our own server's
`file_operation` asks only for what loses text: `write` over a file that has content, `replace`, `delete`,
`restore` over a file that has content, `save_as` with `overwrite` onto a file that has content.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import mcp.types as mcp_types
from mcp import MCPError

if TYPE_CHECKING:  # connection.py answers elicitations with this module
    from voice_client.toolbox.connection import Connection

Ask = Callable[[str], Awaitable[bool]]
"""Asks the user `question` and returns True for their yes (False for no, silence or a second unclear answer)."""
Verdict = Literal["yes", "no", "unclear"]

logger = logging.getLogger(__name__)

OWN_FILE_TOOL = "file_operation"
_YES = re.compile(
    r"^(yes|yeah|yep|yup|sure|ok|okay|go ahead|do it|please do|confirm(ed)?|affirmative|correct|of course|"
    r"absolutely|that's right|right)\b"
)
_NO = re.compile(r"^(no|nope|nah|don't|do not|stop|cancel|never mind|negative|not now|keep it|leave it)\b")
_FILLER = re.compile(r"^(um+|uh+|er+|well|oh|hmm+)\b[\s,]*")


def classify(answer: str) -> Verdict:
    """The user's answer to a yes/no question: anchored at its start, so "no, keep it" is no, and "I'm not sure",
    "cancel the meeting" or "yes, no, wait" are unclear rather than misread."""
    text = re.sub(r"[^\w\s']", " ", answer.lower()).strip()
    text = _FILLER.sub("", re.sub(r"\s+", " ", text))
    yes, no = bool(_YES.match(text)), bool(_NO.match(text))
    if yes and re.search(r"\b(no|not|don't|wait)\b", text):
        return "unclear"  # "yes, no, wait": better asked again than misread
    if yes == no:
        return "unclear"
    if no and re.match(r"^(cancel|stop)\b", text) and len(text.split()) > 2:
        return "unclear"  # "cancel the meeting" is a request, not an answer
    return "yes" if yes else "no"


async def approval_question(connection: Connection, tool: mcp_types.Tool, args: dict[str, Any]) -> str | None:
    """The question to ask before this call, or None when it may run without asking."""
    spec = connection.spec
    policy = spec.require_approval
    if policy == "never":
        return None
    if spec.own and tool.name == OWN_FILE_TOOL and policy == "destructive":
        return await _own_file_question(connection, args)
    if isinstance(policy, frozenset) and tool.name not in policy:
        return None
    if policy == "destructive" and not _destructive(tool, spec.trusted):
        return None
    return _generic_question(spec.name, tool, args)


async def answer_elicitation(params: mcp_types.ElicitRequestParams, ask: Ask | None) -> mcp_types.ElicitResult:
    """A server's own question (MCP elicitation) asked the same spoken way: yes accepts the form with its
    booleans true and its defaults, no or silence declines. A form that needs words (a required field that is
    not a yes/no and has no default), a link to open (URL mode) or a call nobody can ask about is declined."""
    content = _spoken_form(params.requested_schema) if isinstance(params, mcp_types.ElicitRequestFormParams) else None
    if ask is None or content is None:
        logger.info("elicitation %r declined: it cannot be answered with a yes or no", params.message)
        return mcp_types.ElicitResult(action="decline")
    if await ask(params.message):
        return mcp_types.ElicitResult(action="accept", content=content)
    return mcp_types.ElicitResult(action="decline")


def _spoken_form(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    for name, field in dict(schema.get("properties") or {}).items():
        if isinstance(field, dict) and field.get("type") == "boolean":
            content[name] = True
        elif isinstance(field, dict) and "default" in field:
            content[name] = field["default"]
    return None if any(name not in content for name in schema.get("required") or []) else content


def _destructive(tool: mcp_types.Tool, trusted: bool) -> bool:
    hints = tool.annotations
    if hints is None or not hints.read_only_hint:
        return not (trusted and hints is not None and hints.destructive_hint is False)
    return False


def _generic_question(server: str, tool: mcp_types.Tool, args: dict[str, Any]) -> str:
    shown = ", ".join(f"{key} {_clip(value)}" for key, value in list(args.items())[:2])
    return f"Run {tool.title or tool.name} on {server}{' with ' + shown if shown else ''}?"


def _clip(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


async def _own_file_question(connection: Connection, args: dict[str, Any]) -> str | None:
    operation, filename = args.get("operation"), str(args.get("filename") or "output.md")
    if operation == "replace" and not args.get("dry_run"):  # with no pattern it changes nothing: the server says why
        return f"Replace {_clip(args['pattern'])!r} in {filename}?" if args.get("pattern") else None
    writes_text = operation == "save_as" and args.get("content") is not None  # "save this as NAME": a write
    if operation in ("write", "delete", "restore") or (
        operation == "save_as" and (args.get("overwrite") or writes_text)
    ):
        target = str(args.get("new_filename") or filename) if operation == "save_as" else filename
        lines = await _line_count(connection, target)
        if operation == "delete":
            return f"Delete {target}?" + (f" Its {lines} lines would be lost." if lines else "")
        if not lines:
            return None  # nothing there to lose
        verb = "Restore" if operation == "restore" else "Overwrite"
        return f"{verb} {target}? Its {lines} lines would be replaced."
    return None


async def _line_count(connection: Connection, filename: str) -> int:
    """Lines in workspace file `filename` (0 when it is missing or empty), read through our own server."""
    try:
        result = await connection.call(OWN_FILE_TOOL, {"operation": "read", "filename": filename, "max_lines": 1}, 10)
    except (MCPError, ConnectionError, TimeoutError):  # ConnectionError: `ServerDown`
        return 0
    structured = result.structured_content or {}
    if result.is_error or not structured.get("content", "").strip():
        return 0
    total = structured.get("total_lines")
    return total if isinstance(total, int) else 1
