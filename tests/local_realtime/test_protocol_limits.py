"""`max_output_tokens`: a reply stops at the budget and the response says why (GA `incomplete`)."""

from __future__ import annotations

from tests.local_realtime.protocol_client import TEXT_SESSION, Peer, first


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
