"""The `mcpServers` config file: every shape other clients write is read, and a bad one is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.voice_client.test_main import _env, _run_cli
from voice_client.config import Config, ConfigError
from voice_client.toolbox import ServerConfigError, read_servers

PEER = {"REALTIME_URL": "ws://127.0.0.1:9/v1/realtime"}


def _file(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_the_standard_shapes_are_read_with_variables_expanded_and_unknown_keys_ignored(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        {
            "mcpServers": {
                "files": {"command": "npx", "args": ["-y", "server-fs", "${HOME_DIR}"], "env": {"A": "${A:-one}"}},
                "remote": {"url": "https://example.test/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
                "legacy": {"url": "http://127.0.0.1:9/sse", "someOtherClientsKey": {"x": 1}},
                "gemini": {"httpUrl": "http://127.0.0.1:9/sse"},
                "typed": {"type": "sse", "url": "http://127.0.0.1:9/events", "timeout": 1500},
                "ours": {
                    "command": "python",
                    "cwd": "/srv",
                    "enabled": False,
                    "allowedTools": ["read"],
                    "disabledTools": ["delete"],
                    "requireApproval": ["write"],
                    "trust": True,
                    "connectTimeout": 2000,
                },
            }
        },
    )
    files, remote, legacy, gemini, typed, ours = read_servers(path, {"HOME_DIR": "/home/u", "TOKEN": "t0k"})
    assert (files.transport, files.command, files.env) == (
        "stdio",
        ("npx", "-y", "server-fs", "/home/u"),
        (("A", "one"),),
    )
    assert (remote.transport, remote.headers) == ("http", (("Authorization", "Bearer t0k"),))
    assert legacy.transport == "sse"  # a /sse path means SSE
    assert gemini.transport == "http"  # Gemini's httpUrl is streamable HTTP whatever its path
    assert (typed.transport, typed.call_timeout_s) == ("sse", 1.5)
    assert files.require_approval == "destructive" and not files.trusted and files.enabled
    assert not ours.enabled and ours.cwd == "/srv" and ours.trusted and ours.connect_timeout_s == 2.0
    assert ours.allowed_tools == {"read"} and ours.disabled_tools == {"delete"} and ours.require_approval == {"write"}


def test_the_vscode_servers_key_is_read_too(tmp_path: Path) -> None:
    path = _file(tmp_path, {"servers": {"memory": {"type": "stdio", "command": "mcp-server-memory"}}})
    assert [s.name for s in read_servers(path, {})] == ["memory"]


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        ({"files": {"args": ["x"]}}, "server 'files': 'command' or 'url' is required"),
        ({"files": {"command": "x", "args": "not a list"}}, "server 'files': 'args' must be a list of strings"),
        ({"api": {"url": "ftp://host/mcp"}}, "server 'api': 'url' must be an http(s) URL"),
        ({"api": {"url": "http://h/mcp", "type": "websocket"}}, "server 'api': 'type' is 'websocket'"),
        ({"api": {"url": "http://h/mcp", "headers": {"X": "${NOT_SET}"}}}, "'headers.X' uses ${NOT_SET}, which is not"),
        ({"api": {"url": "http://h/mcp", "timeout": "10s"}}, "server 'api': 'timeout' must be milliseconds"),
        ({"api": {"url": "http://h/mcp", "enabled": "yes"}}, "server 'api': 'enabled' must be true or false"),
        ({"api": {"url": "http://h/mcp", "requireApproval": "sometimes"}}, "'requireApproval' must be 'always'"),
        ({"api": "http://h/mcp"}, "server 'api': settings must be an object"),
    ],
)
def test_a_bad_server_is_one_line_naming_the_file_the_server_and_the_key(
    tmp_path: Path, servers: dict[str, object], expected: str
) -> None:
    path = _file(tmp_path, {"mcpServers": servers})
    with pytest.raises(ServerConfigError) as caught:
        read_servers(path, {})
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "not valid JSON"), ("[]", "expected a JSON object"), ('{"mcpServers": []}', "'mcpServers' must be")],
)
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        Config.from_env({**PEER, "MCP_CONFIG": "mcp.json"}, base_dir=tmp_path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.json: cannot read it"):
        Config.from_env({**PEER, "MCP_CONFIG": "nowhere.json"}, base_dir=tmp_path)


def test_the_config_alone_replaces_the_default_server_and_a_url_adds_ours(tmp_path: Path) -> None:
    _file(tmp_path, {"mcpServers": {"memory": {"command": "mcp-server-memory"}}})
    alone = Config.from_env({**PEER, "MCP_CONFIG": "mcp.json"}, base_dir=tmp_path)
    assert not alone.mcp_own and [s.name for s in alone.mcp_servers] == ["memory"]
    both = Config.from_env({**PEER, "MCP_CONFIG": "mcp.json", "MCP_SERVER_URL": "http://h/mcp"}, base_dir=tmp_path)
    assert both.mcp_own and both.mcp_url == "http://h/mcp"
    assert Config.from_env(PEER).mcp_own  # no config: our own server, as before


def test_our_own_servers_name_is_refused_beside_a_url(tmp_path: Path) -> None:
    _file(tmp_path, {"mcpServers": {"assistant": {"url": "http://h/mcp"}}})
    with pytest.raises(ConfigError, match="'assistant' is the assistant's own server's name"):
        Config.from_env({**PEER, "MCP_CONFIG": "mcp.json", "MCP_SERVER_URL": "http://h/mcp"}, base_dir=tmp_path)


async def test_the_cli_prints_one_line_for_a_bad_config_file(tmp_path: Path) -> None:
    _file(tmp_path, {"mcpServers": {"files": {"command": "x", "env": {"ROOT": 7}}}})
    code, out, err = await _run_cli(
        "--mcp-config", "mcp.json", "--text", "hi", env=_env(tmp_path, **PEER), cwd=tmp_path
    )
    assert code == 2 and out == ""
    assert (
        err.strip()
        == "configuration error: " + f"{tmp_path / 'mcp.json'}: server 'files': 'env' must be an object of strings"
    )


def test_the_demo_keeps_its_own_server_beside_the_configured_ones(tmp_path: Path) -> None:
    import argparse

    import demo

    path = _file(tmp_path, {"mcpServers": {"memory": {"command": "mcp-server-memory"}}})
    args = argparse.Namespace(voice=None, offline=True, mcp_config=str(path))
    config = demo._client_config({}, args, "http://127.0.0.1:9/mcp", "ws://127.0.0.1:9/v1/realtime")
    assert config.mcp_own and config.mcp_url == "http://127.0.0.1:9/mcp"
    assert [s.name for s in config.mcp_servers] == ["memory"]


def test_the_readme_examples_are_valid_configs(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in readme.split("```json\n")[1:]]
    claude_desktop, ours = (block for block in blocks if '"mcpServers"' in block)
    path = tmp_path / "mcp.json"
    path.write_text(claude_desktop, encoding="utf-8")
    (assistant,) = read_servers(path, {})
    assert assistant.transport == "stdio" and assistant.command[1:3] == ("-m", "mcp_server")
    path.write_text(ours, encoding="utf-8")
    files, memory, remote = read_servers(path, {"HOME": "/home/u", "REMOTE_TOKEN": "t"})
    assert files.command[-1] == "/home/u/notes" and dict(memory.env)["MEMORY_FILE_PATH"] == "./memory.jsonl"
    assert files.description.startswith("The user's notes folder") and not memory.description
    assert memory.require_approval == "never" and remote.allowed_tools == {"search"} and remote.call_timeout_s == 20
