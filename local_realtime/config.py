"""The offline engine's configuration: one frozen value built from the environment in `__main__`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from local_realtime.few_shot import PACKAGED_FEW_SHOT, Example, FewShotError, load_few_shot

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """One or more environment variables are invalid; the message lists every problem."""


@dataclass(frozen=True)
class Config:
    """Everything `python -m local_realtime` needs.

    Build it with `Config.from_env(os.environ)`; tests pass a dict.
    """

    host: str = "127.0.0.1"
    """Bind address (`LOCAL_REALTIME_HOST`)."""
    port: int = 8765
    """Port (`LOCAL_REALTIME_PORT`); 0 picks a free one."""
    model_path: Path | None = None
    """Any GGUF instruct model (`LOCAL_MODEL_PATH`); None = the packaged Qwen2.5-Coder-1.5B."""
    model_cache: Path = Path(".models")
    """Where the packaged model is assembled once (`LOCAL_MODEL_CACHE`)."""
    tts: Literal["piper", "espeak"] = "piper"
    """Voice (`LOCAL_TTS`): the neural piper voice, or espeak-ng (fast, robotic)."""
    log_level: str = "INFO"
    """Logging level name (`LOG_LEVEL`)."""
    few_shot: tuple[Example, ...] = field(default_factory=lambda: load_few_shot(PACKAGED_FEW_SHOT))
    """Worked turns for the brain's prompt, loaded from the JSON file named by `LOCAL_FEW_SHOT_PATH`
    (default: the packaged `local_realtime/few_shot.json`, written for this project's MCP server)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], base_dir: Path | None = None) -> Config:
        """Parse the environment; relative paths are taken from `base_dir` (default: cwd).

        Raises:
            ConfigError: listing every invalid variable.
        """
        base = (base_dir or Path.cwd()).resolve()
        problems: list[str] = []

        def path(value: str) -> Path:
            return Path(value).expanduser() if Path(value).expanduser().is_absolute() else base / value

        port = cls.port
        if raw_port := env.get("LOCAL_REALTIME_PORT"):
            if raw_port.isdigit() and int(raw_port) <= 65535:
                port = int(raw_port)
            else:
                problems.append(f"LOCAL_REALTIME_PORT={raw_port!r} is not a port number (0-65535)")
        model_path = path(env["LOCAL_MODEL_PATH"]) if env.get("LOCAL_MODEL_PATH") else None
        if model_path is not None and not model_path.is_file():
            problems.append(f"LOCAL_MODEL_PATH={str(model_path)!r} is not a file")
        tts = (env.get("LOCAL_TTS") or cls.tts).lower()
        if tts not in ("piper", "espeak"):
            problems.append(f"LOCAL_TTS={tts!r} must be 'piper' or 'espeak'")
        log_level = (env.get("LOG_LEVEL") or cls.log_level).upper()
        if log_level not in _LOG_LEVELS:
            problems.append(f"LOG_LEVEL={log_level!r} must be one of {', '.join(_LOG_LEVELS)}")
        few_shot_path = path(env["LOCAL_FEW_SHOT_PATH"]) if env.get("LOCAL_FEW_SHOT_PATH") else PACKAGED_FEW_SHOT
        few_shot = _few_shot(few_shot_path, problems)
        if problems:
            raise ConfigError("Invalid configuration: " + "; ".join(problems))
        return cls(
            host=env.get("LOCAL_REALTIME_HOST") or cls.host,
            port=port,
            model_path=model_path,
            model_cache=path(env.get("LOCAL_MODEL_CACHE") or str(cls.model_cache)),
            tts=tts,  # type: ignore[arg-type]  # checked above
            log_level=log_level,
            few_shot=few_shot,
        )


def _few_shot(path: Path, problems: list[str]) -> tuple[Example, ...]:
    """The examples in the file at `path`; on failure, () and the reason appended to `problems`."""
    try:
        return load_few_shot(path)
    except OSError as exc:
        problems.append(f"LOCAL_FEW_SHOT_PATH={str(path)!r} cannot be read ({exc.strerror})")
    except FewShotError as exc:
        problems.append(f"LOCAL_FEW_SHOT_PATH: {exc}")
    return ()
