"""The conversation of one connection: ordered GA items, their edits, and the brain's view of them.

Items are kept in wire shape (`{id, object: "realtime.item", type, status, ...}`) without audio
bytes; assistant audio is remembered only as a duration so `truncate` can check and cut.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from local_realtime.audio_format import duration_ms
from local_realtime.brain import Entry
from local_realtime.events import ProtocolError

_CONTENT_TYPES = {
    "user": {"input_text", "input_audio"},
    "assistant": {"output_text", "output_audio"},
    "system": {"input_text"},
}


def new_id(prefix: str) -> str:
    """A fresh id like `item_3f2a...` (prefixes: item, resp, call, event, conv)."""
    return f"{prefix}_{secrets.token_hex(10)}"


class Conversation:
    """Ordered items, assistant audio durations (ms) by item id, and when the instructions changed."""

    def __init__(self, instructions: str = "") -> None:
        self.id = new_id("conv")
        self._items: list[dict[str, Any]] = []
        self._audio_ms: dict[str, int] = {}
        self._first_instructions = instructions
        self._changes: list[tuple[str, str]] = []  # (id of the item they follow, instructions)

    @property
    def instructions(self) -> str:
        """The session instructions in effect now."""
        return self._changes[-1][1] if self._changes else self._first_instructions

    def set_instructions(self, instructions: str) -> None:
        """Record the session's instructions (`session.update`); a change mid-conversation takes effect here.

        The brain sees a change as a system turn at this point, so the prompt before it stays as it was.
        """
        if instructions == self.instructions:
            return
        if not self._items:
            self._first_instructions, self._changes = instructions, []
        else:
            self._changes.append((self._items[-1]["id"], instructions))

    def add(self, item: dict[str, Any], previous_item_id: str | None = None) -> str | None:
        """Insert `item` after `previous_item_id` ("root" = first, None = last).

        Returns:
            The id of the item now before it, or None when it is first.

        Raises:
            ProtocolError: the previous item does not exist or the id is taken.
        """
        if any(i["id"] == item["id"] for i in self._items):
            raise ProtocolError("invalid_value", f"Item id '{item['id']}' already exists.", "item.id")
        if previous_item_id is None:
            index = len(self._items)
        elif previous_item_id == "root":
            index = 0
        else:
            index = self._index(previous_item_id, "previous_item_id") + 1
        self._items.insert(index, item)
        return self._items[index - 1]["id"] if index > 0 else None

    def get(self, item_id: str) -> dict[str, Any]:
        """The stored item. Raises ProtocolError if there is none with that id."""
        return self._items[self._index(item_id, "item_id")]

    def delete(self, item_id: str) -> None:
        """Remove an item. Raises ProtocolError if there is none with that id."""
        del self._items[self._index(item_id, "item_id")]
        self._audio_ms.pop(item_id, None)

    def previous_id(self, item_id: str) -> str | None:
        """The id of the item before `item_id` (None when first). Raises ProtocolError if unknown."""
        index = self._index(item_id, "item_id")
        return self._items[index - 1]["id"] if index > 0 else None

    def _index(self, item_id: str, param: str) -> int:
        for index, item in enumerate(self._items):
            if item["id"] == item_id:
                return index
        raise ProtocolError("invalid_value", f"Item with item_id '{item_id}' not found.", param)

    def awaiting_answer(self) -> bool:
        """True when the last item is a function call or its output: the assistant's turn goes on."""
        return bool(self._items) and self._items[-1]["type"] in ("function_call", "function_call_output")

    def last_id(self) -> str | None:
        return self._items[-1]["id"] if self._items else None

    def add_audio(self, item_id: str, pcm_bytes: int) -> None:
        """Count `pcm_bytes` of assistant audio sent for `item_id`."""
        self._audio_ms[item_id] = self._audio_ms.get(item_id, 0) + duration_ms(pcm_bytes)

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut an assistant audio item to what the user heard; the transcript keeps the same share.

        Raises:
            ProtocolError: unknown item, not assistant audio, or `audio_end_ms` past the audio.
        """
        item = self.get(item_id)
        content = item.get("content") or []
        if item.get("role") != "assistant" or not 0 <= content_index < len(content):
            raise ProtocolError("invalid_value", "Only assistant audio content can be truncated.", "content_index")
        part = content[content_index]
        if part.get("type") != "output_audio":
            raise ProtocolError("invalid_value", "Only assistant audio content can be truncated.", "content_index")
        total_ms = self._audio_ms.get(item_id, 0)
        if audio_end_ms > total_ms:
            raise ProtocolError(
                "invalid_value",
                f"Audio content of {total_ms}ms is already shorter than {audio_end_ms}ms",
                "audio_end_ms",
            )
        words = (part.get("transcript") or "").split()
        keep = round(len(words) * audio_end_ms / total_ms) if total_ms else 0
        part["transcript"] = " ".join(words[:keep])
        self._audio_ms[item_id] = audio_end_ms

    def entries(self) -> tuple[str, list[Entry]]:
        """The brain's view: (the instructions in effect before the first item, entries in order).

        System messages and later instruction changes are "system" entries where they happened; a change
        whose item was deleted since counts from the start.
        """
        ids = {item["id"] for item in self._items}
        first = self._first_instructions
        changes: dict[str, list[str]] = {}
        for after, text in self._changes:
            if after in ids:
                changes.setdefault(after, []).append(text)
            else:
                first = text
        entries: list[Entry] = []
        names = {i.get("call_id"): i.get("name") for i in self._items if i["type"] == "function_call"}
        for item in self._items:
            if item["type"] == "function_call":
                entries.append(Entry("tool_call", item["arguments"], item["name"], item.get("call_id")))
            elif item["type"] == "function_call_output":
                entries.append(Entry("tool_result", item["output"], names.get(item["call_id"]), item["call_id"]))
            else:
                entries.append(Entry(item["role"], message_text(item)))
            entries += [Entry("system", text) for text in changes.get(item["id"], [])]
        return first, entries


def message_text(item: dict[str, Any]) -> str:
    """The text of a message item: its text parts and audio transcripts joined by spaces."""
    parts = [p.get("text") or p.get("transcript") or "" for p in item.get("content") or []]
    return " ".join(p for p in parts if p)


def normalize_item(raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[int, bytes]]]:
    """Validate a client `conversation.item.create` item and give it an id and status.

    Returns:
        (stored item without audio bytes, [(content_index, PCM16 24 kHz audio) still to transcribe]).

    Raises:
        ProtocolError: an unknown item type or role, or a missing field.
    """
    kind = raw.get("type")
    item: dict[str, Any] = {
        "id": raw.get("id") or new_id("item"),
        "object": "realtime.item",
        "type": kind,
        "status": "completed",
    }
    audio: list[tuple[int, bytes]] = []
    if kind == "function_call_output":
        item |= {"call_id": _text(raw, "call_id"), "output": _text(raw, "output")}
    elif kind == "function_call":
        item |= {
            "call_id": raw.get("call_id") or new_id("call"),
            "name": _text(raw, "name"),
            "arguments": _text(raw, "arguments"),
        }
    elif kind == "message":
        role = raw.get("role")
        if role not in _CONTENT_TYPES:
            raise ProtocolError("invalid_value", "item.role must be user, assistant or system.", "item.role")
        content = raw.get("content")
        if not isinstance(content, list) or not content:
            raise ProtocolError(
                "missing_required_parameter", "Missing required parameter: 'item.content'.", "item.content"
            )
        item["role"] = role
        item["content"] = []
        for index, part in enumerate(content):
            ptype = part.get("type") if isinstance(part, dict) else None
            if ptype not in _CONTENT_TYPES[role]:
                raise ProtocolError(
                    "invalid_value",
                    f"Content type '{ptype}' is not valid for role '{role}'.",
                    f"item.content[{index}].type",
                )
            if ptype in ("input_text", "output_text"):
                item["content"].append({"type": ptype, "text": _text(part, "text")})
            elif ptype == "output_audio":
                item["content"].append({"type": ptype, "transcript": part.get("transcript") or ""})
            else:
                item["content"].append({"type": ptype, "transcript": part.get("transcript")})
                if part.get("transcript") is None:
                    try:
                        audio.append((index, base64.b64decode(_text(part, "audio"), validate=True)))
                    except binascii.Error as exc:
                        raise ProtocolError("invalid_value", "Audio is not base64.", "item.content.audio") from exc
    else:
        raise ProtocolError("invalid_value", f"Unsupported item type '{kind}'.", "item.type")
    return item, audio


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str):
        raise ProtocolError("missing_required_parameter", f"Missing required parameter: 'item.{name}'.", f"item.{name}")
    return value
