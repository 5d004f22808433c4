"""An external client nobody here wrote, the MCP Inspector CLI, against our server on stdio and HTTP.

`make test` installs the Inspector into `tools/node_modules` (pinned in `tools/package.json`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_server.config import Config
from tests.servers import running_mcp_server

REPO = Path(__file__).resolve().parents[2]
INSPECTOR = REPO / "tools" / "node_modules" / ".bin" / "mcp-inspector"


def _inspect(target: list[str], *args: str) -> dict:
    if not INSPECTOR.exists():
        pytest.fail("The MCP Inspector is not installed; run `make inspector` (make test does it).")
    done = subprocess.run(
        [str(INSPECTOR), "--cli", *target, *args], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, f"inspector exit {done.returncode}: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def _stdio_target(config: Config) -> list[str]:
    env = ["env", f"WORKING_DIRECTORY={config.workspace_dir}", f"SCRIPTS_DIR={config.scripts_dir}"]
    return [*env, sys.executable, "-m", "mcp_server", "serve", "--transport", "stdio", "--no-library", "--"]


def _check_both_tool_families(target: list[str], config: Config) -> None:
    listed = _inspect(target, "--method", "tools/list")
    assert {"file_operation", "load_script", "list_scripts"} <= {t["name"] for t in listed["tools"]}
    wrote = _inspect(
        target, "--method", "tools/call", "--tool-name", "file_operation", "--format", "json",
        "--tool-args-json", json.dumps({"operation": "append", "filename": "inspected.md", "content": "hello"}),
    )  # fmt: skip
    assert wrote["result"]["structuredContent"]["filepath"] == "inspected.md"
    loaded = _inspect(
        target, "--method", "tools/call", "--tool-name", "load_script", "--format", "json",
        "--tool-args-json", json.dumps({"script_name": "interview_prep"}),
    )  # fmt: skip
    assert loaded["result"]["structuredContent"]["current_stage"] == "setup"
    assert (config.workspace_dir / "inspected.md").read_text() == "hello\n"


def test_inspector_over_stdio_lists_and_calls_tools(config: Config) -> None:
    _check_both_tool_families(_stdio_target(config), config)


def test_inspector_over_streamable_http_lists_and_calls_tools(config: Config) -> None:
    with running_mcp_server(config) as base:
        _check_both_tool_families([base + "/mcp"], config)
