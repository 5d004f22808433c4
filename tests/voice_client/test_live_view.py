"""The live view's lines for real tool outcomes from the real MCP server over loopback HTTP."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from rich.console import Console

from voice_client.config import Config
from voice_client.live_view import LiveView
from voice_client.tools import McpTools


async def test_the_changed_file_line_follows_the_servers_changed_list(
    mcp_url: str, client_config: Callable[..., Config]
) -> None:
    screen = io.StringIO()
    view = LiveView(Console(file=screen, width=120, force_terminal=False, color_system=None))
    calls = [
        {"operation": "create", "filename": "notes.md", "content": "# Notes\n"},
        {"operation": "read", "filename": "notes.md"},
        {"operation": "backup", "filename": "notes.md"},
        {"operation": "replace", "filename": "notes.md", "pattern": "Notes", "replacement": "N", "dry_run": True},
        {"operation": "save_as", "filename": "notes.md", "new_filename": "copy.md"},
        {"operation": "read", "filename": "missing.md"},
    ]
    async with McpTools(client_config("ws://127.0.0.1:9/v1/realtime", mcp_url)) as tools:
        for args in calls:
            view.tool_call("file_operation", json.dumps(args))
            view.tool_result("file_operation", await tools.call("file_operation", json.dumps(args)))
    changed = [line.strip() for line in screen.getvalue().splitlines() if "changed workspace/" in line]
    assert changed == ["✎ changed workspace/notes.md", "✎ changed workspace/copy.md"]
    assert "missing.md" in screen.getvalue()  # the failed read is shown, as a failure, not as a change
