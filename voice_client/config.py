"""The voice client's configuration: one frozen value built from the environment in `__main__`.

The default Realtime model id lives here and nowhere else (ids get retired; change it in one place).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from voice_client.toolbox.servers import OWN_SERVER, ServerConfigError, ServerSpec, read_servers

DEFAULT_MODEL = "gpt-realtime-2.1"
"""A current GA Realtime model (the Agents SDK default as of 2026); override with `REALTIME_MODEL`."""
DEFAULT_REALTIME_URL = "wss://api.openai.com/v1/realtime"
DEFAULT_MCP_URL = "http://127.0.0.1:8000/mcp"
DEFAULT_INSTRUCTIONS = (
    "You are a friendly voice assistant. Keep spoken answers short. You can guide the user through "
    "scripts, edit markdown files in their workspace and search their document library with your tools. "
    "Before a tool call that may take a moment, say a few words such as 'let me check'."
)
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")

_SERVER_VARIABLES = (
    "WORKING_DIRECTORY",
    "SCRIPTS_DIR",
    "LIBRARY_DIR",
    "INDEX_DIR",
    "EMBEDDING_MODEL",
    "CHROMA_HOST",
    "CHROMA_PORT",
    "HF_HUB_OFFLINE",
    "PYTHONPATH",
    "LOG_LEVEL",
)
"""Passed through to a stdio MCP server (the SDK gives children only a minimal environment)."""

TurnDetection = Literal["server_vad", "semantic_vad", "none"]
McpTransport = Literal["http", "sse", "stdio"]


class ConfigError(ValueError):
    """One or more environment variables are invalid; the message lists every problem."""


@dataclass(frozen=True)
class Config:
    """Everything the voice client needs. Build with `Config.from_env(os.environ)`; tests pass a dict."""

    realtime_url: str = DEFAULT_REALTIME_URL
    """Realtime WebSocket endpoint without the query (`REALTIME_URL`); `?model=` is added on connect."""
    api_key: str = field(default="", repr=False)
    """Bearer credential for the Realtime socket (`OPENAI_API_KEY`); never logged or printed."""
    model: str = DEFAULT_MODEL
    """Realtime model id (`REALTIME_MODEL`)."""
    voice: str = "marin"
    """Output voice (`DEFAULT_VOICE`)."""
    instructions: str = DEFAULT_INSTRUCTIONS
    """Session instructions until a script replaces them (`REALTIME_INSTRUCTIONS`)."""
    turn_detection: TurnDetection = "server_vad"
    """`server_vad`, `semantic_vad` or `none` (push-to-talk / text) (`VAD_TYPE`)."""
    vad_threshold: float = 0.5
    """server_vad loudness threshold 0..1 (`VAD_THRESHOLD`)."""
    vad_prefix_padding_ms: int = 300
    """Audio kept before detected speech (`VAD_PREFIX_PADDING_MS`)."""
    vad_silence_ms: int = 500
    """Silence that ends a turn (`VAD_SILENCE_MS`)."""
    vad_eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    """semantic_vad eagerness (`VAD_EAGERNESS`)."""
    interrupt_response: bool = True
    """Let the server cancel a running response when the user speaks (`VAD_INTERRUPT_RESPONSE`)."""
    half_duplex: bool = False
    """Mute the microphone while the assistant speaks (loudspeakers without echo cancellation;
    the user then cannot interrupt) (`HALF_DUPLEX`)."""
    echo_cancellation: bool = True
    """Remove the speaker's sound from the microphone's (WebRTC AEC3), so loudspeakers do not interrupt or
    answer themselves and the user can still interrupt (`ECHO_CANCELLATION`)."""
    transcription_model: str | None = "gpt-4o-mini-transcribe"
    """Model for user transcripts, or None to disable (`TRANSCRIPTION_MODEL`, empty = off)."""
    mcp_url: str = DEFAULT_MCP_URL
    """MCP endpoint: `/mcp` for http, `/sse` for sse (`MCP_SERVER_URL`)."""
    mcp_transport: McpTransport = "http"
    """`http` (streamable HTTP), `sse` or `stdio` (`MCP_TRANSPORT`)."""
    mcp_command: tuple[str, ...] = (sys.executable, "-m", "mcp_server", "serve", "--transport", "stdio")
    """Command spawned for the stdio transport (`MCP_COMMAND`, split on spaces)."""
    mcp_env: tuple[tuple[str, str], ...] = ()
    """Variables handed to the spawned stdio server (its workspace, scripts, library settings)."""
    mcp_auth_token: str | None = field(default=None, repr=False)
    """Bearer token for the MCP server (`MCP_AUTH_TOKEN`); never logged."""
    mcp_servers: tuple[ServerSpec, ...] = ()
    """Servers from the `mcpServers` file (`MCP_CONFIG`, `--mcp-config`), in file order, disabled ones too."""
    mcp_own: bool = True
    """Use the assistant's own server (`MCP_SERVER_URL`); off when only `MCP_CONFIG` names servers."""
    approval_timeout_s: float = 30.0
    """How long a held call waits for the user's yes before it counts as a no (`APPROVAL_TIMEOUT_S`)."""
    mcp_connect_timeout_s: float = 15.0
    """How long start-up waits for the MCP server before giving up (`MCP_CONNECT_TIMEOUT_S`)."""
    tool_timeout_s: float = 30.0
    """Longest one MCP tool call may take before the model is told it timed out (`TOOL_TIMEOUT_S`)."""
    workspace_dir: Path | None = None
    """Workspace root; transcripts go to `<workspace>/transcripts/` (`WORKING_DIRECTORY`); None = off."""
    connect_timeout_s: float = 20.0
    """How long start-up waits for the Realtime socket (`REALTIME_CONNECT_TIMEOUT_S`)."""
    history_items: int = 20
    """Recent conversation items replayed after a reconnect (`HISTORY_ITEMS`)."""
    text_only: bool = False
    """Text output and no turn detection (set by `--text`)."""
    log_level: str = "INFO"
    """Logging level name (`LOG_LEVEL`)."""

    @property
    def is_openai(self) -> bool:
        """True when the socket goes to OpenAI itself (then an API key is required)."""
        return (urlsplit(self.realtime_url).hostname or "").endswith("openai.com")

    def with_overrides(self, **changes: object) -> Self:
        """A copy with some fields replaced (command-line flags win over the environment)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str], base_dir: Path | None = None) -> Self:
        """Parse the environment; relative paths are taken from `base_dir` (default: cwd).

        Raises:
            ConfigError: listing every invalid variable.
        """
        problems: list[str] = []

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not a number")
                return default
            if not low <= value <= high:
                problems.append(f"{name}={raw} is outside {low}..{high}")
            return value

        def choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
            value = env.get(name, "").strip() or default
            if value not in allowed:
                problems.append(f"{name}={value!r}; choose one of {', '.join(allowed)}")
                return default
            return value

        workspace = env.get("WORKING_DIRECTORY", "").strip()
        base = (base_dir or Path.cwd()).resolve()
        servers_file = env.get("MCP_CONFIG", "").strip()
        servers: list[ServerSpec] = []
        if servers_file:
            try:
                servers = read_servers(base / servers_file, env)
            except ServerConfigError as exc:
                problems.append(str(exc))
        own = not servers_file or bool(env.get("MCP_SERVER_URL", "").strip() or env.get("MCP_TRANSPORT", "").strip())
        if own and any(s.name == OWN_SERVER for s in servers):
            problems.append(f"{servers_file}: server {OWN_SERVER!r} is the assistant's own server's name; rename it")
        config = cls(
            realtime_url=env.get("REALTIME_URL", "").strip() or DEFAULT_REALTIME_URL,
            api_key=env.get("OPENAI_API_KEY", "").strip(),
            model=env.get("REALTIME_MODEL", "").strip() or DEFAULT_MODEL,
            voice=choice("DEFAULT_VOICE", "marin", VOICES),
            instructions=env.get("REALTIME_INSTRUCTIONS", "").strip() or DEFAULT_INSTRUCTIONS,
            turn_detection=choice("VAD_TYPE", "server_vad", ("server_vad", "semantic_vad", "none")),  # type: ignore[arg-type]
            vad_threshold=number("VAD_THRESHOLD", 0.5, 0.0, 1.0),
            vad_prefix_padding_ms=int(number("VAD_PREFIX_PADDING_MS", 300, 0, 5000)),
            vad_silence_ms=int(number("VAD_SILENCE_MS", 500, 0, 10000)),
            vad_eagerness=choice("VAD_EAGERNESS", "auto", ("low", "medium", "high", "auto")),  # type: ignore[arg-type]
            interrupt_response=choice("VAD_INTERRUPT_RESPONSE", "true", ("true", "false")) == "true",
            half_duplex=choice("HALF_DUPLEX", "false", ("true", "false")) == "true",
            echo_cancellation=choice("ECHO_CANCELLATION", "true", ("true", "false")) == "true",
            transcription_model=env.get("TRANSCRIPTION_MODEL", "gpt-4o-mini-transcribe").strip() or None,
            mcp_url=env.get("MCP_SERVER_URL", "").strip() or DEFAULT_MCP_URL,
            mcp_transport=choice("MCP_TRANSPORT", "http", ("http", "sse", "stdio")),  # type: ignore[arg-type]
            mcp_command=tuple(env.get("MCP_COMMAND", "").split()) or cls.mcp_command,
            mcp_env=tuple((k, env[k]) for k in _SERVER_VARIABLES if env.get(k)),
            mcp_auth_token=env.get("MCP_AUTH_TOKEN", "").strip() or None,
            mcp_servers=tuple(servers),
            mcp_own=own,
            approval_timeout_s=number("APPROVAL_TIMEOUT_S", 30.0, 0.1, 600),
            mcp_connect_timeout_s=number("MCP_CONNECT_TIMEOUT_S", 15.0, 0.1, 600),
            tool_timeout_s=number("TOOL_TIMEOUT_S", 30.0, 0.001, 3600),
            workspace_dir=(base / workspace).resolve() if workspace else None,
            connect_timeout_s=number("REALTIME_CONNECT_TIMEOUT_S", 20.0, 0.1, 600),
            history_items=int(number("HISTORY_ITEMS", 20, 0, 1000)),
            log_level=env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
        )
        scheme = urlsplit(config.realtime_url).scheme
        if scheme not in ("ws", "wss"):
            problems.append(f"REALTIME_URL must start with ws:// or wss://, got {scheme or 'no scheme'}")
        if config.is_openai and not config.api_key:
            problems.append("OPENAI_API_KEY is required for api.openai.com (use REALTIME_URL for a local engine)")
        if problems:
            raise ConfigError("; ".join(problems))
        return config
