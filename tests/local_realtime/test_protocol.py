"""The engine's GA Realtime protocol over a real WebSocket: RuleBrain, real espeak-ng voice, real Whisper.

Every server frame is validated against the openai SDK's `RealtimeServerEvent` union, with no
fields the SDK does not know (`protocol_client.Peer`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from local_realtime.audio_format import BYTES_PER_MS
from tests.local_realtime.protocol_client import (
    ECHO_TOOL,
    SCRIPT_TOOL,
    TEXT_SESSION,
    Peer,
    audio_of,
    collapse,
    first,
    speech_turn,
    types,
)
from tests.speech_audio import chunks, silence, synthesize


async def test_session_starts_with_ga_defaults_and_update_is_applied(peer: Peer) -> None:
    session = await peer.update(
        {
            "type": "realtime",
            "instructions": "Be brief.",
            "output_modalities": ["text"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "whisper-1"},
                    "turn_detection": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 400},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "cedar"},
            },
            "tools": [ECHO_TOOL],
            "tool_choice": "required",
        }
    )
    assert session["instructions"] == "Be brief."
    assert session["output_modalities"] == ["text"]
    detection = session["audio"]["input"]["turn_detection"]
    assert (detection["type"], detection["threshold"], detection["silence_duration_ms"]) == ("server_vad", 0.6, 400)
    assert detection["prefix_padding_ms"] == 300 and detection["create_response"] is True
    assert session["audio"]["input"]["transcription"] == {"model": "whisper-1"}
    assert session["audio"]["output"]["voice"] == "cedar"
    assert [t["name"] for t in session["tools"]] == ["echo"] and session["tool_choice"] == "required"
    semantic = await peer.update(
        {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}}
    )
    assert semantic["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }
    cleared = await peer.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    assert cleared["audio"]["input"]["turn_detection"] is None and cleared["instructions"] == "Be brief."


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"instructions": "no type"}, "missing_required_parameter", "session.type"),
        ({"type": "realtime", "modalities": ["text"]}, "unknown_parameter", "session.modalities"),
        ({"type": "realtime", "output_modalities": ["text", "audio"]}, "invalid_value", "session.output_modalities"),
        (
            {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "invalid_value",
            "session.audio.input.format",
        ),
        (
            {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": "hi"}}}},
            "invalid_type",
            "session.audio.input.turn_detection.threshold",
        ),
        (
            {"type": "realtime", "tools": [{"type": "mcp", "server_label": "x"}]},
            "invalid_value",
            "session.tools[0].type",
        ),
    ],
)
async def test_bad_session_update_is_refused_and_nothing_changes(
    peer: Peer, session: dict[str, Any], code: str, param: str
) -> None:
    await peer.send({"type": "session.update", "event_id": "evt_1", "session": session})
    error = await peer.recv()
    assert error["type"] == "error"
    assert (error["error"]["code"], error["error"]["param"], error["error"]["event_id"]) == (code, param, "evt_1")
    unchanged = await peer.update({"type": "realtime"})
    assert unchanged["output_modalities"] == ["audio"]


async def test_text_turn_streams_text_events_in_ga_order(peer: Peer) -> None:
    await peer.update(TEXT_SESSION)
    await peer.say("hello there")
    events = await peer.turn()
    assert collapse(types(events)) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: hello there" == first(events, "response.output_text.done")["text"]
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["usage"]["output_tokens"] > 0
    assert done["output"][0]["content"] == [{"type": "output_text", "text": text}]
    assert done["output"][0]["status"] == "completed"


async def test_audio_turn_streams_speech_with_its_transcript(peer: Peer) -> None:
    await peer.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    await peer.say("the sky is blue. grass is green")
    events = await peer.turn()
    names = types(events)
    assert names[:4] == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
    ]
    assert names[-6:] == [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    assert set(names[4:-6]) == {"response.output_audio.delta", "response.output_audio_transcript.delta"}
    audio = audio_of(events)
    assert len(audio) > 1000 * BYTES_PER_MS  # more than a second of speech
    transcript = events[-5]["transcript"]
    assert transcript == "You said: the sky is blue. grass is green"
    done = events[-1]["response"]
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": transcript}]
    assert done["usage"]["output_token_details"]["audio_tokens"] > 0


async def test_two_parallel_function_calls_then_outputs_give_a_spoken_answer(peer: Peer) -> None:
    await peer.update({"type": "realtime", "tools": [ECHO_TOOL], "audio": {"input": {"turn_detection": None}}})
    await peer.say('call echo with {"value": "a"} and also call echo with {"value": "b"}')
    events = await peer.turn()
    calls = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [(c["name"], json.loads(c["arguments"]), c["output_index"]) for c in calls] == [
        ("echo", {"value": "a"}, 0),
        ("echo", {"value": "b"}, 1),
    ]
    assert types(events) == ["response.created"] + 2 * [
        "response.output_item.added",
        "conversation.item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "conversation.item.done",
    ] + ["response.done"]
    done = events[-1]["response"]
    assert [(o["type"], o["call_id"], o["status"]) for o in done["output"]] == [
        ("function_call", c["call_id"], "completed") for c in calls
    ]
    for call in calls:
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": f"echoed {call['call_id']}"}
        await peer.send({"type": "conversation.item.create", "item": output})
        added, item_done = await peer.recv(), await peer.recv()
        assert (added["type"], item_done["type"]) == ("conversation.item.added", "conversation.item.done")
        assert item_done["item"]["call_id"] == call["call_id"]
    follow_up = await peer.turn()
    transcript = first(follow_up, "response.output_audio_transcript.done")["transcript"]
    assert transcript.startswith(f"Done: echoed {calls[1]['call_id']}")
    assert len(audio_of(follow_up)) > 500 * BYTES_PER_MS


async def test_spoken_request_with_server_vad_is_committed_transcribed_and_answered(peer: Peer) -> None:
    await peer.update(
        {
            "type": "realtime",
            "tools": [SCRIPT_TOOL],
            "audio": {"input": {"transcription": {"model": "whisper-1"}, "turn_detection": {"type": "server_vad"}}},
        }
    )
    for chunk in speech_turn("Load the blog writer script."):
        await peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
    events = await peer.until("response.done", timeout_s=60)
    names = types(events)
    assert names[:3] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]
    started, stopped, committed = events[:3]
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]
    assert names.index("conversation.item.added") < names.index("response.created")
    transcription = first(events, "conversation.item.input_audio_transcription.completed")
    assert transcription["item_id"] == committed["item_id"]
    assert "blog writer script" in transcription["transcript"].lower()
    call = first(events, "response.function_call_arguments.done")
    assert (call["name"], json.loads(call["arguments"])) == ("load_script", {"script_name": "blog_writer"})
    assert events[-1]["response"]["status"] == "completed"
    await peer.send({"type": "conversation.item.retrieve", "item_id": committed["item_id"]})
    retrieved = await peer.recv()
    assert retrieved["item"]["content"][0]["transcript"] == transcription["transcript"]


async def test_manual_commit_transcribes_without_answering(peer: Peer) -> None:
    await peer.update(
        {"type": "realtime", "audio": {"input": {"transcription": {"model": "x"}, "turn_detection": None}}}
    )
    for chunk in chunks(synthesize("The weather is nice today."), 100):
        await peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
    await peer.send({"type": "input_audio_buffer.commit"})
    events = await peer.until("conversation.item.input_audio_transcription.completed")
    assert types(events) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.completed",
    ]
    assert "weather is nice" in events[-1]["transcript"].lower()
    await peer.send({"type": "input_audio_buffer.commit", "event_id": "c2"})
    error = await peer.recv()
    assert (error["error"]["code"], error["error"]["event_id"]) == ("input_audio_buffer_commit_empty", "c2")
    await peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(silence(200)).decode()})
    await peer.send({"type": "input_audio_buffer.clear"})
    assert (await peer.recv())["type"] == "input_audio_buffer.cleared"


async def test_truncate_cuts_the_transcript_to_what_was_heard(peer: Peer) -> None:
    await peer.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    await peer.say("one two three four five six seven eight")
    events = await peer.turn()
    item_id = first(events, "response.output_item.done")["item"]["id"]
    heard_ms = len(audio_of(events)) // BYTES_PER_MS
    await peer.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                     "audio_end_ms": heard_ms + 1000, "event_id": "t1"})  # fmt: skip
    too_long = await peer.recv()
    assert (too_long["type"], too_long["error"]["event_id"]) == ("error", "t1")
    assert "shorter than" in too_long["error"]["message"]
    await peer.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                     "audio_end_ms": heard_ms // 2})  # fmt: skip
    truncated = await peer.recv()
    assert truncated == {**truncated, "type": "conversation.item.truncated", "item_id": item_id,
                         "audio_end_ms": heard_ms // 2}  # fmt: skip
    await peer.send({"type": "conversation.item.retrieve", "item_id": item_id})
    kept = (await peer.recv())["item"]["content"][0]["transcript"]
    full = first(events, "response.output_audio_transcript.done")["transcript"]
    assert full.startswith(kept) and 0 < len(kept.split()) < len(full.split())


async def test_deleted_item_is_gone_from_the_conversation(peer: Peer) -> None:
    await peer.update(TEXT_SESSION)
    await peer.say("remember this")
    await peer.send({"type": "conversation.item.create", "item": {"id": "item_mine", "type": "message",
                     "role": "user", "content": [{"type": "input_text", "text": "and this"}]}})  # fmt: skip
    await peer.until("conversation.item.done")
    await peer.send({"type": "conversation.item.delete", "item_id": "item_mine"})
    deleted = await peer.recv()
    assert (deleted["type"], deleted["item_id"]) == ("conversation.item.deleted", "item_mine")
    await peer.send({"type": "conversation.item.delete", "item_id": "item_mine", "event_id": "d2"})
    error = await peer.recv()
    assert (error["type"], error["error"]["event_id"]) == ("error", "d2")
    events = await peer.turn()
    assert first(events, "response.output_text.done")["text"] == "You said: remember this"


async def test_user_audio_item_is_transcribed_before_the_answer(peer: Peer) -> None:
    await peer.update(
        {"type": "realtime", "output_modalities": ["text"],
         "audio": {"input": {"transcription": {"model": "whisper-1"}, "turn_detection": None}}}
    )  # fmt: skip
    audio = base64.b64encode(synthesize("What time is it?")).decode()
    item = {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": audio}]}
    await peer.send({"type": "conversation.item.create", "item": item})
    await peer.send({"type": "response.create"})
    events = await peer.until("response.done", timeout_s=60)
    added = first(events, "conversation.item.added")["item"]
    assert added["content"] == [{"type": "input_audio", "transcript": None}]
    transcript = first(events, "conversation.item.input_audio_transcription.completed")
    assert transcript["item_id"] == added["id"] and "what time is it" in transcript["transcript"].lower()
    assert first(events, "response.output_text.done")["text"] == f"You said: {transcript['transcript']}"


async def test_replayed_history_is_what_the_brain_answers_from(peer: Peer) -> None:
    await peer.update({**TEXT_SESSION, "tools": [ECHO_TOOL]})
    replay = [
        {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be nice."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
        {"type": "function_call", "call_id": "call_old", "name": "echo", "arguments": '{"value": "x"}'},
        {"type": "function_call_output", "call_id": "call_old", "output": "x was echoed"},
    ]
    previous = None
    for item in replay:
        await peer.send({"type": "conversation.item.create", "item": item})
        added, done = await peer.recv(), await peer.recv()
        assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
        assert added["previous_item_id"] == previous and done["item"]["status"] == "completed"
        previous = added["item"]["id"]
    first_item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "first"}]}
    await peer.send({"type": "conversation.item.create", "item": first_item, "previous_item_id": "root"})
    assert (await peer.until("conversation.item.done"))[0]["previous_item_id"] is None
    events = await peer.turn()
    assert first(events, "response.output_text.done")["text"] == "Done: x was echoed"
