"""The coach in the brain: where a guided script stands, and what the model reads of it.

From a script tool's result (`stage.StageCard`) and the conversation this module works out, for every reply: the
stage, its goal, which of its questions were asked and what the user said to them, which are still to ask, and
what the user told the coach in the whole script. The brain gets that as a short note before each user turn of a
stage (where the prompt cache keeps it) and right after a stage began; the full stage instructions a script
result brings stay with the client (OpenAI's model reads them), the small model reads the notes instead. The
reply's shape and words: `coach_reply.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from local_realtime.brain import Entry
from local_realtime.coach_reply import ACKNOWLEDGED, CHOICE_START, RETRY, answered, asking
from local_realtime.stage import CoachTurn, StageCard

CHANGED_KEY = "changed"
"""Contract with the MCP server (README, "Architecture"): a tool result's list of the files the call changed."""
ANSWER_CHARS = 90
"""An answer quoted in a note, cut to this."""


def coach_turn(history: Sequence[Entry]) -> CoachTurn | None:
    """The stage the reply to `history` is in, or None when no script stage is running."""
    turn = None
    for index, entry in enumerate(history):
        turn = _advance(turn, history, index, entry)
    return turn


def annotate(history: Sequence[Entry]) -> list[Entry]:
    """`history` as the brain's prompt shows it in a script: a note on the stage before each user turn in it
    (and after the result that began it), and the instructions a stage's result brought left out (the notes
    carry them). Without a stage, `history` unchanged."""
    out: list[Entry] = []
    turn: CoachTurn | None = None
    began_at = -1
    dropped = _stage_instructions(history)
    for index, entry in enumerate(history):
        if entry.role == "user" and turn is not None:
            out.append(Entry("note", note(turn, first=not _noted_since(out, began_at))))
        if index in dropped:
            continue  # a stage's instructions, applied by the client when the script tool answered
        out.append(_shaped(_brief(entry), turn))
        before = turn
        turn = _advance(turn, history, index, entry)
        if turn is not None and turn is not before and turn.opening:
            began_at = len(out)
            out.append(Entry("note", note(turn, first=True)))
    return out


def changed_files(output: str) -> list[str]:
    """The files a tool's output says it changed (`CHANGED_KEY`, a contract with the MCP server); [] for others."""
    if CHANGED_KEY not in output:
        return []
    try:
        value = json.loads(output)
    except ValueError:
        return []
    changed = value.get(CHANGED_KEY) if isinstance(value, dict) else None
    return [str(name) for name in changed] if isinstance(changed, list) else []


def note(turn: CoachTurn, first: bool) -> str:
    """The note before a user turn (or after a stage began): the whole stage when `first`, else what changed;
    then the reply's shape."""
    card = turn.card
    lines = []
    if first:
        lines.append(f'Coaching "{card.title}", stage {card.number} of {card.count}: {card.name}. Goal: {card.goal}')
        if card.rules:
            lines.append("Rules: " + "; ".join(card.rules) + ".")
        if card.actions:
            lines.append("In this stage: " + "; ".join(card.actions) + ".")
        moving = f"the tool that moves to the next stage ({card.next_stage})" if card.next_stage else "nothing"
        lines.append(
            f"Their words are answers and moves in this script: never load it again. To move on, call {moving}."
        )
    if first and not card.questions and turn.told:
        lines.append("What they told you: " + " | ".join(_clip(t, ANSWER_CHARS) for t in turn.told[-6:]))
    answered = [(q, a) for q, a in turn.asked if a]
    if answered and not turn.opening:
        question, answer = answered[-1]
        lines.append(f"Answered: {question} -> {_clip(answer, ANSWER_CHARS)}")
    to_ask = asking(turn)
    if turn.opening:
        lines.append(
            'Reply as {"ask": "<the opening>"}: "'
            + '" (or, when their words answered it: "'.join(to_ask)
            + '")' * (len(to_ask) - 1)
        )
    elif to_ask:
        lines.append("Next question: " + " | ".join(to_ask))
        lines.append(
            'Reply as {"heard": "<the point of the answer they give now, in 2 to 6 words>", "ask": "<the next '
            'question>"}; when they leave a choice to you, {"say": "<your choice, one sentence>", "ask": ...}; or call '
            "a tool."
        )
    elif card.offers:
        if turn.told:
            lines.append("The challenge: " + " | ".join(_clip(t, ANSWER_CHARS) for t in turn.told[:3]))
        lines.append(
            f'Reply as {{"ideas": [{card.offers} new ideas for the challenge, a few words each, each unlike the others'
            " and unlike any offered before]}, or call a tool."
        )
    else:
        how = "; ".join(card.rules) or "one to three short sentences, to them as you"
        lines.append(f'Reply as {{"say": "<your turn: {how}>"}}, or call a tool.')
    if turn.wants_feedback:
        lines.append(
            'After they answer a question: {"quote": "<a few of their exact words>", "strength": "<what worked>", '
            f'"improve": "<one thing to do better>"}} on {", ".join(card.feedback_areas)}.'
        )
    return "\n".join(lines)


