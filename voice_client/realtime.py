"""The Realtime GA wire: connecting, client event shapes and typed server events.

Every Realtime event-name string lives in this module. Server frames are parsed here into small
dataclasses; frames we do not act on (or cannot parse) are logged at DEBUG and dropped.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from voice_client.audio_format import REALTIME_PCM
from voice_client.config import Config

logger = logging.getLogger(__name__)

FATAL_ERROR_CODES = frozenset(
    {
        "invalid_api_key",
        "insufficient_quota",
        "account_deactivated",
        "billing_hard_limit_reached",
        "beta_api_shape_disabled",
        "session_expired",
    }
)
"""Error codes after which the session cannot go on (pitfalls 1 and 15 in notes/realtime.md)."""
BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active", "input_audio_buffer_commit_empty"})
"""Error codes that only mean a race we already handle; logged at DEBUG."""


class RealtimeError(RuntimeError):
    """The Realtime server ended the session (fatal `error` event). Carries `code` and `message`."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(f"{code or 'error'}: {message}")
        self.code = code
        self.message = message


# ----------------------------------------------------------------------------- server events


@dataclass(frozen=True)
class SessionUpdated:
    type: Literal["session.created", "session.updated"]
    session_id: str


@dataclass(frozen=True)
class ServerError:
    type: Literal["error"]
    code: str | None
    message: str
    event_id: str | None = None
    """The client event that caused it, when the server says so."""

    @property
    def fatal(self) -> bool:
        return self.code in FATAL_ERROR_CODES


@dataclass(frozen=True)
class ResponseCreated:
    type: Literal["response.created"]
    response_id: str


@dataclass(frozen=True)
class ResponseDone:
    type: Literal["response.done"]
    response_id: str
    status: str
    """completed | cancelled | failed | incomplete."""
    error: str | None = None
    """`status_details.error.message` of a failed response."""


@dataclass(frozen=True)
class FunctionCallReady:
    """`response.function_call_arguments.done`: the call is complete and executable."""

    type: Literal["response.function_call_arguments.done"]
    response_id: str
    item_id: str
    call_id: str
    name: str
    arguments: str
    """JSON text, as the model wrote it (may be invalid)."""


@dataclass(frozen=True)
class AudioDelta:
    type: Literal["response.output_audio.delta"]
    response_id: str
    item_id: str
    audio: bytes
    """PCM16 mono 24 kHz little-endian bytes."""


@dataclass(frozen=True)
class TextDelta:
    """A piece of assistant text, or of the transcript of its speech."""

    type: Literal["response.output_text.delta", "response.output_audio_transcript.delta"]
    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True)
class TextDone:
    """Full assistant text, or full transcript of one spoken part."""

    type: Literal["response.output_text.done", "response.output_audio_transcript.done"]
    response_id: str
    item_id: str
    text: str


@dataclass(frozen=True)
class SpeechStarted:
    type: Literal["input_audio_buffer.speech_started"]
    item_id: str
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    type: Literal["input_audio_buffer.speech_stopped"]
    item_id: str
    audio_end_ms: int
    """Input-audio position (ms since the session's first append) where the VAD ended the turn; with
    server VAD that includes the `silence_duration_ms` it waited."""


@dataclass(frozen=True)
class UserTranscript:
    type: Literal["conversation.item.input_audio_transcription.completed"]
    item_id: str
    transcript: str


ServerEvent = (
    SessionUpdated
    | ServerError
    | ResponseCreated
    | ResponseDone
    | FunctionCallReady
    | AudioDelta
    | TextDelta
    | TextDone
    | SpeechStarted
    | SpeechStopped
    | UserTranscript
)


def _session(e: dict[str, Any]) -> SessionUpdated:
    return SessionUpdated(e["type"], str(e.get("session", {}).get("id", "")))


def _error(e: dict[str, Any]) -> ServerError:
    err = e["error"]
    code = err.get("code")
    return ServerError("error", str(code) if code else None, str(err.get("message", "")), err.get("event_id"))


