"""The session's transcription prompt reaches Whisper: the words of the user's library are heard, in a turn that
server VAD ends (transcribed at its pause, then reused) and in a committed buffer. Real Silero, Whisper, flite."""

from __future__ import annotations

import base64

from tests.local_realtime.protocol_client import Peer, first, speech_turn
from tests.local_realtime.test_stt import LIBRARY_WORDS
from tests.speech_audio import chunks, silence, synthesize, words

QUESTION = "What is the name of the guesthouse in Alfama?"
"""flite's "Alfama" is heard as "all fami" without the prompt (`test_stt`)."""


async def test_a_spoken_turn_is_heard_with_the_sessions_prompt(peer: Peer) -> None:
    transcription = {"model": "whisper-1", "prompt": LIBRARY_WORDS}
    session = await peer.update(
        {
            "type": "realtime",
            "output_modalities": ["text"],
            "audio": {"input": {"transcription": transcription, "turn_detection": {"type": "server_vad"}}},
        }
    )
    assert session["audio"]["input"]["transcription"] == transcription

    for chunk in speech_turn(QUESTION):
        await peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
    events = await peer.until("response.done", timeout_s=60)

    transcript = first(events, "conversation.item.input_audio_transcription.completed")["transcript"]
    assert "alfama" in words(transcript)


async def test_a_new_prompt_applies_to_the_next_turn_and_none_leaves_whisper_alone(peer: Peer) -> None:
    async def heard(prompt: str | None) -> str:
        transcription = {"model": "whisper-1"} | ({"prompt": prompt} if prompt is not None else {})
        await peer.update(
            {"type": "realtime", "audio": {"input": {"transcription": transcription, "turn_detection": None}}}
        )
        for chunk in chunks(silence(300) + synthesize(QUESTION) + silence(300), 100):
            await peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
        await peer.send({"type": "input_audio_buffer.commit"})
        return (await peer.until("conversation.item.input_audio_transcription.completed"))[-1]["transcript"]

    assert "alfama" not in words(await heard(None))
    assert "alfama" in words(await heard(LIBRARY_WORDS))


async def test_a_prompt_that_is_not_text_is_refused(peer: Peer) -> None:
    transcription = {"model": "whisper-1", "prompt": ["Alfama"]}
    await peer.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"transcription": transcription}}},
        }
    )

    error = await peer.recv()

    assert (error["type"], error["error"]["param"]) == ("error", "session.audio.input.transcription.prompt")
