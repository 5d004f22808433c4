"""The MCP bridge's old address: everything moved to the `voice_client.toolbox` package (several servers,
names, approvals). Kept so that callers written against one server (tests, benchmarks, other branches) still
import from here; new code imports `voice_client.toolbox`."""

from voice_client.toolbox import (
    CHANGED_KEY,
    CLIENT_INFO,
    INSTRUCTIONS_KEY,
    SCRIPT_KEYS,
    VOCABULARY_URI,
    McpTools,
    ToolOutcome,
    failure,
    realtime_tool,
    reconnect_delays,
    summarize,
)

__all__ = [
    "CHANGED_KEY",
    "CLIENT_INFO",
    "INSTRUCTIONS_KEY",
    "SCRIPT_KEYS",
    "VOCABULARY_URI",
    "McpTools",
    "ToolOutcome",
    "failure",
    "realtime_tool",
    "reconnect_delays",
    "summarize",
]
