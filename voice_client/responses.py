"""Which model response is running, which one is owed, and which were cancelled: pure state, no I/O.

The Realtime API runs one response at a time; a `response.create` sent while one runs is refused
(`conversation_already_has_active_response`). `session.py` asks `Responses` whether to send a
`response.create` now or hold it until the running response is done.
"""

from __future__ import annotations

from collections import deque

from voice_client import realtime


class Responses:
    """The state of the session's responses on the current socket."""

    def __init__(self) -> None:
        self.active: str | None = None
        """The id of the response in progress."""
        self._awaiting = False  # response.create sent, response.created not yet seen
        self.wanted = False
        """A `response.create` waits for the active response to finish."""
        self._creates = 0  # numbers the event ids of our response.create events
        self._cancelled: deque[str] = deque(maxlen=32)

    @property
    def busy(self) -> bool:
        """A response runs, is requested, or is owed."""
        return bool(self.active or self._awaiting or self.wanted)

    def request(self) -> dict[str, object] | None:
        """The numbered `response.create` to send now, or None if it must wait for the running response."""
        if self.active or self._awaiting:
            self.wanted = True
            return None
        self.wanted = False
        return self.create_event()

    def create_event(self) -> dict[str, object]:
        """A numbered `response.create` (an `error` naming its id means it was refused)."""
        self._awaiting = True
        self._creates += 1
        return realtime.response_create(f"create_{self._creates}")

    def created(self, response_id: str) -> None:
        """`response.created` arrived."""
        self.active, self._awaiting = response_id, False

    def done(self, response_id: str) -> None:
        """`response.done` arrived (possibly without its `response.created`)."""
        if self.active == response_id or self.active is None:
            self.active, self._awaiting = None, False

    def refused(self, code: str, event_id: str | None) -> None:
        """An `error` event: a create refused because one runs is wanted again; our refused create is not awaited."""
        if code == "conversation_already_has_active_response":
            self._awaiting, self.wanted = False, True
        elif event_id == f"create_{self._creates}":
            self._awaiting = False  # our response.create was refused; nothing is coming

    def cancel(self) -> str | None:
        """Mark the active response cancelled (its late audio and text are ignored); returns its id, if any."""
        if self.active is not None:
            self._cancelled.append(self.active)
        return self.active

    def cancelled(self, response_id: str) -> bool:
        """Whether `response_id` was cancelled by us."""
        return response_id in self._cancelled

    def dropped(self) -> bool:
        """The socket dropped: forget the running response; returns whether one was running or owed."""
        owed = self.busy
        self.active, self._awaiting, self.wanted = None, False, False
        return owed
