"""The GA session configuration: defaults, `session.update` merging and validation, wire shape;
and `ResponseSettings`, that config with one `response.create`'s overrides.

Only fields present in an update change; `null` clears turn detection and transcription. Shapes
the engine cannot honour (other audio formats, hosted MCP tools, semantic VAD, beta-era field
names) are refused with `ProtocolError` naming the field, and nothing is applied.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from local_realtime.audio_format import MIME_TYPE, SAMPLE_RATE_HZ, session_format
from local_realtime.events import ProtocolError

_KNOWN_FIELDS = {
    "type",
    "model",
    "instructions",
    "output_modalities",
    "audio",
    "tools",
    "tool_choice",
    "tracing",
    "truncation",
    "max_output_tokens",
    "include",
    "prompt",
    "reasoning",
    "parallel_tool_calls",
    "object",
    "id",
    "expires_at",
}
DEFAULT_INSTRUCTIONS = (
    "You are a helpful, concise voice assistant. Answer in one or two short spoken sentences. "
    "Use a tool when the user asks for something a tool can do."
)


@dataclass(frozen=True)
class TurnDetection:
    """Server-side turn detection: `server_vad` as configured, or `semantic_vad` approximated by it.

    `semantic_vad` has no local model: its `eagerness` picks the silence that ends a turn
    (low 1500 ms, medium/auto 800 ms, high 400 ms). `idle_timeout_ms` is echoed, not acted on.
    """

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float = 0.5
    """Speech probability 0-1 at which audio counts as speech."""
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True
    idle_timeout_ms: int | None = None
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"

    def to_wire(self) -> dict[str, Any]:
        if self.type == "semantic_vad":
            return {
                "type": self.type,
                "eagerness": self.eagerness,
                "create_response": self.create_response,
                "interrupt_response": self.interrupt_response,
            }
        wire = dataclasses.asdict(self)
        del wire["eagerness"]
        if self.idle_timeout_ms is None:
            del wire["idle_timeout_ms"]
        return wire


_EAGERNESS_SILENCE_MS = {"low": 1500, "medium": 800, "auto": 800, "high": 400}
_VAD_TYPES: dict[str, type | tuple[type, ...]] = {
    "threshold": (int, float),
    "prefix_padding_ms": int,
    "silence_duration_ms": int,
    "create_response": bool,
    "interrupt_response": bool,
    "idle_timeout_ms": int,
    "eagerness": str,
}


@dataclass(frozen=True)
class SessionConfig:
    """The effective configuration of one connection.

    Attributes:
        tools: function tools as sent by the client (`{type, name, description, parameters}`).
        transcription: `{model, language?, prompt?}` when user transcripts are wanted, else None. Its
            `prompt` (the words the user is likely to say) is Whisper's prompt, whatever the model named.
    """

    model: str
    instructions: str = DEFAULT_INSTRUCTIONS
    output_modalities: tuple[Literal["audio", "text"], ...] = ("audio",)
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    transcription: dict[str, Any] | None = None
    voice: str | dict[str, Any] = "marin"
    speed: float = 1.0
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] = "auto"
    max_output_tokens: int | Literal["inf"] = "inf"
    """Longest reply, in the usage's tokens (4 characters of text each); the reply then ends `incomplete`."""

    @property
    def transcription_prompt(self) -> str:
        """The transcription's `prompt`, "" when there is none."""
        return str((self.transcription or {}).get("prompt") or "")

    def updated(self, session: dict[str, Any]) -> SessionConfig:
        """Return this config with `session` (the body of `session.update`) merged in.

        Raises:
            ProtocolError: a missing `type`, an unknown field or a value the engine does not support.
        """
        if "type" not in session:
            raise ProtocolError(
                "missing_required_parameter", "Missing required parameter: 'session.type'.", "session.type"
            )
        if session["type"] != "realtime":
            raise ProtocolError("invalid_value", "Only session.type 'realtime' is supported.", "session.type")
        unknown = sorted(set(session) - _KNOWN_FIELDS)
        if unknown:
            raise ProtocolError(
                "unknown_parameter", f"Unknown parameter: 'session.{unknown[0]}'.", f"session.{unknown[0]}"
            )
        changes: dict[str, Any] = {}
        if "instructions" in session:
            changes["instructions"] = _typed(session["instructions"], str, "session.instructions")
        if "output_modalities" in session:
            changes["output_modalities"] = parse_modalities(session["output_modalities"], "session")
        if "tools" in session:
            changes["tools"] = parse_tools(session["tools"], "session.tools")
        if "tool_choice" in session:
            changes["tool_choice"] = parse_tool_choice(session["tool_choice"], "session.tool_choice")
        if "max_output_tokens" in session:
            changes["max_output_tokens"] = session["max_output_tokens"]
        if "audio" in session:
            changes.update(self._audio_changes(_typed(session["audio"], dict, "session.audio")))
        return dataclasses.replace(self, **changes)

    def _audio_changes(self, audio: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        audio_in = _typed(audio.get("input") or {}, dict, "session.audio.input")
        audio_out = _typed(audio.get("output") or {}, dict, "session.audio.output")
        for name, part in (("input", audio_in), ("output", audio_out)):
            if part.get("format") is not None:
                _check_format(part["format"], f"session.audio.{name}.format")
        if "turn_detection" in audio_in:
            changes["turn_detection"] = _turn_detection(audio_in["turn_detection"], self.turn_detection)
        if "transcription" in audio_in:
            value = audio_in["transcription"]
            changes["transcription"] = (
                None if value is None else _typed(value, dict, "session.audio.input.transcription")
            )
            if value is not None and value.get("prompt") is not None:
                _typed(value["prompt"], str, "session.audio.input.transcription.prompt")
        if "voice" in audio_out:
            changes["voice"] = _typed(audio_out["voice"], (str, dict), "session.audio.output.voice")
        if "speed" in audio_out:
            changes["speed"] = float(_typed(audio_out["speed"], (int, float), "session.audio.output.speed"))
        return changes

    def to_wire(self) -> dict[str, Any]:
        """The `session` object of `session.created` / `session.updated`."""
        return {
            "type": "realtime",
            "model": self.model,
            "output_modalities": list(self.output_modalities),
            "instructions": self.instructions,
            "audio": {
                "input": {
                    "format": session_format(),
                    "noise_reduction": None,
                    "transcription": self.transcription,
                    "turn_detection": self.turn_detection.to_wire() if self.turn_detection else None,
                },
                "output": {"format": session_format(), "voice": self.voice, "speed": self.speed},
            },
            "tools": list(self.tools),
            "tool_choice": self.tool_choice,
            "max_output_tokens": self.max_output_tokens,
            "tracing": None,
            "truncation": "auto",
        }


@dataclass(frozen=True)
class ResponseSettings:
    """The session config with one `response.create`'s overrides applied."""

    instructions: str
    output_modalities: tuple[Literal["audio", "text"], ...]
    tools: tuple[dict[str, Any], ...]
    tool_choice: str | dict[str, Any]
    voice: str | dict[str, Any]
    metadata: dict[str, Any] | None = None
    max_output_tokens: int | Literal["inf"] = "inf"

    @classmethod
    def build(cls, config: SessionConfig, request: dict[str, Any]) -> ResponseSettings:
        """Merge `request` (the `response` of `response.create`) over `config`; raises ProtocolError."""
        metadata = request.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise ProtocolError("invalid_type", "response.metadata must be an object.", "response.metadata")
        instructions = request.get("instructions", config.instructions)
        if not isinstance(instructions, str):
            raise ProtocolError("invalid_type", "response.instructions must be a string.", "response.instructions")
        return cls(
            instructions=instructions,
            output_modalities=parse_modalities(request["output_modalities"], "response")
            if "output_modalities" in request
            else config.output_modalities,
            tools=parse_tools(request["tools"], "response.tools") if "tools" in request else config.tools,
            tool_choice=parse_tool_choice(request["tool_choice"], "response.tool_choice")
            if "tool_choice" in request
            else config.tool_choice,
            voice=config.voice,
            metadata=metadata,
            max_output_tokens=request.get("max_output_tokens", config.max_output_tokens),
        )


def parse_modalities(value: Any, where: str) -> tuple[Literal["audio", "text"], ...]:
    """Validate `output_modalities`: exactly ["audio"] or ["text"] (GA refuses both at once)."""
    if value not in (["audio"], ["text"]):
        raise ProtocolError(
            "invalid_value", "output_modalities must be ['audio'] or ['text'].", f"{where}.output_modalities"
        )
    return tuple(value)


def parse_tools(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    """Validate a list of flat function tools; hosted MCP tools are not supported offline."""
    tools = _typed(value, list, where)
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise ProtocolError("invalid_value", "Only function tools are supported.", f"{where}[{i}].type")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise ProtocolError("missing_required_parameter", "A function tool needs a 'name'.", f"{where}[{i}].name")
    return tuple({"type": "function", **tool} for tool in tools)


def parse_tool_choice(value: Any, where: str) -> str | dict[str, Any]:
    """Validate "auto" / "none" / "required" / {"type": "function", "name": ...}."""
    if value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("name"), str):
        return {"type": "function", "name": value["name"]}
    raise ProtocolError("invalid_value", "tool_choice must be auto, none, required or a function.", where)


def _turn_detection(value: Any, current: TurnDetection | None) -> TurnDetection | None:
    where = "session.audio.input.turn_detection"
    if value is None:
        return None
    value = _typed(value, dict, where)
    kind = value.get("type")
    if kind not in ("server_vad", "semantic_vad"):
        raise ProtocolError(
            "invalid_value", "turn_detection type must be server_vad or semantic_vad (or null).", f"{where}.type"
        )
    base = current if current is not None and current.type == kind else TurnDetection(type=kind)
    changes: dict[str, Any] = {}
    for name, expected in _VAD_TYPES.items():
        if value.get(name) is not None:
            if isinstance(value[name], bool) and expected is not bool:
                raise ProtocolError("invalid_type", f"Invalid type for '{where}.{name}'.", f"{where}.{name}")
            changes[name] = _typed(value[name], expected, f"{where}.{name}")
    if not 0 < changes.get("threshold", base.threshold) < 1:
        raise ProtocolError("invalid_value", "threshold must be between 0 and 1.", f"{where}.threshold")
    if min(changes.get("prefix_padding_ms", 0), changes.get("silence_duration_ms", 0)) < 0:
        raise ProtocolError("invalid_value", "Durations must be >= 0 ms.", where)
    if kind == "semantic_vad":
        eagerness = changes.get("eagerness", base.eagerness)
        if eagerness not in _EAGERNESS_SILENCE_MS:
            raise ProtocolError("invalid_value", "eagerness must be low, medium, high or auto.", f"{where}.eagerness")
        changes["silence_duration_ms"] = _EAGERNESS_SILENCE_MS[eagerness]
    return dataclasses.replace(base, **changes)


def _check_format(value: Any, where: str) -> None:
    value = _typed(value, dict, where)
    if value.get("type") != MIME_TYPE or value.get("rate", SAMPLE_RATE_HZ) != SAMPLE_RATE_HZ:
        supported = f"{{type: '{MIME_TYPE}', rate: {SAMPLE_RATE_HZ}}}"
        raise ProtocolError("invalid_value", f"Only {supported} is supported.", where)


def _typed(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind):
        raise ProtocolError("invalid_type", f"Invalid type for '{where}'.", where)
    return value
