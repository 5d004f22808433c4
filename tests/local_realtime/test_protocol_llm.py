"""The real engine of `python -m local_realtime` (llama.cpp with the packaged Qwen GGUF, Whisper, piper)
answering through the Realtime protocol."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect

from local_realtime.engine import Engine
from local_realtime.server import serve_engine
from tests.local_realtime.protocol_client import SCRIPT_TOOL, Peer, first

pytestmark = pytest.mark.slow


@pytest.fixture
async def llm_peer(real_engine: Engine) -> AsyncIterator[Peer]:
    async with (
        serve_engine(real_engine) as url,
        connect(f"{url}/realtime?model=gpt-realtime") as ws,
    ):
        peer = Peer(ws)
        assert (await peer.recv())["type"] == "session.created"
        yield peer


async def test_real_model_answers_a_text_turn(llm_peer: Peer) -> None:
    await llm_peer.update(
        {"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}}
    )
    await llm_peer.say("What is the capital of France? Answer in one short sentence.")
    events = await llm_peer.turn(timeout_s=180)
    assert events[-1]["response"]["status"] == "completed"
    assert "paris" in first(events, "response.output_text.done")["text"].lower()


async def test_real_model_calls_a_tool_then_speaks_about_the_result(llm_peer: Peer) -> None:
    tool = {
        **SCRIPT_TOOL,
        "parameters": {
            "type": "object",
            "required": ["script_name"],
            "properties": {"script_name": {"type": "string", "enum": ["blog_writer", "interview_prep"]}},
        },
    }
    await llm_peer.update({"type": "realtime", "tools": [tool], "audio": {"input": {"turn_detection": None}}})
    await llm_peer.say("Please load the blog writer script.")
    events = await llm_peer.turn(timeout_s=180)
    call = first(events, "response.function_call_arguments.done")
    assert (call["name"], json.loads(call["arguments"])) == ("load_script", {"script_name": "blog_writer"})
    output = {
        "type": "function_call_output",
        "call_id": call["call_id"],
        "output": "Loaded script 'Blog writer'. Step 1: ask the user for the blog topic.",
    }
    await llm_peer.send({"type": "conversation.item.create", "item": output})
    await llm_peer.until("conversation.item.done")
    answer = await llm_peer.turn(timeout_s=180)
    assert answer[-1]["response"]["status"] == "completed"
    assert first(answer, "response.output_audio_transcript.done")["transcript"].strip()
    assert any(e["type"] == "response.output_audio.delta" for e in answer)
