"""Bookkeeping of the model's function calls: each runs once, and a response continues once.

Pure state, no I/O: `session.py` asks it whether a call is new, whether an output still has to be
sent on the current socket, and when a response has everything it needs for one `response.create`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

MAX_REMEMBERED_CALLS = 200
"""Call ids kept to refuse duplicates (a replay after a reconnect only repeats recent ones); older ones
are forgotten so memory stays flat over a long session."""
CONTINUABLE = frozenset({"completed", "dropped"})
"""Response statuses after which the tool loop goes on ("dropped" = the socket died mid-response)."""


@dataclass
class Call:
    """One function call the model made."""

    call_id: str
    name: str
    arguments: str
    """JSON text as the model wrote it."""
    response_id: str
    received_at: float = field(default_factory=time.perf_counter)
    """`perf_counter()` when its `function_call_arguments.done` arrived."""
    output: str | None = None
    """The `function_call_output` text, once the tool finished."""
    sent_on: int | None = None
    """Socket generation the output was sent on (a new socket needs it again)."""
    user_turn: int = 0
    """How many user turns had begun when the call arrived (a later one supersedes its answer)."""


@dataclass
class _Response:
    call_ids: list[str] = field(default_factory=list)
    status: str | None = None
    """None until `response.done` (or the socket dropped) for this response."""


class CallLedger:
    """Which calls exist, which have outputs, and which responses may continue."""

    def __init__(self) -> None:
        self._calls: OrderedDict[str, Call] = OrderedDict()
        self._responses: dict[str, _Response] = {}

    def register(self, call_id: str, name: str, arguments: str, response_id: str) -> Call | None:
        """Record a new call; None if `call_id` was seen before (it must not run twice)."""
        if call_id in self._calls:
            return None
        call = Call(call_id, name, arguments, response_id)
        self._calls[call_id] = call
        if len(self._calls) > MAX_REMEMBERED_CALLS:
            self._calls.popitem(last=False)
        self._responses.setdefault(response_id, _Response()).call_ids.append(call_id)
        return call

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def in_flight(self) -> bool:
        """True while some call has no output yet."""
        return any(c.output is None for c in self._calls.values())

    def unsent(self, generation: int) -> list[Call]:
        """Finished calls of still-open responses whose output has not gone out on `generation`."""
        return [
            c
            for c in self._calls.values()
            if c.output is not None and c.sent_on != generation and c.response_id in self._responses
        ]

    def response_done(self, response_id: str, status: str) -> None:
        """Note the end of a response; forget it at once if it made no calls."""
        response = self._responses.get(response_id)
        if response is None:
            return
        response.status = status
        if status not in CONTINUABLE:
            del self._responses[response_id]

    def open_responses(self) -> list[str]:
        """Responses that ended (or dropped) with calls whose loop has not continued yet."""
        return [rid for rid, r in self._responses.items() if r.status is not None]

    def ready_to_continue(self, response_id: str, generation: int) -> bool:
        """True exactly once: the response ended and every call's output went out on `generation`."""
        response = self._responses.get(response_id)
        if response is None or response.status not in CONTINUABLE:
            return False
        calls = [self._calls.get(c) for c in response.call_ids]
        if any(c is None or c.output is None or c.sent_on != generation for c in calls):
            return False
        del self._responses[response_id]
        return True
