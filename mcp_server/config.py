"""The MCP server's configuration: one frozen value built from the environment in `__main__`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """One or more environment variables are invalid; the message lists every problem."""


@dataclass(frozen=True)
class Config:
    """Everything the MCP server needs, resolved to absolute paths.

    Build it with `Config.from_env(os.environ)` in `__main__`; tests pass a dict.
    """

    workspace_dir: Path
    """Root of the markdown workspace (`WORKING_DIRECTORY`); every file tool is confined to it."""
    scripts_dir: Path
    """Folder of guided-script JSON files (`SCRIPTS_DIR`)."""
    library_dir: Path
    """Documents to index for search (`LIBRARY_DIR`)."""
    index_dir: Path
    """Where the embedded Chroma store lives (`INDEX_DIR`)."""
    host: str = "127.0.0.1"
    """HTTP bind address (`MCP_HOST`)."""
    port: int = 8000
    """HTTP port (`MCP_PORT`)."""
    auth_token: str | None = None
    """Bearer token required on HTTP when set (`MCP_AUTH_TOKEN`). Never logged."""
    chroma_host: str | None = None
    """Use a Chroma server at this host instead of the embedded store (`CHROMA_HOST`)."""
    chroma_port: int = 8001
    """Port of that Chroma server (`CHROMA_PORT`)."""
    embedding_model: str | None = None
    """Path of a local sentence-transformers model (`EMBEDDING_MODEL`); None = packaged MiniLM."""
    max_write_bytes: int = 1_000_000
    """Largest content one write may produce (`MAX_WRITE_BYTES`)."""
    index_on_start: bool = True
    """Index a stale or empty library in the background at start-up (`INDEX_ON_START`)."""
    max_sessions: int = 1000
    """Open MCP sessions over HTTP at most (`MCP_MAX_SESSIONS`); past it a legacy `initialize` gets 503.
    Clients on the 2026-07-28 protocol hold no session and are never refused."""
    session_idle_s: float = 300.0
    """An HTTP session with no request in flight for this long is ended (`MCP_SESSION_IDLE_S`), so sessions
    opened and abandoned, even by a flood, free their place within minutes."""
    log_level: str = "INFO"
    """Logging level name (`LOG_LEVEL`)."""

    @property
    def audit_log(self) -> Path:
        """The audit log of every tool call: `<workspace>/.audit.log` (JSON lines)."""
        return self.workspace_dir / ".audit.log"

    @property
    def state_dir(self) -> Path:
        """Per-session script state survives reconnects here: `<workspace>/.sessions/`."""
        return self.workspace_dir / ".sessions"

    @classmethod
    def from_env(cls, env: Mapping[str, str], base_dir: Path | None = None) -> Config:
        """Parse the environment; relative paths are taken from `base_dir` (default: cwd).

        Raises:
            ConfigError: listing every invalid variable.
        """
        base = (base_dir or Path.cwd()).resolve()
        problems: list[str] = []

        def path(name: str, default: str) -> Path:
            value = env.get(name) or default
            return (base / value).resolve() if not Path(value).is_absolute() else Path(value).resolve()

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = env.get(name)
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not an integer")
                return default
            if not low <= value <= high:
                problems.append(f"{name}={value} must be between {low} and {high}")
            return value

        level = (env.get("LOG_LEVEL") or "INFO").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            problems.append(f"LOG_LEVEL={level!r} must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        config = cls(
            workspace_dir=path("WORKING_DIRECTORY", "workspace"),
            scripts_dir=path("SCRIPTS_DIR", "scripts"),
            library_dir=path("LIBRARY_DIR", "library"),
            index_dir=path("INDEX_DIR", ".index"),
            host=env.get("MCP_HOST") or "127.0.0.1",
            port=integer("MCP_PORT", 8000, 0, 65535),
            auth_token=env.get("MCP_AUTH_TOKEN") or None,
            chroma_host=env.get("CHROMA_HOST") or None,
            chroma_port=integer("CHROMA_PORT", 8001, 1, 65535),
            embedding_model=env.get("EMBEDDING_MODEL") or None,
            max_write_bytes=integer("MAX_WRITE_BYTES", 1_000_000, 1, 100_000_000),
            index_on_start=(env.get("INDEX_ON_START") or "1").lower() not in {"0", "false", "no"},
            max_sessions=integer("MCP_MAX_SESSIONS", 1000, 1, 1_000_000),
            session_idle_s=float(integer("MCP_SESSION_IDLE_S", 300, 1, 86_400)),
            log_level=level,
        )
        if problems:
            raise ConfigError("Invalid configuration: " + "; ".join(problems))
        return config