def _response_done(e: dict[str, Any]) -> ResponseDone:
    response = e["response"]
    details = response.get("status_details") or {}
    error = (details.get("error") or {}).get("message") if isinstance(details, dict) else None
    return ResponseDone("response.done", _text(response["id"]), _text(response["status"]), error)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


_PARSERS: dict[str, Callable[[dict[str, Any]], ServerEvent]] = {
    "session.created": _session,
    "session.updated": _session,
    "error": _error,
    "response.created": lambda e: ResponseCreated("response.created", _text(e["response"]["id"])),
    "response.done": _response_done,
    "response.function_call_arguments.done": lambda e: FunctionCallReady(
        e["type"],
        _text(e["response_id"]),
        _text(e["item_id"]),
        _text(e["call_id"]),
        _text(e["name"]),
        _text(e["arguments"]),
    ),
    "response.output_audio.delta": lambda e: AudioDelta(
        e["type"], _text(e["response_id"]), _text(e["item_id"]), base64.b64decode(_text(e["delta"]), validate=True)
    ),
    "response.output_text.delta": lambda e: TextDelta(
        e["type"], _text(e["response_id"]), _text(e["item_id"]), _text(e["delta"])
    ),
    "response.output_audio_transcript.delta": lambda e: TextDelta(
        e["type"], _text(e["response_id"]), _text(e["item_id"]), _text(e["delta"])
    ),
    "response.output_text.done": lambda e: TextDone(
        e["type"], _text(e["response_id"]), _text(e["item_id"]), _text(e["text"])
    ),
    "response.output_audio_transcript.done": lambda e: TextDone(
        e["type"], _text(e["response_id"]), _text(e["item_id"]), _text(e["transcript"])
    ),
    "input_audio_buffer.speech_started": lambda e: SpeechStarted(
        e["type"], _text(e["item_id"]), int(e.get("audio_start_ms", 0))
    ),
    "input_audio_buffer.speech_stopped": lambda e: SpeechStopped(
        e["type"], _text(e["item_id"]), int(e.get("audio_end_ms", 0))
    ),
    "conversation.item.input_audio_transcription.completed": lambda e: UserTranscript(
        e["type"], _text(e["item_id"]), _text(e["transcript"])
    ),
}


def parse_server_event(raw: str | bytes) -> ServerEvent | None:
    """Parse one server frame; None for events we do not act on and for malformed frames."""
    try:
        event = json.loads(raw)
        kind = event["type"]
        parser = _PARSERS.get(kind)
        if parser is None:
            logger.debug("ignored server event %s", kind)
            return None
        return parser(event)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        logger.debug("dropped malformed server frame: %s", type(exc).__name__)
        return None


# ----------------------------------------------------------------------------- client events


def session_update(
    config: Config, instructions: str, tools: list[dict[str, Any]], vocabulary: str = ""
) -> dict[str, Any]:
    """The GA `session.update` for `config`: audio formats, VAD, transcription (with `vocabulary`, the words the
    user is likely to say, as its prompt), voice, tools."""
    pcm = dict(REALTIME_PCM)
    turn = turn_detection(config)
    session = {
        "type": "realtime",
        "instructions": instructions,
        "output_modalities": ["text"] if config.text_only else ["audio"],
        "audio": {
            "input": {"format": pcm, "turn_detection": turn, "transcription": transcription(config, vocabulary)},
            "output": {"format": pcm, "voice": config.voice},
        },
        "tools": tools,
        "tool_choice": "auto",
    }
    return {"type": "session.update", "session": session}


def turn_detection(config: Config, create_response: bool = True) -> dict[str, Any] | None:
    """`audio.input.turn_detection` for `config`; `create_response=False` while the client itself decides what
    follows the user's turn (a question about a held tool call waits for the answer). None in text mode."""
    if config.text_only or config.turn_detection == "none":
        return None
    if config.turn_detection == "semantic_vad":
        return {
            "type": "semantic_vad",
            "eagerness": config.vad_eagerness,
            "create_response": create_response,
            "interrupt_response": config.interrupt_response,
        }
    return {
        "type": "server_vad",
        "threshold": config.vad_threshold,
        "prefix_padding_ms": config.vad_prefix_padding_ms,
        "silence_duration_ms": config.vad_silence_ms,
        "create_response": create_response,
        "interrupt_response": config.interrupt_response,
    }


