"""A raw-frame GA Realtime client for the engine's protocol tests, and helpers over its events.

Every server frame it receives is validated against the openai SDK's `RealtimeServerEvent` union,
with no fields the SDK does not know.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pydantic
from openai.types.realtime import RealtimeServerEvent
from websockets.asyncio.client import ClientConnection

from local_realtime.brain import SpokenCall
from tests.speech_audio import chunks, silence, synthesize

SERVER_EVENT = pydantic.TypeAdapter(RealtimeServerEvent)
TEXT_SESSION = {"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}}
ECHO_TOOL = {
    "type": "function",
    "name": "echo",
    "description": "Repeat a value.",
    "parameters": {"type": "object", "properties": {"value": {"type": "string"}}, "required": ["value"]},
}
SCRIPT_TOOL = {
    "type": "function",
    "name": "load_script",
    "description": "Load a guided script by name.",
    "parameters": {"type": "object", "properties": {"script_name": {"type": "string"}}},
}
LOAD_SCRIPT_RULE = SpokenCall(r"load (?:the )?([a-z ]+?) script", "load_script", "script_name")
"""The RuleBrain's rule for a spoken "load the blog writer script": calls `SCRIPT_TOOL`."""


def check_shape(raw: dict[str, Any]) -> None:
    """Fail unless `raw` parses as an SDK server event and carries no field the SDK does not declare."""
    _no_extras(SERVER_EVENT.validate_python(raw), raw["type"])


def _no_extras(value: Any, where: str) -> None:
    if isinstance(value, pydantic.BaseModel):
        assert not value.model_extra, f"{where}: unknown fields {sorted(value.model_extra)}"
        for name in type(value).model_fields:
            _no_extras(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for i, element in enumerate(value):
            _no_extras(element, f"{where}[{i}]")


class Peer:
    """A raw-frame Realtime client: send dicts, receive validated dicts."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def recv(self, timeout_s: float = 120) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            event = json.loads(await self.ws.recv())
        check_shape(event)
        return event

    async def until(self, kind: str, timeout_s: float = 30) -> list[dict[str, Any]]:
        """Receive events up to and including the first of type `kind`."""
        seen = []
        async with asyncio.timeout(timeout_s):
            while True:
                seen.append(await self.recv())
                if seen[-1]["type"] == kind:
                    return seen

    async def update(self, session: dict[str, Any]) -> dict[str, Any]:
        await self.send({"type": "session.update", "session": session})
        event = await self.recv()
        assert event["type"] == "session.updated", event
        return event["session"]

    async def say(self, text: str) -> None:
        """Add a user text message and wait for its `conversation.item.done`."""
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        await self.send({"type": "conversation.item.create", "item": item})
        assert [e["type"] for e in await self.until("conversation.item.done")] == [
            "conversation.item.added",
            "conversation.item.done",
        ]

    async def turn(self, timeout_s: float = 30, **response: Any) -> list[dict[str, Any]]:
        """`response.create`, then every event up to `response.done`."""
        await self.send({"type": "response.create", "response": response} if response else {"type": "response.create"})
        return await self.until("response.done", timeout_s)


def first(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(e for e in events if e["type"] == kind)


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def collapse(names: list[str]) -> list[str]:
    """Event types with runs of the same delta type folded into one."""
    return [n for i, n in enumerate(names) if not (n.endswith(".delta") and i and names[i - 1] == n)]


def audio_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")


def speech_turn(text: str) -> list[bytes]:
    """flite speech framed by silence, as 40 ms chunks."""
    return chunks(silence(300) + synthesize(text) + silence(900), 40)
