"""Names the Realtime API accepts for every server's tools: stable across runs, never two alike.

The rule (README, "Your own MCP servers"): our own server's tools keep their names; another server's tool
`read_text_file` under config key `files` becomes `files__read_text_file`; characters outside
`[a-zA-Z0-9_-]` become `_`; a name over 64 characters, or one already taken, is cut and ends in `_` and
8 hex digits of the SHA-1 of `<server>/<tool>`, so it depends only on the server's key and the tool's name.
"""

from __future__ import annotations

import hashlib
import re

VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""What the Realtime API accepts as a function name."""
SEPARATOR = "__"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def public_name(server: str, tool: str, own: bool) -> str:
    """The name tool `tool` of `server` is registered under, before collisions are resolved."""
    if own and VALID.match(tool):
        return tool
    name = _UNSAFE.sub("_", f"{server}{SEPARATOR}{tool}")
    return name if len(name) <= 64 else hashed_name(server, tool)


def hashed_name(server: str, tool: str) -> str:
    """The collision-proof form: the readable name cut to 55 characters, `_`, 8 hex digits."""
    digest = hashlib.sha1(f"{server}/{tool}".encode()).hexdigest()[:8]
    readable = _UNSAFE.sub("_", f"{server}{SEPARATOR}{tool}")
    return f"{readable[:55]}_{digest}"


def assign(pairs: list[tuple[str, str, bool]]) -> dict[str, tuple[str, str]]:
    """Public names for (server, tool, own) triples, in order: `{public name: (server, real tool name)}`.

    A name already taken by an earlier pair goes to its hashed form, so the first keeps the plain one.
    """
    names: dict[str, tuple[str, str]] = {}
    for server, tool, own in pairs:
        name = public_name(server, tool, own)
        if name in names:
            name = hashed_name(server, tool)
        names[name] = (server, tool)
    return names
