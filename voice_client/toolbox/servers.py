"""Which MCP servers the voice client uses: the standard `mcpServers` config file, read into `ServerSpec`s.

The shape Claude Desktop, Claude Code's `.mcp.json`, Cursor, Gemini CLI and the MCP Inspector read:
`{"mcpServers": {"<name>": {"command", "args", "env", "cwd"} | {"url", "headers", "type"}}}` (`servers`
is accepted too), with `${VAR}` and `${VAR:-default}` expanded from the environment and unknown keys
ignored, plus Gemini CLI's `description` and our own per-server keys (README, "Your own MCP servers").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

Transport = Literal["http", "sse", "stdio"]
Approval = Literal["always", "never", "destructive"] | frozenset[str]
"""Which calls of a server need the user's spoken yes: all, none, the destructive ones (see `approvals.py`),
or the tools named."""

OWN_SERVER = "assistant"
"""The name of the assistant's own MCP server among the configured ones (its tools keep their names)."""
_TYPES: dict[str, Transport] = {
    "stdio": "stdio",
    "http": "http",
    "streamable-http": "http",
    "streamableHttp": "http",
    "sse": "sse",
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ServerConfigError(ValueError):
    """The config file is unusable; the message is one line naming the file, the server and the key."""


@dataclass(frozen=True)
class ServerSpec:
    """How to reach one MCP server and what the voice client may do with it."""

    name: str
    """The config key (`files`); other servers' tools are registered as `<name>__<tool>`."""
    transport: Transport
    url: str = ""
    """Endpoint of an `http` or `sse` server."""
    headers: tuple[tuple[str, str], ...] = ()
    """HTTP headers sent to a remote server (never logged)."""
    command: tuple[str, ...] = ()
    """Program and arguments spawned for a `stdio` server."""
    env: tuple[tuple[str, str], ...] = ()
    """Variables added to the spawned server's environment."""
    cwd: str | None = None
    enabled: bool = True
    allowed_tools: frozenset[str] | None = None
    """Only these tools (real names) are offered to the model; None = all."""
    disabled_tools: frozenset[str] = frozenset()
    """These tools are never offered."""
    require_approval: Approval = "destructive"
    trusted: bool = False
    """Trust the server's tool annotations (`readOnlyHint`, `destructiveHint`) when deciding approvals."""
    own: bool = False
    """The assistant's own MCP server: its tool names are registered unchanged."""
    call_timeout_s: float | None = None
    """Longest one call may take (`timeout`, milliseconds in the file); None = the client's `TOOL_TIMEOUT_S`."""
    connect_timeout_s: float | None = None
    """Longest a connect may take (`connectTimeout`, ms); None = the client's `MCP_CONNECT_TIMEOUT_S`."""
    description: str = ""
    """What the server works on, in the user's words (Gemini CLI's `description`), put before each of its tools'
    descriptions: a filesystem server's tools take paths, and only this tells the model which folder they are in."""


def read_servers(path: Path, env: Mapping[str, str]) -> list[ServerSpec]:
    """The servers `path` lists, in file order; disabled ones included (`enabled=False`).

    Raises:
        ServerConfigError: one line naming the file, the server and the key at fault.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ServerConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ServerConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ServerConfigError(f"{path}: expected a JSON object with an 'mcpServers' map")
    key = "mcpServers" if "mcpServers" in document else "servers"
    servers = document.get(key)
    if not isinstance(servers, dict):
        raise ServerConfigError(f"{path}: '{key}' must be an object mapping server names to settings")
    specs = []
    for name, entry in servers.items():
        where = f"{path}: server {name!r}"
        if not isinstance(entry, dict):
            raise ServerConfigError(f"{where}: settings must be an object")
        try:
            specs.append(_spec(name, entry, env))
        except _BadKey as bad:
            raise ServerConfigError(f"{where}: {bad.key!r} {bad.problem}") from None
    return specs


class _BadKey(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key} {problem}")
        self.key, self.problem = key, problem


def _spec(name: str, entry: dict[str, Any], env: Mapping[str, str]) -> ServerSpec:
    if not name or any(c.isspace() for c in name):
        raise _BadKey("name", "must be a non-empty word")
    url = _text(entry, "url", env) or _text(entry, "httpUrl", env)
    command = _text(entry, "command", env)
    declared = entry.get("type")
    if declared is not None and declared not in _TYPES:
        raise _BadKey("type", f"is {declared!r}; choose one of {', '.join(_TYPES)}")
    transport = _TYPES[declared] if declared else _infer(url, command, "httpUrl" in entry)
    if transport == "stdio" and not command:
        raise _BadKey("command", "is required for a stdio server")
    if transport != "stdio" and urlsplit(url).scheme not in ("http", "https"):
        raise _BadKey("url", f"must be an http(s) URL, got {url!r}")
    return ServerSpec(
        name=name,
        transport=transport,
        url=url,
        headers=_pairs(entry, "headers", env),
        command=(command, *_strings(entry, "args", env)) if command else (),
        env=_pairs(entry, "env", env),
        cwd=_text(entry, "cwd", env) or None,
        enabled=_flag(entry, "enabled", True),
        allowed_tools=frozenset(_strings(entry, "allowedTools", env)) if "allowedTools" in entry else None,
        disabled_tools=frozenset(_strings(entry, "disabledTools", env)),
        require_approval=_approval(entry.get("requireApproval", "destructive")),
        trusted=_flag(entry, "trust", False),
        call_timeout_s=_millis(entry, "timeout"),
        connect_timeout_s=_millis(entry, "connectTimeout"),
        description=_text(entry, "description", env),
    )


def _infer(url: str, command: str, gemini_http: bool) -> Transport:
    if command and not url:
        return "stdio"
    if not url:
        raise _BadKey("command", "or 'url' is required")
    if not gemini_http and urlsplit(url).path.rstrip("/").endswith("/sse"):
        return "sse"
    return "http"


def expand(value: str, env: Mapping[str, str], key: str) -> str:
    """`value` with `${VAR}` and `${VAR:-default}` replaced from `env`.

    Raises:
        _BadKey: a `${VAR}` without a default names a variable that is not set.
    """

    def one(match: re.Match[str]) -> str:
        variable, default = match.group(1), match.group(2)
        if env.get(variable):
            return env[variable]
        if default is None:
            raise _BadKey(key, f"uses ${{{variable}}}, which is not set")
        return default

    return _VARIABLE.sub(one, value)


def _text(entry: dict[str, Any], key: str, env: Mapping[str, str]) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise _BadKey(key, "must be a string")
    return expand(value, env, key).strip()


def _strings(entry: dict[str, Any], key: str, env: Mapping[str, str]) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _BadKey(key, "must be a list of strings")
    return [expand(v, env, key) for v in value]


def _pairs(entry: dict[str, Any], key: str, env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    value = entry.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _BadKey(key, "must be an object of strings")
    return tuple((k, expand(v, env, f"{key}.{k}")) for k, v in value.items())


def _flag(entry: dict[str, Any], key: str, default: bool) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise _BadKey(key, "must be true or false")
    return value


def _millis(entry: dict[str, Any], key: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 3_600_000:
        raise _BadKey(key, "must be milliseconds between 1 and 3600000")
    return value / 1000


def _approval(value: object) -> Approval:
    if value is True:
        return "always"
    if value is False:
        return "never"
    if value in ("always", "never", "destructive"):
        return value  # type: ignore[return-value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise _BadKey("requireApproval", "must be 'always', 'never', 'destructive' or a list of tool names")