def material(history: Sequence[Entry]) -> str:
    """What was said since the running script began, as markdown lines ("**You:** ...", "**Coach:** ..."): the
    deliverable when a save brings no text of its own (see `exchanges`); nothing is added."""
    return "\n\n".join(f"**{who}:** {text}" for who, text in exchanges(history))


def exchanges(history: Sequence[Entry]) -> list[tuple[str, str]]:
    """What was said since the running script began, in order, as ("You" | "Coach", text). Commands (a turn
    answered by a call: "let's start the scene", a save, the last turn), a call's few words and what the coach
    said of a file written are left out."""
    start = next(
        (i for i in range(len(history) - 1, -1, -1) if history[i].role == "tool_result" and _begins(history, i)), 0
    )
    said = []
    for index, entry in enumerate(history[start:], start):
        if entry.role == "user" and not _commands(history, index):
            said.append(("You", entry.text.strip()))
        elif entry.role == "assistant" and entry.text.strip() and not _aside(history, index):
            said.append(("Coach", entry.text.strip()))
    return said


def _aside(history: Sequence[Entry], index: int) -> bool:
    """Whether the coach's words at `index` are about a call, not the conversation: a call's few words ("Saving
    it.") or what it said of a file written ("Saved. Anything you'd like to change?")."""
    following = history[index + 1] if index + 1 < len(history) else None
    before = history[index - 1] if index > 0 else None
    wrote = before is not None and before.role == "tool_result" and bool(changed_files(before.text))
    return wrote or (following is not None and following.role == "tool_call")


def _commands(history: Sequence[Entry], index: int) -> bool:
    """Whether the user's turn at `index` was answered by a call (or is the last turn: the save being made)."""
    for entry in history[index + 1 :]:
        if entry.role == "user":
            return False
        if entry.role == "tool_call":
            return True
    return True


def _begins(history: Sequence[Entry], index: int) -> bool:
    """Whether the result at `index` loaded a script (its first stage), as opposed to a later stage."""
    card = StageCard.parse(history[index].text)
    return card is not None and card.number == 1


def repeats_loading(turn: CoachTurn | None, name: str, arguments: dict[str, Any]) -> bool:
    """Whether calling `name` with `arguments` would load the running stage's script again."""
    if turn is None or turn.began_with[0] != name:
        return False
    try:
        first = json.loads(turn.began_with[1] or "{}")
    except ValueError:
        return False
    return isinstance(first, dict) and bool(first) and first == arguments


