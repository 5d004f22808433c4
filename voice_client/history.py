"""Recent conversation turns, kept so a new socket (a new server session) can be given the context.

A reconnect replays them as `conversation.item.create` events: user and assistant text (assistant
audio cannot be re-created, so its transcript stands in) and tool calls with their outputs.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from voice_client import realtime
from voice_client.calls import Call


class History:
    """The last `max_items` turns and tool calls, oldest first."""

    def __init__(self, max_items: int) -> None:
        self._entries: deque[dict[str, Any] | Call] = deque(maxlen=max_items)

    def user(self, text: str) -> None:
        self._entries.append(realtime.user_text(text))

    def assistant(self, text: str) -> None:
        self._entries.append(realtime.assistant_text(text))

    def call(self, call: Call) -> None:
        """A tool call; its output (once known) is replayed with it."""
        self._entries.append(call)

    @property
    def ends_with_user(self) -> bool:
        """True when the user spoke last, i.e. an answer is still owed."""
        last = self._entries[-1] if self._entries else None
        return isinstance(last, dict) and last.get("role") == "user"

    def replay(self, generation: int) -> list[dict[str, Any]]:
        """Client events that rebuild the conversation; restored outputs count as sent on `generation`."""
        events: list[dict[str, Any]] = []
        for entry in self._entries:
            if not isinstance(entry, Call):
                events.append(realtime.item_create(entry))
                continue
            events.append(realtime.item_create(realtime.function_call(entry.call_id, entry.name, entry.arguments)))
            if entry.output is not None:
                entry.sent_on = generation
                events.append(realtime.item_create(realtime.function_call_output(entry.call_id, entry.output)))
        return events
