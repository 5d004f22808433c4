"""The user's yes or no to a held tool call, taken from their next turn: a spoken transcript or typed text.

Why the model asks, rather than the client speaking: the question goes into the conversation as the held
call's output (`{"pending_approval": "Overwrite notes.md? Its 40 lines would be replaced. Say yes or no."}`)
followed by `response.create`, so any Realtime engine (OpenAI's, the offline one) speaks it in its own voice
and the conversation records it. While a question waits, server VAD does not start a response by itself;
the user's words are read here, and the session then puts the outcome into the conversation as a new call
with its output (the tool ran, or `declined`) and asks for a response.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from voice_client.toolbox import classify

logger = logging.getLogger(__name__)

APPROVAL_KEY = "pending_approval"
"""Contract (README, "Contracts between the programs"): a function output whose JSON has this string is a
question about a held call; the offline engine says it as it is (`local_realtime/brain.py`)."""
Say = Callable[[str], Awaitable[None]]
"""Puts a question for the user into the conversation and asks the model to speak it."""


def pending_output(question: str) -> str:
    """The function output that makes the model ask `question` and wait."""
    note = "Nothing has been done yet. Ask the user exactly this question, then wait; do not call the tool again."
    return json.dumps({APPROVAL_KEY: question, "note": note}, ensure_ascii=False)


class Busy(RuntimeError):
    """A second question while one waits; the caller answers its call without running it."""


class Consent:
    """One question at a time; `hear` gives it the user's next turn.

    Args:
        timeout_s: how long a question waits for an answer before it counts as a no (seconds).
    """

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._answers: asyncio.Queue[str] | None = None

    @property
    def waiting(self) -> bool:
        """True while a question waits for the user's turn."""
        return self._answers is not None

    def hear(self, text: str) -> bool:
        """Give the user's turn to the waiting question; False (and nothing done) when none waits."""
        if self._answers is None:
            return False
        self._answers.put_nowait(text)
        return True

    async def decide(self, question: str, say: Say) -> bool:
        """Ask `question` through `say`; True for a yes. An unclear answer is asked once more; a second
        unclear answer, a no or `timeout_s` of silence is a no.

        Raises:
            Busy: another question is still waiting (one at a time: the answer must be unambiguous).
        """
        if self._answers is not None:
            raise Busy("another question is waiting for the user's answer")
        self._answers = asyncio.Queue()
        try:
            return await self._ask(question, say)
        finally:
            self._answers = None

    async def _ask(self, question: str, say: Say) -> bool:
        assert self._answers is not None
        prompts = (f"{question} Say yes or no.", f"Sorry, I need a yes or a no. {question}")
        for prompt in prompts:
            await say(prompt)
            try:
                async with asyncio.timeout(self._timeout_s):
                    answer = await self._answers.get()
            except TimeoutError:
                logger.info("no answer within %g s: counted as no", self._timeout_s)
                return False
            verdict = classify(answer)
            logger.info("approval answer %r read as %s", answer, verdict)
            if verdict != "unclear":
                return verdict == "yes"
        return False
