"""A typed turn against the wire-level peer: GA session.update, user item, response, reply text."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tests.realtime_peer import (
    RealtimePeer,
    Step,
    session_created,
    session_updated,
    text_reply,
)
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.turns import run_text_turn


def _is_ga_session_update(event: dict) -> bool:
    session = event["session"]
    return (
        session["type"] == "realtime"
        and session["output_modalities"] == ["text"]
        and session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        and session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
        and session["audio"]["input"]["turn_detection"] is None
        and session["tool_choice"] == "auto"
    )


async def test_text_turn_prints_the_reply_and_ends(client_config: Callable[..., Config]) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=_is_ga_session_update, reply=session_updated),
        Step("conversation.item.create", where=lambda e: e["item"]["content"][0]["text"] == "Hello there"),
        Step(
            "response.create",
            send=text_reply("resp_1", "item_1", "Hi! How can I help?"),
        ),
    ]
    async with RealtimePeer(script) as peer:
        replies: list[str] = []
        async with RealtimeSession(client_config(peer.url), on_response_received=replies.append) as session:
            printed = await run_text_turn(session, "Hello there")
        await peer.finished()
    assert printed == ["Hi! How can I help?"]
    assert replies == ["Hi! How can I help?"]
    path, headers = peer.requests[0]
    assert path == "/v1/realtime?model=gpt-realtime-test"
    assert headers["authorization"] == "Bearer sk-test-secret"
    assert "openai-beta" not in headers


async def test_the_api_key_never_reaches_the_logs(
    client_config: Callable[..., Config], caplog: pytest.LogCaptureFixture
) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create"),
        Step("response.create", send=text_reply("r", "i", "ok")),
    ]
    caplog.set_level(logging.DEBUG)
    async with RealtimePeer(script) as peer:
        config = client_config(peer.url)
        async with RealtimeSession(config) as session:
            await run_text_turn(session, "hi")
        await peer.finished()
    assert caplog.records
    ours = [r for r in caplog.records if not r.name.startswith("websockets.server")]  # the peer is in-process
    assert all(config.api_key not in record.getMessage() for record in ours)
    assert config.api_key not in repr(config)
