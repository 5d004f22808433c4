"""One model response: brain output streamed as GA response events, speech made sentence by sentence.

Text from the brain goes out as transcript (or text) deltas at once and, for audio output, into a
sentence splitter whose sentences a speaker task synthesizes while the brain keeps generating.
`cancel` stops the brain, the voice and the event stream at once; `response.done` says why.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from local_realtime.audio_format import byte_count, duration_ms, session_format
from local_realtime.brain import Entry, FunctionCall, tool_specs
from local_realtime.conversation import Conversation, new_id
from local_realtime.engine import Engine
from local_realtime.events import ProtocolError
from local_realtime.session import ResponseSettings

logger = logging.getLogger(__name__)
Emit = Callable[[dict[str, Any]], None]
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_MAX_SENTENCE_CHARS = 160
_FIRST_CLAUSE_CHARS = 20
_FIRST_WORDS = 7  # a first sentence with no comma yet is spoken from this many words on: the brain writes
# about 10 tokens a second here, and waiting for a 20-word sentence's end would be 2 s of silence
_MAX_DELTA_BYTES = byte_count(200)  # per audio delta


@dataclass
class _Message:
    """The assistant message being streamed: its item, content part and speaker task."""

    item: dict[str, Any]
    output_index: int
    audio: bool
    text: str = ""
    pending: str = ""
    spoken: bool = False
    """True once a sentence went to the speaker."""
    sentences: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    speaker: asyncio.Task[None] | None = None


class Response:
    """One response, from `response.created` to `response.done`.

    Args:
        engine: the shared models.
        settings: what this response may do and how it answers.
        conversation: where output items are added (and the history the brain reads).
        emit: queues one server event (serialized at once) for sending.
        inputs_ready: awaited before the brain starts (pending user-audio transcriptions).
    """

    def __init__(
        self,
        engine: Engine,
        settings: ResponseSettings,
        conversation: Conversation,
        emit: Emit,
        inputs_ready: Callable[[], Awaitable[None]],
    ) -> None:
        self.id = new_id("resp")
        self._engine = engine
        self._settings = settings
        self._conversation = conversation
        self._emit = emit
        self._inputs_ready = inputs_ready
        self._stop = threading.Event()
        self._generation: asyncio.Task[None] | None = None
        self._reason: str | None = None
        self._output: list[dict[str, Any]] = []
        self._message: _Message | None = None
        self._input_chars = 0
        self._output_chars = 0
        self._audio_ms = 0
        self._limit_hit = False  # the reply reached max_output_tokens
        self._created = time.perf_counter()

    def cancel(self, reason: Literal["client_cancelled", "turn_detected"]) -> None:
        """Stop generation and audio now; `response.done` will say `cancelled` with `reason`."""
        if self._reason is None:
            self._reason = reason
        self._stop.set()
        if self._generation is not None:
            self._generation.cancel()
        if self._message is not None and self._message.speaker is not None:
            self._message.speaker.cancel()

    async def run(self) -> None:
        """Stream the whole response; returns after `response.done` was emitted."""
        self._created = time.perf_counter()
        self._emit({"type": "response.created", "response": self._resource("in_progress")})
        self._generation = asyncio.create_task(self._generate())
        if self._reason is not None:
            self._generation.cancel()
        await asyncio.wait([self._generation])
        status, details = "completed", None
        if self._limit_hit:
            status, details = "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
        if self._generation.cancelled() or self._reason is not None:
            status, details = "cancelled", {"type": "cancelled", "reason": self._reason or "client_cancelled"}
        elif (error := self._generation.exception()) is not None:
            logger.error("response %s failed: %r", self.id, error)
            status = "failed"
            details = {
                "type": "failed",
                "error": {
                    "type": "server_error",
                    "code": "engine_error",
                    "message": f"The local engine failed: {error}",
                },
            }
        if self._message is not None:
            await self._close_message("incomplete")
        self._emit({"type": "response.done", "response": self._resource(status, details)})

    async def _generate(self) -> None:
        await self._inputs_ready()
        instructions, history = self._conversation.entries()
        if self._settings.instructions != self._conversation.instructions:  # this response's own instructions
            history.append(Entry("system", self._settings.instructions))
        self._input_chars = len(instructions) + sum(len(e.text) for e in history)
        tools = tool_specs(self._settings.tools)
        choice = self._settings.tool_choice
        async for out in self._engine.replies(instructions, history, tools, choice, self._stop):
            if isinstance(out, FunctionCall):
                if self._message is not None:
                    await self._close_message("completed")
                self._function_call(out)
            elif out.text:
                if self._message is None:
                    self._open_message()
                if text := self._within_budget(out.text):
                    self._add_text(text)
                if out.last:
                    self._flush_speech()
                if self._limit_hit:
                    self._stop.set()  # the brain stops generating; what was said so far stays
                    break
        if self._message is not None:
            await self._close_message("incomplete" if self._limit_hit else "completed")

    def _within_budget(self, delta: str) -> str:
        """`delta`, cut where the reply reaches `max_output_tokens` (4 characters per token, as in usage)."""
        limit = self._settings.max_output_tokens
        if limit == "inf":
            return delta
        spoken_so_far = len(self._message.text) if self._message is not None else 0
        room = int(limit) * 4 - self._output_chars - spoken_so_far
        if len(delta) >= room:
            self._limit_hit = True
            return delta[: max(room, 0)]
        return delta

    def _add_item(self, item: dict[str, Any]) -> int:
        output_index = len(self._output)
        self._output.append(item)
        previous = self._conversation.add(item)
        self._emit(
            {"type": "response.output_item.added", "response_id": self.id, "output_index": output_index, "item": item}
        )
        self._emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        return output_index

    def _finish_item(self, item: dict[str, Any], output_index: int, status: str) -> None:
        item["status"] = status
        previous = self._previous_id(item["id"])
        self._emit(
            {"type": "response.output_item.done", "response_id": self.id, "output_index": output_index, "item": item}
        )
        self._emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    def _function_call(self, call: FunctionCall) -> None:
        item = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": new_id("call"),
            "arguments": "",
        }
        index = self._add_item(item)
        ids = {"response_id": self.id, "item_id": item["id"], "output_index": index, "call_id": item["call_id"]}
        self._emit({"type": "response.function_call_arguments.delta", **ids, "delta": call.arguments})
        item["arguments"] = call.arguments
        self._emit(
            {"type": "response.function_call_arguments.done", **ids, "name": call.name, "arguments": call.arguments}
        )
        self._output_chars += len(call.arguments)
        self._finish_item(item, index, "completed")

    def _open_message(self) -> None:
        audio = self._settings.output_modalities == ("audio",)
        item = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        index = self._add_item(item)
        self._message = message = _Message(item, index, audio)
        part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        self._emit({"type": "response.content_part.added", **self._part_ids(message), "part": part})
        item["content"].append(
            {"type": "output_audio", "transcript": ""} if audio else {"type": "output_text", "text": ""}
        )
        if audio:
            message.speaker = asyncio.create_task(self._speak(message))

    def _add_text(self, delta: str) -> None:
        message = self._message
        assert message is not None
        message.text += delta
        kind = "response.output_audio_transcript.delta" if message.audio else "response.output_text.delta"
        self._emit({"type": kind, **self._part_ids(message), "delta": delta})
        if message.audio:
            sentences, message.pending = split_sentences(message.pending + delta, first=not message.spoken)
            for sentence in sentences:
                message.sentences.put_nowait(sentence)
            message.spoken = message.spoken or bool(sentences)

    def _flush_speech(self) -> None:
        """The text is complete: speak what waits for a sentence end ("Loading the script." before its call)."""
        message = self._message
        if message is not None and message.audio and message.pending.strip():
            message.sentences.put_nowait(message.pending.strip())
            message.pending, message.spoken = "", True

    async def _close_message(self, status: str) -> None:
        message = self._message
        assert message is not None
        if message.speaker is not None:
            if status == "completed":
                message.sentences.put_nowait(message.pending.strip() or None)
                message.sentences.put_nowait(None)
            else:
                message.speaker.cancel()
            await asyncio.wait([message.speaker])
            if not message.speaker.cancelled() and (error := message.speaker.exception()) is not None:
                raise error
        self._message = None
        ids = self._part_ids(message)
        if message.audio:
            part = {"type": "audio", "transcript": message.text}
            self._emit({"type": "response.output_audio.done", **ids})
            self._emit({"type": "response.output_audio_transcript.done", **ids, "transcript": message.text})
            message.item["content"][0]["transcript"] = message.text
        else:
            part = {"type": "text", "text": message.text}
            self._emit({"type": "response.output_text.done", **ids, "text": message.text})
            message.item["content"][0]["text"] = message.text
        self._output_chars += len(message.text)
        self._emit({"type": "response.content_part.done", **ids, "part": part})
        self._finish_item(message.item, message.output_index, status)

    async def _speak(self, message: _Message) -> None:
        ids = self._part_ids(message)
        while (sentence := await message.sentences.get()) is not None:
            if not self._audio_ms:
                synthesis = time.perf_counter()
            async for pcm in self._engine.speech(sentence, self._stop):
                if not self._audio_ms:
                    logger.debug(
                        "first audio %.2f s after response.created (synthesis %.2f s)",
                        time.perf_counter() - self._created,
                        time.perf_counter() - synthesis,
                    )
                for start in range(0, len(pcm), _MAX_DELTA_BYTES):
                    piece = pcm[start : start + _MAX_DELTA_BYTES]
                    self._conversation.add_audio(message.item["id"], len(piece))
                    self._audio_ms += duration_ms(len(piece))
                    delta = base64.b64encode(piece).decode("ascii")
                    self._emit({"type": "response.output_audio.delta", **ids, "delta": delta})

    def _part_ids(self, message: _Message) -> dict[str, Any]:
        return {
            "response_id": self.id,
            "item_id": message.item["id"],
            "output_index": message.output_index,
            "content_index": 0,
        }

    def _previous_id(self, item_id: str) -> str | None:
        try:
            return self._conversation.previous_id(item_id)
        except ProtocolError:  # the client deleted it meanwhile
            return None

    def _resource(self, status: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
        done = status != "in_progress"
        audio_tokens = self._audio_ms // 50
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": copy.deepcopy(self._output) if done else [],
            "conversation_id": self._conversation.id,
            "output_modalities": list(self._settings.output_modalities),
            "max_output_tokens": self._settings.max_output_tokens,
            "metadata": self._settings.metadata,
            "audio": {"output": {"format": session_format(), "voice": self._settings.voice}},
            "usage": _usage(self._input_chars // 4, self._output_chars // 4, audio_tokens) if done else None,
        }


def split_sentences(pending: str, first: bool) -> tuple[list[str], str]:
    """Split streamed text into sentences ready to speak and the unfinished rest.

    Long runs are cut at a comma or space; with `first` (nothing spoken yet in this message) a
    clause of 20+ characters ending in a comma, or else the first 7 words, are spoken at once, so the
    voice starts sooner.

    Returns:
        (sentences to synthesize in order, text still pending).
    """
    parts = _SENTENCE_END.split(pending)
    rest = parts.pop()
    comma = rest.find(", ", _FIRST_CLAUSE_CHARS)
    words = rest.split(" ")
    if first and not any(p.strip() for p in parts) and comma > 0:
        parts.append(rest[: comma + 1])
        rest = rest[comma + 2 :]
    elif first and not any(p.strip() for p in parts) and len(words) > _FIRST_WORDS:
        parts.append(" ".join(words[:_FIRST_WORDS]))
        rest = " ".join(words[_FIRST_WORDS:])
    elif len(rest) > _MAX_SENTENCE_CHARS:
        cut = max(rest.rfind(", "), rest.rfind(" ", 0, _MAX_SENTENCE_CHARS))
        if cut > 0:
            parts.append(rest[: cut + 1])
            rest = rest[cut + 1 :]
    return [p.strip() for p in parts if p.strip()], rest


def _usage(input_tokens: int, text_tokens: int, audio_tokens: int) -> dict[str, Any]:
    """Approximate token usage (4 characters of text per token, 50 ms of audio per token)."""
    output_tokens = text_tokens + audio_tokens
    return {
        "total_tokens": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_token_details": {
            "text_tokens": input_tokens,
            "audio_tokens": 0,
            "image_tokens": 0,
            "cached_tokens": 0,
        },
        "output_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens},
    }