def turn_update(config: Config, create_response: bool) -> dict[str, Any] | None:
    """A `session.update` that changes only whether a user turn starts a response; None in text mode."""
    turn = turn_detection(config, create_response)
    if turn is None:
        return None
    return {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": turn}}}}


def transcription(config: Config, vocabulary: str) -> dict[str, Any] | None:
    """`audio.input.transcription`: `config`'s model, with `vocabulary` as its prompt; None when it is off."""
    if not config.transcription_model:
        return None
    return {"model": config.transcription_model} | ({"prompt": vocabulary} if vocabulary else {})


def transcription_update(config: Config, vocabulary: str) -> dict[str, Any]:
    """A `session.update` that changes only the transcription (its prompt: the words the user is likely to say)."""
    audio = {"input": {"transcription": transcription(config, vocabulary)}}
    return {"type": "session.update", "session": {"type": "realtime", "audio": audio}}


def instructions_update(instructions: str) -> dict[str, Any]:
    """A `session.update` that changes only the instructions."""
    return {"type": "session.update", "session": {"type": "realtime", "instructions": instructions}}


def tools_update(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A `session.update` that replaces the tool list."""
    return {"type": "session.update", "session": {"type": "realtime", "tools": tools}}


def item_create(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "conversation.item.create", "item": item}


def user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def assistant_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def function_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def function_call_output(call_id: str, output: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def response_create(event_id: str | None = None) -> dict[str, Any]:
    """`response.create`; `event_id` comes back in an `error` that refuses it."""
    return {"type": "response.create", **({"event_id": event_id} if event_id else {})}


def response_cancel(response_id: str | None = None) -> dict[str, Any]:
    return {"type": "response.cancel", **({"response_id": response_id} if response_id else {})}


def audio_append(pcm: bytes) -> dict[str, Any]:
    """`input_audio_buffer.append` for PCM16 mono 24 kHz little-endian bytes."""
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode("ascii")}


def audio_commit() -> dict[str, Any]:
    return {"type": "input_audio_buffer.commit"}


def item_truncate(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": audio_end_ms}


# ----------------------------------------------------------------------------- the socket


def socket_url(base_url: str, model: str) -> str:
    """`base_url` with `model=<id>` added to its query (kept if the URL already names a model)."""
    parts = urlsplit(base_url)
    if "model=" in parts.query:
        return base_url
    query = "&".join(q for q in (parts.query, urlencode({"model": model})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class _WireLog(logging.LoggerAdapter[logging.Logger]):
    """websockets' logger without DEBUG: its frame and header dumps carry the key, audio and documents."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level > logging.DEBUG:
            super().log(level, msg, *args, **kwargs)


def connect(config: Config) -> ws_connect:
    """A reconnecting connector: `async for ws in connect(config)` redials with backoff.

    Sends `Authorization: Bearer` only (never `OpenAI-Beta`); no frame size limit (pitfall 10).
    """
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    return ws_connect(
        socket_url(config.realtime_url, config.model),
        additional_headers=headers,
        max_size=None,
        open_timeout=10,
        ping_interval=20,
        ping_timeout=20,
        logger=_WireLog(logging.getLogger("websockets.client")),
    )


async def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    """Send one client event as a JSON text frame."""
    logger.debug("send %s", event["type"])
    await ws.send(json.dumps(event))


async def events(ws: ClientConnection) -> AsyncIterator[ServerEvent]:
    """Typed server events until the socket closes (a clean close ends the loop; others raise)."""
    async for raw in ws:
        event = parse_server_event(raw)
        if event is not None:
            yield event
