"""The voice client's MCP side: which servers (`servers.py`), their connections (`connection.py`), one tool
list with unambiguous names (`names.py`, `tools.py`), approvals (`approvals.py`) and what a call gives back
(`outcome.py`). The session, the front ends and the engines see only `McpTools` and `ToolOutcome`."""

from voice_client.toolbox.approvals import Ask, classify
from voice_client.toolbox.connection import CLIENT_INFO, reconnect_delays
from voice_client.toolbox.outcome import (
    CHANGED_KEY,
    INSTRUCTIONS_KEY,
    SCRIPT_KEYS,
    VOCABULARY_URI,
    ToolOutcome,
    failure,
    realtime_tool,
    summarize,
)
from voice_client.toolbox.servers import ServerConfigError, ServerSpec, read_servers
from voice_client.toolbox.tools import MAX_TOOLS, McpTools, declined

__all__ = [
    "CHANGED_KEY",
    "CLIENT_INFO",
    "INSTRUCTIONS_KEY",
    "MAX_TOOLS",
    "SCRIPT_KEYS",
    "VOCABULARY_URI",
    "Ask",
    "McpTools",
    "ServerConfigError",
    "ServerSpec",
    "ToolOutcome",
    "classify",
    "declined",
    "failure",
    "read_servers",
    "realtime_tool",
    "reconnect_delays",
    "summarize",
]
