"""Client events of the GA Realtime protocol: wire JSON in, typed values out.

Every client event name the engine understands lives here. `parse` turns one text frame into a
dataclass or raises `ProtocolError`, which the server answers with a GA `error` event.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

MAX_APPEND_BYTES = 15 * 2**20
"""The most audio one `input_audio_buffer.append` may carry (decoded), as OpenAI documents."""
MAX_FRAME_BYTES = 24 * 2**20
"""The largest WebSocket message the engine reads (a full append in base64 fits); a bigger one closes the
connection with 1009 (message too big), as the websockets library does."""


class ProtocolError(ValueError):
    """A client event the engine cannot act on; becomes an `error` event, the session goes on.

    Attributes:
        code: GA error code, e.g. "missing_required_parameter", "invalid_value".
        param: dotted path of the offending field, when there is one.
        event_id: the client's `event_id`, echoed in the error.
    """

    def __init__(self, code: str, message: str, param: str | None = None, event_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.event_id = event_id

    def to_event(self) -> dict[str, Any]:
        """The GA `error` server event reporting this (without its own `event_id`)."""
        error = {"type": "invalid_request_error", "code": self.code, "message": self.message}
        return {"type": "error", "error": {**error, "param": self.param, "event_id": self.event_id}}


@dataclass(frozen=True)
class SessionUpdate:
    event_id: str | None
    session: dict[str, Any]


@dataclass(frozen=True)
class AudioAppend:
    event_id: str | None
    audio: bytes
    """PCM16 mono 24 kHz little-endian bytes."""


@dataclass(frozen=True)
class AudioCommit:
    event_id: str | None


@dataclass(frozen=True)
class AudioClear:
    event_id: str | None


@dataclass(frozen=True)
class ItemCreate:
    event_id: str | None
    item: dict[str, Any]
    previous_item_id: str | None
    """Insert after this item; "root" means first; None means append."""


@dataclass(frozen=True)
class ItemTruncate:
    event_id: str | None
    item_id: str
    content_index: int
    audio_end_ms: int


@dataclass(frozen=True)
class ItemDelete:
    event_id: str | None
    item_id: str


@dataclass(frozen=True)
class ItemRetrieve:
    event_id: str | None
    item_id: str


@dataclass(frozen=True)
class ResponseCreate:
    event_id: str | None
    response: dict[str, Any]
    """Per-response overrides (instructions, output_modalities, tools, tool_choice, metadata)."""


@dataclass(frozen=True)
class ResponseCancel:
    event_id: str | None
    response_id: str | None


ClientEvent = (
    SessionUpdate
    | AudioAppend
    | AudioCommit
    | AudioClear
    | ItemCreate
    | ItemTruncate
    | ItemDelete
    | ItemRetrieve
    | ResponseCreate
    | ResponseCancel
)


def parse(frame: str | bytes) -> ClientEvent:
    """Parse one client text frame.

    Raises:
        ProtocolError: invalid JSON, not an object, unknown `type`, or a missing/ill-typed field.
    """
    try:
        raw = json.loads(frame)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError("invalid_json", f"The event is not valid JSON: {exc}.") from exc
    except RecursionError as exc:
        raise ProtocolError("invalid_json", "The event is nested too deeply to parse.") from exc
    if not isinstance(raw, dict):
        raise ProtocolError("invalid_value", "An event must be a JSON object.")
    event_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("missing_required_parameter", "Missing required parameter: 'type'.", "type", event_id)
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ProtocolError("invalid_value", f"Invalid value: '{kind[:80]}'. Unsupported event type.", "type", event_id)
    try:
        return builder(raw, event_id)
    except ProtocolError as exc:
        exc.event_id = event_id
        raise


def _field(raw: dict[str, Any], name: str, kind: type | tuple[type, ...], required: bool = True) -> Any:
    value = raw.get(name)
    if value is None:
        if required:
            raise ProtocolError("missing_required_parameter", f"Missing required parameter: '{name}'.", name)
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError("invalid_type", f"Invalid type for '{name}'.", name)
    return value


def _audio(raw: dict[str, Any], event_id: str | None) -> AudioAppend:
    encoded = _field(raw, "audio", str)
    if len(encoded) // 4 * 3 > MAX_APPEND_BYTES:
        raise ProtocolError(
            "invalid_value",
            f"Invalid value for 'audio': {len(encoded) // 4 * 3 / 2**20:.1f} MiB in one append; at most "
            f"{MAX_APPEND_BYTES // 2**20} MiB, send it in smaller appends.",
            "audio",
        )
    try:
        audio = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: characters outside ASCII
        raise ProtocolError("invalid_value", "Invalid value for 'audio': not base64.", "audio") from exc
    if len(audio) % 2:
        raise ProtocolError("invalid_value", "Invalid value for 'audio': odd number of PCM16 bytes.", "audio")
    return AudioAppend(event_id, audio)


def _item_create(raw: dict[str, Any], event_id: str | None) -> ItemCreate:
    return ItemCreate(event_id, _field(raw, "item", dict), _field(raw, "previous_item_id", str, required=False))


def _truncate(raw: dict[str, Any], event_id: str | None) -> ItemTruncate:
    end_ms = _field(raw, "audio_end_ms", int)
    if end_ms < 0:
        raise ProtocolError("invalid_value", "'audio_end_ms' must be >= 0.", "audio_end_ms")
    return ItemTruncate(event_id, _field(raw, "item_id", str), _field(raw, "content_index", int), end_ms)


_BUILDERS: dict[str, Any] = {
    "session.update": lambda raw, eid: SessionUpdate(eid, _field(raw, "session", dict)),
    "input_audio_buffer.append": _audio,
    "input_audio_buffer.commit": lambda raw, eid: AudioCommit(eid),
    "input_audio_buffer.clear": lambda raw, eid: AudioClear(eid),
    "conversation.item.create": _item_create,
    "conversation.item.truncate": _truncate,
    "conversation.item.delete": lambda raw, eid: ItemDelete(eid, _field(raw, "item_id", str)),
    "conversation.item.retrieve": lambda raw, eid: ItemRetrieve(eid, _field(raw, "item_id", str)),
    "response.create": lambda raw, eid: ResponseCreate(eid, _field(raw, "response", dict, required=False) or {}),
    "response.cancel": lambda raw, eid: ResponseCancel(eid, _field(raw, "response_id", str, required=False)),
}
