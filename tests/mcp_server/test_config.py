"""Config from a plain mapping: defaults, paths relative to a base, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_server.config import Config, ConfigError


def test_defaults_follow_the_readme(tmp_path: Path) -> None:
    config = Config.from_env({}, base_dir=tmp_path)
    assert config.workspace_dir == tmp_path / "workspace"
    assert config.scripts_dir == tmp_path / "scripts"
    assert config.library_dir == tmp_path / "library"
    assert (config.host, config.port, config.auth_token) == ("127.0.0.1", 8000, None)
    assert config.audit_log == tmp_path / "workspace" / ".audit.log"


def test_values_come_from_the_mapping(tmp_path: Path) -> None:
    env = {"WORKING_DIRECTORY": "/srv/ws", "MCP_PORT": "9001", "MCP_AUTH_TOKEN": "t", "CHROMA_HOST": "db"}
    config = Config.from_env(env, base_dir=tmp_path)
    assert config.workspace_dir == Path("/srv/ws")
    assert (config.port, config.auth_token, config.chroma_host) == (9001, "t", "db")


def test_every_invalid_variable_is_named_in_one_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"MCP_PORT": "http", "CHROMA_PORT": "70000", "LOG_LEVEL": "LOUD"}, base_dir=tmp_path)
    message = str(caught.value)
    assert "MCP_PORT" in message and "CHROMA_PORT" in message and "LOG_LEVEL" in message
