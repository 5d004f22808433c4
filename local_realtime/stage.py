"""A guided script's stage as the engine knows it: what a script tool reported, and where a conversation stands in it.

A script tool's result carries the running stage as data (`STAGE_KEY`, a contract with the MCP server); `StageCard`
reads it. `CoachTurn` is where the conversation stands in that stage for the next reply (`coaching.coach_turn`
works it out).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

STAGE_KEY = "stage"
"""Contract with the MCP server (README, "Architecture"): a tool result whose JSON object has a `stage`
object (name, goal, opening, questions, rules, techniques, actions, feedback_areas, next_stage,
deliverable_file) beside `script_name`, `title`, `stage_number` and `stages` reports the running stage."""


@dataclass(frozen=True)
class StageCard:
    """The running script's stage, as a script tool reported it."""

    script: str
    title: str
    number: int
    """1-based."""
    count: int
    name: str
    goal: str
    opening: str
    """How the coach opens the stage, word for word (it ends with a question)."""
    questions: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    """The stage's actions and techniques: what the coach does in it."""
    feedback_areas: tuple[str, ...] = ()
    next_stage: str | None = None
    deliverable_file: str | None = None
    turn_start: str | None = None
    """How each of the coach's own turns in this stage begins ("Yes, and"), when the script says."""
    offers: int = 0
    """New ideas each coach turn offers (a brainstorm's "three new ideas every turn")."""

    @classmethod
    def parse(cls, output: str) -> StageCard | None:
        """The stage a tool's output reports, or None when it reports none (any other tool, an error)."""
        try:
            value = json.loads(output)
        except ValueError:
            return None
        stage = value.get(STAGE_KEY) if isinstance(value, dict) else None
        if not isinstance(stage, dict):
            return None
        try:
            return cls(
                script=str(value["script_name"]),
                title=str(value.get("title") or value["script_name"]),
                number=int(value.get("stage_number") or 1),
                count=len(value.get("stages") or [stage["name"]]),
                name=str(stage["name"]),
                goal=str(stage.get("goal") or ""),
                opening=str(stage.get("opening") or ""),
                questions=_texts(stage.get("questions")),
                rules=_texts(stage.get("rules")),
                actions=_texts(stage.get("actions")) + _texts(stage.get("techniques")),
                feedback_areas=_texts(stage.get("feedback_areas")),
                next_stage=_text(stage.get("next_stage")),
                deliverable_file=_text(stage.get("deliverable_file")),
                turn_start=_text(stage.get("turn_start")),
                offers=int(stage.get("offers") or 0),
            )
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def records(self) -> bool:
        """Whether the stage's file records what is said ("append each exchange to the story file"): saving it
        writes the conversation's own words, whatever text the model wrote."""
        return any(re.search(r"\bappend\b", action, re.IGNORECASE) for action in self.actions)

    @property
    def move_on(self) -> str | None:
        """The question that offers the next stage (None in the last stage)."""
        return f"Shall we move on to the {self.next_stage} stage?" if self.next_stage else None


@dataclass(frozen=True)
class CoachTurn:
    """Where the conversation stands in a stage, for the next reply."""

    card: StageCard
    opening: bool
    """The stage has just begun: the reply opens it."""
    asked: tuple[tuple[str, str], ...]
    """(question, what the user said next) for each of the stage's questions asked so far."""
    to_ask: tuple[str, ...]
    """The stage's questions not asked yet, in order (the opening first, the offer to move on last)."""
    began_with: tuple[str | None, str]
    """(tool name, JSON arguments) of the call whose result began the stage: the same call again reloads it."""
    feedbacks: int = 0
    """Feedback turns given in this stage so far."""
    last_question: str = ""
    """The last question the coach asked in this stage (any, not only the script's): what an answer answers."""
    pending: str = ""
    """The stage's question the coach's last turn asked ("" when its last turn asked none of them)."""
    told: tuple[str, ...] = ()
    """What the user answered to the script's questions, in every stage so far: what a draft is made of."""

    @property
    def wants_feedback(self) -> bool:
        return bool(self.card.feedback_areas) and not self.opening


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
