"""Driving one turn of a session: typed text or a recorded utterance, until the model is done.

Used by `__main__` for `--text` and `--wav`, and by tests and the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Callable
from typing import Any

from voice_client import realtime
from voice_client.audio_format import BYTES_PER_MS
from voice_client.session import RealtimeSession


async def run_text_turn(
    session: RealtimeSession, text: str, on_text: Callable[[str], object] | None = None, timeout_s: float = 120
) -> list[str]:
    """Send `text`, let the model run every tool call, and return its replies once its turn is done.

    The turn is done at the first `response.done` after which nothing is running or owed
    (no active response, no pending tool call, no queued `response.create`), or when the server
    refused the request with an `error` and nothing is running.

    Raises:
        TimeoutError: if the turn takes longer than `timeout_s`.
    """
    await session.send_text(text)
    return await _until_done(session, on_text, timeout_s)


async def run_wav(
    session: RealtimeSession,
    pcm: bytes,
    *,
    chunk_ms: int = 40,
    realtime_pace: bool = False,
    manual_turn: bool = False,
    on_text: Callable[[str], object] | None = None,
    timeout_s: float = 120,
) -> list[str]:
    """Stream an utterance (PCM16 mono 24 kHz bytes) as the user's turn; return the replies.

    Args:
        chunk_ms: size of each `input_audio_buffer.append`.
        realtime_pace: sleep `chunk_ms` between chunks, like a microphone.
        manual_turn: commit and ask for a response ourselves (turn detection off); otherwise
            one second of silence follows so server VAD ends the turn.
    """
    step = chunk_ms * BYTES_PER_MS
    tail = b"" if manual_turn else bytes(1000 * BYTES_PER_MS)
    audio = pcm + tail
    for start in range(0, len(audio), step):
        await session.send_audio(audio[start : start + step])
        if realtime_pace:
            await asyncio.sleep(chunk_ms / 1000)
    if manual_turn:
        await session.commit_audio()
        await session.create_response()
    return await _until_done(session, on_text, timeout_s)


async def run_response(
    session: RealtimeSession, on_text: Callable[[str], object] | None = None, timeout_s: float = 120
) -> list[str]:
    """Ask the model to speak now, with no new user input (a script coach's opening); return its replies.

    Raises:
        TimeoutError: if the turn takes longer than `timeout_s`.
    """
    await session.create_response()
    return await _until_done(session, on_text, timeout_s)


async def run_microphone(session: RealtimeSession, microphone: AsyncIterable[bytes], mute_while: Any = None) -> None:
    """Stream `microphone` blocks (PCM16 mono 24 kHz) to the session until it ends; server VAD takes turns.

    With `mute_while` (an object with a `busy` property, e.g. the speaker) silence is sent while it
    is busy, so loudspeakers without echo cancellation do not answer themselves.

    Raises:
        RealtimeError or ConnectionError: when the session ends with an error.
    """

    async def stream() -> None:
        async for pcm in microphone:
            await session.send_audio(bytes(len(pcm)) if mute_while is not None and mute_while.busy else pcm)

    streaming = asyncio.create_task(stream())
    try:
        async for _event in session:  # ends (or raises) when the session ends
            pass
    finally:
        streaming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await streaming


async def _until_done(session: RealtimeSession, on_text: Callable[[str], object] | None, timeout_s: float) -> list[str]:
    replies: list[str] = []
    ours: set[str] = set()
    async with asyncio.timeout(timeout_s):
        async for event in session:
            match event:
                case realtime.ResponseCreated(response_id=rid):
                    ours.add(rid)
                case realtime.TextDone(response_id=rid, text=text) if rid in ours:
                    replies.append(text)
                    if on_text is not None:
                        on_text(text)
                case realtime.ResponseDone(response_id=rid) if rid in ours and session.idle:
                    return replies
                case realtime.ServerError() if session.idle:
                    return replies  # the request was refused; nothing more is coming
    return replies
