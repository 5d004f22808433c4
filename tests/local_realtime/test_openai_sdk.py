"""Conformance with a client nobody here wrote: the official openai SDK's realtime connection.

Every event the SDK receives is also checked raw against `RealtimeServerEvent` (no unknown fields).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection

from tests.local_realtime.protocol_client import ECHO_TOOL, check_shape


async def receive(conn: AsyncRealtimeConnection, until: str) -> list[dict[str, Any]]:
    """Raw server events, each shape-checked, up to and including the first of type `until`."""
    seen = []
    while True:
        raw = json.loads(await conn.recv_bytes())
        check_shape(raw)
        conn.parse_event(json.dumps(raw))  # the SDK's own parser accepts it too
        seen.append(raw)
        if raw["type"] == until:
            return seen


@pytest.fixture
async def conn(url: str) -> AsyncIterator[AsyncRealtimeConnection]:
    client = AsyncOpenAI(api_key="test", base_url=url.replace("ws://", "http://"), websocket_base_url=url)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        yield connection
    await client.close()


async def test_sdk_completes_a_text_turn(conn: AsyncRealtimeConnection) -> None:
    created = await conn.recv()
    assert created.type == "session.created"
    await conn.session.update(
        session={"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}}
    )
    updated = await conn.recv()
    assert updated.type == "session.updated" and updated.session.output_modalities == ["text"]
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "good morning"}]}
    )
    await conn.response.create()
    events = await receive(conn, "response.done")
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: good morning"
    assert events[-1]["response"]["status"] == "completed"


async def test_sdk_completes_a_function_call_turn(conn: AsyncRealtimeConnection) -> None:
    await receive(conn, "session.created")
    await conn.session.update(
        session={
            "type": "realtime",
            "tools": [ECHO_TOOL],
            "tool_choice": "auto",
            "audio": {"input": {"turn_detection": None}},
        }
    )
    await receive(conn, "session.updated")
    await conn.conversation.item.create(
        item={
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": 'call echo with {"value": "ping"}'}],
        }
    )
    await conn.response.create()
    events = await receive(conn, "response.done")
    call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert (call["name"], json.loads(call["arguments"])) == ("echo", {"value": "ping"})
    await conn.conversation.item.create(
        item={"type": "function_call_output", "call_id": call["call_id"], "output": "pong"}
    )
    await conn.response.create()
    answer = await receive(conn, "response.done")
    transcript = next(e for e in answer if e["type"] == "response.output_audio_transcript.done")["transcript"]
    assert transcript == "Done: pong"
    assert any(e["type"] == "response.output_audio.delta" for e in answer)
    assert answer[-1]["response"]["status"] == "completed"
