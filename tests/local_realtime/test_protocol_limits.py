"""The engine's limits and its answers to bad input over a real WebSocket: `max_output_tokens`, unusable audio,
oversized frames, a flood of malformed events, the beta header and unknown paths (errors, and the session
goes on)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.local_realtime.protocol_client import (
    TEXT_SESSION,
    Peer,
    check_shape,
    first,
)


async def test_a_reply_stops_at_max_output_tokens_and_is_incomplete(peer: Peer) -> None:
    await peer.update(TEXT_SESSION | {"max_output_tokens": 5})
    await peer.say("please repeat this whole long sentence back to me word for word")
    events = await peer.turn()

    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: please rep"  # 5 tokens = 20 characters, the engine's usage measure
    assert first(events, "response.output_text.done")["text"] == text
    done = events[-1]["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert done["output"][0]["status"] == "incomplete"
    assert done["usage"]["output_tokens"] == 5


async def test_a_per_response_budget_applies_to_that_response_only(peer: Peer) -> None:
    await peer.update(TEXT_SESSION)
    await peer.say("hello there")
    short = await peer.turn(max_output_tokens=2)
    assert short[-1]["response"]["status"] == "incomplete"
    assert first(short, "response.output_text.done")["text"] == "You said"

    await peer.say("and hello again")
    full = await peer.turn()
    assert full[-1]["response"]["status"] == "completed"
    assert first(full, "response.output_text.done")["text"] == "You said: and hello again"


async def test_unusable_audio_and_deep_nesting_get_an_error_and_the_session_goes_on(peer: Peer) -> None:
    frames = [
        json.dumps({"type": "input_audio_buffer.append", "audio": "ÀÉÎ", "event_id": "not_ascii"}),
        "[" * 200_000 + "]" * 200_000,
        json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA" * (5 * 2**20 + 4), "event_id": "too_big"}),
    ]
    for frame in frames:
        await peer.send_raw(frame)
    errors = [(await peer.recv())["error"] for _ in frames]
    assert [e["code"] for e in errors] == ["invalid_value", "invalid_json", "invalid_value"]
    assert [e["event_id"] for e in errors] == ["not_ascii", None, "too_big"]
    assert "at most 15 MiB" in errors[2]["message"]
    await peer.update(TEXT_SESSION)
    await peer.say("still there?")
    events = await peer.turn()
    assert first(events, "response.output_text.done")["text"] == "You said: still there?"


async def test_a_frame_over_the_size_limit_closes_with_message_too_big(url: str) -> None:
    ws = await connect(f"{url}/realtime?model=gpt-realtime", max_size=None)  # the server closes it
    await ws.recv()  # session.created
    with contextlib.suppress(ConnectionClosed):
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (30 * 2**20)}))
        await ws.recv()
    await ws.wait_closed()
    assert ws.close_code == 1009


async def test_flood_of_bad_events_gets_one_error_each_and_the_session_goes_on(peer: Peer) -> None:
    bad: list[str | bytes] = [
        "{not json",
        "[]",
        '"just a string"',
        json.dumps({"no": "type"}),
        json.dumps({"type": 42}),
        json.dumps({"type": "session.nonsense"}),
        json.dumps({"type": "input_audio_buffer.append"}),
        json.dumps({"type": "input_audio_buffer.append", "audio": "***"}),
        json.dumps({"type": "conversation.item.create"}),
        json.dumps({"type": "conversation.item.create", "item": {"type": "bogus"}}),
        json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": []}}),
        json.dumps({"type": "conversation.item.truncate", "item_id": "nope", "content_index": 0, "audio_end_ms": 5}),
        json.dumps({"type": "conversation.item.delete"}),
        json.dumps({"type": "conversation.item.retrieve", "item_id": "nope"}),
        json.dumps({"type": "response.cancel"}),
        json.dumps({"type": "response.create", "response": {"output_modalities": ["video"]}}),
        json.dumps({"type": "session.update", "session": "realtime"}),
        json.dumps({"type": "input_audio_buffer.commit"}),
        json.dumps({"type": "output_audio_buffer.clear"}),
        b"\xff\xfe binary",
    ]
    rounds = 15
    for i in range(rounds):
        for j, frame in enumerate(bad):
            if isinstance(frame, str) and frame.startswith("{") and frame.endswith("}") and '"type"' in frame:
                frame = json.dumps({**json.loads(frame), "event_id": f"bad_{i}_{j}"})
            await peer.send_raw(frame)
    errors = [await peer.recv() for _ in range(rounds * len(bad))]
    assert {e["type"] for e in errors} == {"error"}
    assert all(e["error"]["type"] == "invalid_request_error" and e["error"]["message"] for e in errors)
    tagged = [e["error"]["event_id"] for e in errors if e["error"]["event_id"]]
    assert len(tagged) >= rounds * 14
    await peer.update(TEXT_SESSION)
    await peer.say("still here")
    assert first(await peer.turn(), "response.output_text.done")["text"] == "You said: still here"


async def test_beta_header_is_refused_the_ga_way(url: str) -> None:
    async with connect(f"{url}/realtime?model=gpt-realtime", additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        error = json.loads(await ws.recv())
        check_shape(error)
        assert error["error"]["code"] == "beta_api_shape_disabled"
        async with asyncio.timeout(5):
            await ws.wait_closed()
        assert ws.close_code == 4000


async def test_other_paths_are_not_found(url: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url.replace("/v1", "/v2/realtime")):
            pass
    assert refused.value.response.status_code == 404
