"""`Config.from_env` and the `python -m local_realtime` entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from local_realtime.config import Config, ConfigError
from local_realtime.few_shot import PACKAGED_FEW_SHOT, Example, load_few_shot


def test_empty_environment_gives_the_defaults(tmp_path: Path) -> None:
    config = Config.from_env({}, base_dir=tmp_path)
    assert (config.host, config.port, config.model_path, config.tts, config.log_level) == (
        "127.0.0.1",
        8765,
        None,
        "piper",
        "INFO",
    )
    assert config.model_cache == tmp_path.resolve() / ".models"
    assert config.few_shot == load_few_shot(PACKAGED_FEW_SHOT)


def test_every_variable_is_read(tmp_path: Path) -> None:
    gguf = tmp_path / "other.gguf"
    gguf.write_bytes(b"GGUF")
    env = {
        "LOCAL_REALTIME_HOST": "0.0.0.0",
        "LOCAL_REALTIME_PORT": "9000",
        "LOCAL_MODEL_PATH": "other.gguf",
        "LOCAL_MODEL_CACHE": "/var/cache/models",
        "LOCAL_TTS": "espeak",
        "LOG_LEVEL": "debug",
    }
    config = Config.from_env(env, base_dir=tmp_path)
    assert config == Config(
        "0.0.0.0", 9000, tmp_path.resolve() / "other.gguf", Path("/var/cache/models"), "espeak", "DEBUG"
    )


def test_few_shot_examples_come_from_the_named_file(tmp_path: Path) -> None:
    (tmp_path / "mine.json").write_text('[{"user": "Hi", "say": "Hello"}]', encoding="utf-8")

    config = Config.from_env({"LOCAL_FEW_SHOT_PATH": "mine.json"}, base_dir=tmp_path)

    assert config.few_shot == (Example(user="Hi", say="Hello"),)


def test_a_malformed_few_shot_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('[{"user": "Hi"}]', encoding="utf-8")

    with pytest.raises(ConfigError, match=r"LOCAL_FEW_SHOT_PATH: Invalid few-shot file .*example 0, 'say'"):
        Config.from_env({"LOCAL_FEW_SHOT_PATH": "bad.json"}, base_dir=tmp_path)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    env = {
        "LOCAL_REALTIME_PORT": "70000",
        "LOCAL_MODEL_PATH": "missing.gguf",
        "LOCAL_TTS": "say",
        "LOG_LEVEL": "loud",
        "LOCAL_FEW_SHOT_PATH": "missing.json",
    }
    with pytest.raises(ConfigError) as error:
        Config.from_env(env, base_dir=tmp_path)
    message = str(error.value)
    for name in env:
        assert name in message


def test_help_runs_without_loading_models() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local_realtime", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "--port" in result.stdout and "LOCAL_MODEL_PATH" in result.stdout and "LOCAL_FEW_SHOT_PATH" in result.stdout


def test_bad_environment_exits_with_the_problems(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local_realtime"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"LOCAL_TTS": "say", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "LOCAL_TTS='say'" in result.stderr
