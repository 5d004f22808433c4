"""Server `error` events: ordinary ones are surfaced and the session goes on; fatal ones end it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.realtime_peer import (
    RealtimePeer,
    Step,
    error,
    function_call,
    response_created,
    response_done,
    session_created,
    session_updated,
    text_reply,
)
from voice_client import realtime
from voice_client.config import Config
from voice_client.realtime import RealtimeError
from voice_client.session import RealtimeSession
from voice_client.turns import run_text_turn


async def test_an_error_event_is_surfaced_and_the_session_goes_on(client_config: Callable[..., Config]) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create", send=[error("invalid_value", "Invalid value: 'x'.")]),
        Step("conversation.item.create"),
        Step(
            "response.create",
            send=text_reply("resp_1", "m", "Fine."),
        ),
    ]
    async with RealtimePeer(script) as peer:
        async with RealtimeSession(client_config(peer.url)) as session:
            await session.send_text("hello", respond=False)
            async with asyncio.timeout(5):
                surfaced = await anext(e async for e in session if isinstance(e, realtime.ServerError))
            replies = await run_text_turn(session, "still there?")
        await peer.finished()
    assert (surfaced.code, surfaced.message) == ("invalid_value", "Invalid value: 'x'.")
    assert replies == ["Fine."]


async def test_a_fatal_error_ends_the_session_with_code_and_message(client_config: Callable[..., Config]) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", send=[error("invalid_api_key", "Incorrect API key provided.")]),
    ]
    async with RealtimePeer(script) as peer:
        async with RealtimeSession(client_config(peer.url)) as session:
            with pytest.raises(RealtimeError) as caught:
                async with asyncio.timeout(5):
                    async for _ in session:
                        pass
        await peer.finished()
    assert caught.value.code == "invalid_api_key"
    assert caught.value.message == "Incorrect API key provided."


async def test_a_failed_response_does_not_continue_the_tool_loop(client_config: Callable[..., Config]) -> None:
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create"),
        Step("response.create", send=[response_created("resp_1"), response_done("resp_1", "failed")]),
        Step("conversation.item.create", where=lambda e: e["item"]["content"][0]["text"] == "after"),
    ]
    async with RealtimePeer(script) as peer, RealtimeSession(client_config(peer.url)) as session:
        assert await run_text_turn(session, "before") == []
        assert session.idle
        await session.send_text("after", respond=False)
        await peer.finished()
    assert len(peer.of_type("response.create")) == 1


async def test_a_refused_response_create_ends_the_turn_instead_of_hanging(
    client_config: Callable[..., Config],
) -> None:
    def refuse(event: dict) -> list[dict]:
        return [
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": "invalid_value",
                    "message": "Invalid response.",
                    "event_id": event["event_id"],
                },
            }
        ]

    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create"),
        Step("response.create", reply=refuse),
    ]
    async with RealtimePeer(script) as peer, RealtimeSession(client_config(peer.url)) as session:
        assert await run_text_turn(session, "hello", timeout_s=5) == []
        assert session.idle
        await peer.finished()


async def test_a_failing_callback_does_not_stop_the_tool_loop(client_config: Callable[..., Config]) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("the UI fell over")

    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *function_call("resp_1", "call_1", "anything", "{}"),
                response_done("resp_1"),
            ],
        ),
        Step(
            "conversation.item.create",
            where=lambda e: (
                e["item"]["type"] == "function_call_output" and "no tools are connected" in e["item"]["output"]
            ),
        ),
        Step(
            "response.create",
            send=text_reply("resp_2", "m", "Sorry."),
        ),
    ]
    async with RealtimePeer(script) as peer:
        async with RealtimeSession(
            client_config(peer.url), on_tool_call=broken, on_tool_result=broken, on_response_received=broken
        ) as session:
            assert await run_text_turn(session, "do it") == ["Sorry."]
        await peer.finished()
