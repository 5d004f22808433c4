"""The per-turn latency report: where the end of speech lies in time, and every stage of a tool turn in order."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.realtime_peer import (
    RealtimePeer,
    Step,
    audio_message,
    function_call,
    response_created,
    response_done,
    session_created,
    session_updated,
)
from tests.speech_audio import chunks, synthesize
from tests.voice_client.conftest import ChunkSink
from voice_client.config import Config
from voice_client.latency import STAGES, InputClock, TurnLatency, TurnTimer
from voice_client.session import RealtimeSession
from voice_client.turns import run_text_turn


def test_the_input_clock_places_audio_positions_at_their_capture_time() -> None:
    clock = InputClock()
    clock.sent(48 * 20, captured_s=100.020)  # the first 20 ms block ended at 100.020
    clock.sent(48 * 20, captured_s=100.040)

    assert clock.time_of(0) == 100.0
    assert abs(clock.time_of(30) - 100.030) < 1e-9  # type: ignore[operator]
    assert clock.time_of(41) is None  # not sent yet


def test_end_of_speech_is_where_the_vad_silence_began() -> None:
    timer = TurnTimer(vad_silence_ms=500)
    now = time.monotonic()
    for block in range(100):  # 2 s of audio, the last block just captured
        timer.input.sent(48 * 20, captured_s=now - 2.0 + (block + 1) * 0.02)

    timer.speech_stopped(audio_end_ms=2000)  # the VAD waited 500 ms of silence: speech ended at 1.5 s
    turn = timer.finish()

    assert turn is not None and turn.spoken
    assert abs(turn.speech_end - (now - 0.5)) < 0.01
    assert turn.seconds()["speech_stopped"] >= 0.5


async def test_a_typed_tool_turn_reports_each_stage_in_order(client_config: Callable[..., Config]) -> None:
    answer = chunks(synthesize("Done."), 100)
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *audio_message("resp_1", "item_ack", answer[:1], "One moment."),
                *function_call("resp_1", "call_1", "anything", "{}", output_index=1),
                response_done("resp_1"),
            ],
        ),
        Step("conversation.item.create", where=lambda e: e["item"]["type"] == "function_call_output"),
        Step(
            "response.create",
            send=[
                response_created("resp_2"),
                *audio_message("resp_2", "item_2", answer, "Done."),
                response_done("resp_2"),
            ],
        ),
    ]
    reports: list[TurnLatency] = []
    async with RealtimePeer(script) as peer:
        config = client_config(peer.url).with_overrides(text_only=False)
        async with RealtimeSession(config, audio_output=ChunkSink(), on_turn_latency=reports.append) as session:
            await run_text_turn(session, "Do the thing", timeout_s=10)  # the report comes with the last response.done
            await peer.finished()

    (turn,) = reports
    seconds = turn.seconds()
    assert not turn.spoken and turn.tools == ["anything"]
    assert list(seconds) == [s for s in STAGES if s in seconds]  # a known stage vocabulary, in order
    assert {"tool_chosen", "tool_done", "first_audio_played", "answer_audio_played"} <= set(seconds)
    assert seconds["first_audio_received"] <= seconds["tool_chosen"] <= seconds["tool_done"]
    assert seconds["tool_done"] <= seconds["answer_audio_received"] <= seconds["answer_audio_played"]
    assert turn.first_audio_s == seconds["first_audio_played"]
