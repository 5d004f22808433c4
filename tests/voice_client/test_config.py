"""Config from a dict: defaults, validation listing every problem, and the model id in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_client import config as config_module
from voice_client.config import DEFAULT_MODEL, Config, ConfigError
from voice_client.realtime import session_update, socket_url


def test_defaults_talk_to_openai_with_the_ga_model(tmp_path: Path) -> None:
    config = Config.from_env({"OPENAI_API_KEY": "sk-x"}, base_dir=tmp_path)
    assert config.model == DEFAULT_MODEL
    assert socket_url(config.realtime_url, config.model) == f"wss://api.openai.com/v1/realtime?model={DEFAULT_MODEL}"
    assert config.mcp_transport == "http" and config.workspace_dir is None


def test_every_invalid_variable_is_named_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env(
            {"VAD_THRESHOLD": "loud", "MCP_TRANSPORT": "pigeon", "DEFAULT_VOICE": "robot", "TOOL_TIMEOUT_S": "-1"},
            base_dir=tmp_path,
        )
    message = str(caught.value)
    for name in ("VAD_THRESHOLD", "MCP_TRANSPORT", "DEFAULT_VOICE", "TOOL_TIMEOUT_S", "OPENAI_API_KEY"):
        assert name in message


def test_a_local_engine_needs_no_key_and_vad_settings_reach_session_update(tmp_path: Path) -> None:
    config = Config.from_env(
        {
            "REALTIME_URL": "ws://127.0.0.1:8765/v1/realtime",
            "VAD_TYPE": "semantic_vad",
            "VAD_EAGERNESS": "high",
            "VAD_INTERRUPT_RESPONSE": "false",
            "DEFAULT_VOICE": "cedar",
            "WORKING_DIRECTORY": "ws",
        },
        base_dir=tmp_path,
    )
    session = session_update(config, "Be brief.", [])["session"]
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": False,
    }
    assert session["audio"]["output"]["voice"] == "cedar"
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}
    assert config.workspace_dir == tmp_path / "ws"


def test_the_model_id_is_written_only_in_config() -> None:
    package = Path(config_module.__file__).parent
    holders = [p.name for p in package.glob("*.py") if DEFAULT_MODEL in p.read_text()]
    assert holders == ["config.py"]