def _advance(turn: CoachTurn | None, history: Sequence[Entry], index: int, entry: Entry) -> CoachTurn | None:
    """The coach state after `entry` (the `index`th of `history`)."""
    if entry.role == "tool_result":
        card = StageCard.parse(entry.text)
        if card is None:
            return turn
        if turn is not None and (turn.card.script, turn.card.name) == (card.script, card.name):
            return turn  # the same stage reported again (already running, or its state read): nothing began
        questions = [card.opening, *card.questions] if card.opening else list(card.questions)
        if card.move_on:
            questions.append(card.move_on)
        if turn is not None and turn.card.script == card.script:
            told = turn.told
        else:  # what they asked for when the script was loaded ("an email to my landlord") was told too
            told = tuple(e.text for e in history[:index][-4:] if e.role == "user")[-1:]
        keep = (card.opening, card.move_on)
        questions = [q for q in questions if q in keep or not any(answered(q, t, card.questions) for t in told)]
        return CoachTurn(card, True, (), tuple(questions), _call_of(history, index), told=told)
    if turn is None:
        return None
    if entry.role == "assistant":
        asked = [q for q in turn.to_ask if q in entry.text or (turn.opening and q == turn.card.opening)]
        chosen = []  # "Let's say we're at the beach." after "you pick": the coach answered the first question itself
        if re.match(CHOICE_START, entry.text) and not turn.opening:
            first = [q for q in turn.to_ask if q not in asked and q != turn.card.move_on][:1]
            chosen = [(q, re.split(r"(?<=[.!])\s", entry.text)[0]) for q in first]
        return replace(
            turn,
            opening=False,
            asked=turn.asked + tuple(chosen) + tuple((q, "") for q in asked),
            to_ask=tuple(q for q in turn.to_ask if q not in asked and q not in dict(chosen)),
            feedbacks=turn.feedbacks + any(r in entry.text for r in RETRY),
            last_question=_last_question(entry.text) or turn.last_question,
            pending=next((q for q in asked if q in entry.text), ""),
        )
    if entry.role == "user":
        told = turn.told + ((entry.text,) if turn.pending else ())
        keep = (turn.card.move_on, turn.card.opening) if turn.opening else (turn.card.move_on,)
        stage = (*turn.card.questions, turn.card.title)
        to_ask = tuple(q for q in turn.to_ask if q in keep or not answered(q, entry.text, stage))  # told already
        answers = tuple((q, a or entry.text) for q, a in turn.asked)
        return replace(turn, opening=False, asked=answers, told=told, to_ask=to_ask)
    return turn


def _shaped(entry: Entry, turn: CoachTurn | None) -> Entry:
    """A coach's reply that ended with one of the stage's questions, as the reply JSON it was made from (the model
    then sees its own turns in the shape it must answer in); any other entry unchanged."""
    if entry.role != "assistant" or turn is None:
        return entry
    for question in turn.to_ask:
        if entry.text.endswith(question):
            say = entry.text[: -len(question)].strip()
            shaped = {"say": say, "ask": question} if say else {"ask": question}
            for pattern in ACKNOWLEDGED:
                if (given := pattern.fullmatch(entry.text)) is not None:
                    shaped = {"heard": given[1], "ask": question}
            return Entry("assistant", json.dumps(shaped, ensure_ascii=False), "json")
    return entry


def _brief(entry: Entry) -> Entry:
    """A stage's result as its message alone (the notes carry the stage); any other entry unchanged."""
    if entry.role != "tool_result" or StageCard.parse(entry.text) is None:
        return entry
    message = json.loads(entry.text).get("message")
    return Entry(entry.role, str(message), entry.name, entry.call_id) if message else entry


def coach_replies(history: Sequence[Entry]) -> bool:
    """Whether the reply to `history` is the coach's (a user turn, or a stage just reported), not an outcome."""
    last = history[-1] if history else None
    return last is not None and (
        last.role == "user" or (last.role == "tool_result" and StageCard.parse(last.text) is not None)
    )


def _call_of(history: Sequence[Entry], index: int) -> tuple[str | None, str]:
    """(name, arguments) of the call the result at `index` answers."""
    result = history[index]
    for entry in reversed(history[:index]):
        if entry.role == "tool_call" and (result.call_id is None or entry.call_id == result.call_id):
            return entry.name, entry.text
    return result.name, "{}"


def _stage_instructions(history: Sequence[Entry]) -> set[int]:
    """Indexes of the instruction changes that came with a stage's result: system entries after a tool call in a
    turn (from one user entry to the next) in which some tool result reports a stage."""
    dropped: set[int] = set()
    turn: list[int] = []
    for index, entry in enumerate([*history, Entry("user", "")]):
        if entry.role == "user":
            if any(history[i].role == "tool_result" and StageCard.parse(history[i].text) for i in turn):
                called = False
                for i in turn:
                    called = called or history[i].role == "tool_call"
                    if called and history[i].role == "system":
                        dropped.add(i)
            turn = []
        else:
            turn.append(index)
    return dropped


def _noted_since(out: list[Entry], start: int) -> bool:
    return start >= 0 and any(e.role == "note" for e in out[start:])


def _last_question(text: str) -> str:
    found = re.findall(r"[^.!?]*\?", text)
    return found[-1].strip() if found else ""


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: text.rfind(" ", 0, limit)] + " ..."
