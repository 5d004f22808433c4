"""The shape of one reply, decided from the conversation before the model writes it, and its calls settled after.

Plain turns answer `{"say": ...}` or call a tool. In a script's stage the spoken answer takes the coach's shapes
(`coaching.py`). Either way the spoken text never says "the user", a coach never reads the user's words back
or repeats itself (`repeats.py`), an explicit "save it to NAME.md" is a call, not words, and a call's arguments
are settled before it runs: the file the user named, the stage's material when the model wrote no content,
and a reload of the running script refused.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic_core import from_json

from local_realtime.brain import Entry, ToolSpec
from local_realtime.coach_reply import asking, asks_feedback, feedback_options, last_answer, offered, speaker
from local_realtime.coach_reply import spoken_options as coach_options
from local_realtime.coaching import changed_files, coach_replies, coach_turn, exchanges, material, repeats_loading
from local_realtime.drafts import (
    EDITS,
    count,
    key_facts,
    listing,
    only_operations,
    with_sources,
)
from local_realtime.grammar import SAY_SCHEMA, ground_edit, ground_files, named_files
from local_realtime.ideas import lead, leads_again, short_again, stem_again
from local_realtime.prompt import Speak, say_only
from local_realtime.repeats import RepeatBan
from local_realtime.stage import CoachTurn

AVOIDED_PHRASES = ("the user",)
"""Never spoken: a small model copies "the user" from its prompt and talks about the person it talks to."""
SPOKEN_FIELDS = ("say", "heard", "strength", "improve", "ideas")
"""Reply fields that are free spoken text (a quote of the user's answer is not)."""
ECHO_WORDS = 5
"""A coach's sentence may not copy this many words in a row of the user's last turn or of its own earlier turns."""
HEARD_ECHO_WORDS = 6
"""Their point given back in a few words (at most `HEARD_CHARS`) copies fewer than six of theirs in a row: at five
a word was forced in, and it could say the opposite ("The heating has been broken" given back as "The heating has
been fixed")."""
IDEA_ECHO_WORDS = 3
"""Ideas offered do not share three words in a row with each other, earlier ideas or the challenge ("A bakery by
the sea", then "A bakery by the sea with a view")."""
IDEA_OWN_WORDS = 2
"""Nor do the ideas of one turn share two words in a row ("Sourdough Seafood Bakery, Salty Seafood Bakery")."""
FREE_ECHO_WORDS = 3
"""In a free turn (a story line, ideas) the user's last words are not copied even three in a row: a small model
otherwise says the user's line back as its own."""
WRITTEN = (
    "Done, it's in the file. What would you like to do next?",
    "Saved. Anything you'd like to change?",
    "That's in the file now. Shall we go on?",
    "Done. What's next?",
)
"""Said once a file was written in a stage, in turn: the call's few words already named it ("Saving the list to
rainy-day.md."), so the answer says it is done and moves the session on (a model's own answer said the same
again)."""
_LOOPING = RepeatBan(itself=6)
"""A call's text (a file's content) may not say the same six words twice: a small model can loop until its
token limit ("Bread, Rolls, Buns, Loaf, Bread, Rolls, ...")."""
_SAVE = re.compile(r"\b(save|write|put|store|keep|add|append|jot)\b", re.IGNORECASE)
"""Words of a command to put something into a named file ("save the story as lighthouse.md")."""
_MOVE_ON = re.compile(
    r"\b(move|moving) on\b|\bnext (stage|step|part)\b|\bskip (ahead|to)\b|\bnarrow (it|them) down\b"
    r"|\b(let'?s|let us|time to)\s+(now\s+)?(start|begin|play|practi[cs]e|draft|write|outline|narrow|pick|choose)\b",
    re.IGNORECASE,
)
"""Words asking to go on to the next stage of a script."""
_EDIT = re.compile(
    r"\W*(please\W+)?(make|change|rewrite|edit|fix|shorten|lengthen|remove|replace|update|improve|polish|"
    r"reword|tweak)\b",
    re.IGNORECASE,
)
"""A request to change what was written ("make the closing line more polite"), once a file was written."""
_OPEN_STRING = re.compile(r'"(\w+)"\s*:\s*(?:\[(?:\s*"(?:[^"\\]|\\.)*"\s*,)*\s*)?"((?:[^"\\]|\\.)*)$')
"""A reply's JSON text that ends inside a string value (or a string of a list of them): the value's key, and the
value so far."""
MOVES = ("next_stage", "goto_stage")
"""The MCP server's tools that move a script to another stage (README, "The MCP server")."""
SCRIPT_LOADS = ("load_script", "create_script")
"""The tools that start or make a script: never the answer to a question about the user's own things (`asks_own`;
kept from loading the blog writer for "the working title of my tomato blog post?", the model made a script)."""
LISTINGS = ("list_documents", "list_scripts")
"""Tools that list what there is: for a question about which documents or scripts there are, not about what one
says ("What's on the packing list?" listed the library's documents, then the scripts, and answered with names)."""
_ASKS_WHICH = re.compile(
    r"\b(documents?|books?|library|files?|notes|pdfs?|papers|titles?|scripts?|games?|sessions?|workshops?"
    r"|can (?:you|we|i)|available)\b",
    re.I,
)
_STARTS = re.compile(r"\b(start|begin|load|open|run|play|practi[cs]e|brainstorm|script|game|workshop|coach)", re.I)
NOT_FOUND = "documents say nothing about"
"""The words of a search that found nothing on the question (`mcp_server/library/evidence.py`)."""
_PERSONAL = re.compile(r"\b(i|me|my|mine|we|us|our|ours)\b|\bthe (team|family|kids|office)\b", re.IGNORECASE)
"""A question about the user's own life ("what did the team decide ..."): nobody but their documents knows."""
NOTHING_FOUND = {
    "type": "object",
    "properties": {
        "say": {"type": "string", "pattern": r'^I found nothing about [^.!?"\\]{2,60} in your (notes|documents)[.]$'}
    },
    "required": ["say"],
    "additionalProperties": False,
}
"""The answer to a question about the user's own life that their documents do not hold: a model that knows
the world may answer "Who wrote Moby-Dick?" from memory after an empty search, but anything it said about
"the office party" would be invented."""
_WRITTEN_FILE = r"[\w/-]+\.(?:md|markdown|txt|pdf|docx|epub|html)"
"""A file name as written ("garden-plan.md", "notes/appointments.md")."""
_FILE_NAME = re.compile(_WRITTEN_FILE + r"(?=[^\w.-])")
_LAST_FILE_NAME = re.compile(rf"({_WRITTEN_FILE})\W*$")
_FOREIGN = re.compile(r"[^\x00-\u024f\u2018-\u201f\u2013\u2014\u2026]")
"""Characters outside Latin script and its quotes and dashes: refused in speech (a small multilingual model,
kept off one word, may reach for another script's)."""


@dataclass(frozen=True)
class ReplyShape:
    """What one reply may be and how it is spoken."""

    spoken: list[dict[str, Any]]
    """JSON schemas of a spoken answer (the tool calls are added by the grammar)."""
    speak: Speak
    """How a spoken answer's fields are said."""
    must_call: bool
    """The user gave an explicit command a tool carries out (save to a named file, move on): the reply is a call."""
    saving: bool
    """The command puts something into a named file."""
    editing: bool
    """The command changes what was written ("make the closing line more polite")."""
    coach: CoachTurn | None
    """The stage this reply is in, when the coach answers."""
    _ban: RepeatBan
    _phrases: RepeatBan
    _heard: RepeatBan
    tail: str | None = None
    """A note to read after the user's words, for this reply only (what a file's text is made of)."""
    moving: bool = False
    """The user asked to go on to the next stage: the call is the move (`MOVES`), no other tool."""
    leads: frozenset[str] = frozenset()
    """The first words of the ideas offered before (lower case, "a"/"the" skipped): no idea begins with one again."""
    numbers: frozenset[str] = frozenset()
    """The numbers said so far (by the user, the coach, the tools): the only ones a coach may say."""
    listed: tuple[str, ...] = ()
    """The ideas offered in this script, when the user saves them: the file lists some of them word for word."""
    asks_own: bool = False
    """The user asks about their own things ("What is the title of my blog post?"): not a script to load."""
    files: frozenset[str] | None = None
    """When the reply tells a tool's result: the file names said so far, the only ones it may say."""
    lists: bool = True
    """Whether the user may be asking which documents there are (`LISTINGS` may be called)."""
    picks: int = 0
    """How many of `listed` the file lists at most (the user's "best three", else all)."""
    keep: tuple[str, ...] = ()
    """The names and numbers the user said (`key_facts`): a draft written from their words that left one out gets the
    user's sentences holding it after it, marked as theirs (`with_sources`)."""

    @classmethod
    def of(cls, history: Sequence[Entry]) -> ReplyShape:
        """The shape of the reply to `history`; telling a tool's result, it names no file the conversation lacks."""
        shape = cls._of(history)
        if history and history[-1].role == "user" and not _ASKS_WHICH.search(history[-1].text):
            return replace(shape, lists=False)
        if history and history[-1].role == "tool_result":
            return replace(shape, files=frozenset(_FILE_NAME.findall(" ".join(e.text for e in history))))
        return shape

    @classmethod
    def _of(cls, history: Sequence[Entry]) -> ReplyShape:
        last_user = next((e.text for e in reversed(history) if e.role == "user"), "")
        phrases = RepeatBan([], AVOIDED_PHRASES)
        coach = coach_turn(history)
        answering = bool(history) and history[-1].role == "user"
        saving = answering and _commands_file(last_user)
        moving = answering and coach is not None and _moves_on(last_user, coach.card.next_stage)
        editing = answering and coach is not None and _EDIT.match(last_user) is not None and _wrote(history)
        must_call = saving or moving or editing
        if history and history[-1].role == "tool_result" and _knows_nothing(history[-1].text, last_user):
            return cls([NOTHING_FOUND], say_only, False, False, False, None, phrases, phrases, phrases)
        if coach is None:
            shape = cls([SAY_SCHEMA], say_only, must_call, saving, editing, None, phrases, phrases, phrases)
            return replace(shape, asks_own=answering and _asks_own(last_user))
        replies = [e.text for e in history if e.role == "assistant"]
        asked = [q for reply in replies for q in re.findall(r"[^.!?]*\?", reply)]  # never the same question twice
        ideas = [idea for reply in replies for idea in offered(reply)]
        asked += ideas  # nor an idea offered before
        earlier = RepeatBan([*replies, *coach.to_ask], [*AVOIDED_PHRASES, *asked])
        feedback = asks_feedback(coach, last_user)  # "how was that?": feedback on their answer, quoting it
        answer = last_answer(history) if feedback else last_user
        speak = speaker(coach, answer)
        if feedback and not answering:  # a save of the feedback came first; the feedback is said now
            return cls(feedback_options(answer), speak, False, False, False, coach, earlier, phrases, earlier)
        if history and history[-1].role == "tool_result" and changed_files(history[-1].text):  # a file written in a
            done = WRITTEN[sum(bool(changed_files(e.text)) for e in history if e.role == "tool_result") % len(WRITTEN)]
            return cls([_said(done)], say_only, False, False, False, None, phrases, phrases, phrases)  # stage
        if not coach_replies(history):  # telling a tool's outcome in a stage: only its own earlier words are refused
            return cls([SAY_SCHEMA], say_only, must_call, saving, editing, None, earlier, phrases, earlier)
        free = not coach.card.questions and not asking(coach)  # the offer to move on left to ask: still ideas
        ban = earlier.including([last_user], FREE_ECHO_WORDS if free else ECHO_WORDS)
        if free and coach.card.offers:  # ideas: none like an earlier one, another in the list or the challenge
            ban = earlier.including([last_user, *coach.told, *ideas], IDEA_ECHO_WORDS, itself=IDEA_OWN_WORDS)
            leads = frozenset(lead(idea + " ") for idea in ideas) - {""}
        heard = earlier.including([last_user], HEARD_ECHO_WORDS)
        options = coach_options(coach, last_user, answer)
        preambles = [
            e.text for i, e in enumerate(history[:-1]) if e.role == "assistant" and history[i + 1].role == "tool_call"
        ]
        spoken_before = RepeatBan(  # a call's few words: not an earlier call's, nor the user's own read back
            [last_user], [*AVOIDED_PHRASES, *(p for p in preambles if len(p.split()) > 1)], size=ECHO_WORDS
        )
        numbers = frozenset(n for e in history for n in re.findall(r"\d+", e.text))
        shape = cls(options, speak, must_call, saving, editing, coach, ban, spoken_before, heard, numbers=numbers)
        shape = replace(shape, moving=moving and not saving and not editing)
        if free and coach.card.offers:
            shape = replace(shape, leads=leads)
        if (saving or editing) and not coach.card.records:  # the model writes the text: from what they said
            said = [_clip(text, 100) for who, text in exchanges(history) if who == "You" or offered(text)]
            if said:
                brainstormed = any(offered(text) for who, text in exchanges(history) if who == "Coach")
                start = " Begin with a line on what the ideas are for, in their words." if brainstormed else ""
                facts = key_facts([text for who, text in exchanges(history) if who == "You"])
                keep = f" Keep every one of: {', '.join(facts)}." if facts else ""
                tail = (
                    f"Write it from what was said in this script, adding nothing.{start}{keep} Said: {' | '.join(said)}"
                )
                shape = replace(shape, tail=tail, keep=tuple(facts) if saving and not editing else ())
                if brainstormed and saving and not editing:  # not an "Impact/Effort" map of its own making
                    listed = tuple(dict.fromkeys(ideas))
                    shape = replace(shape, listed=listed, picks=count(last_user) or len(listed), keep=())
        return shape

    def rejects(self, reply: str, piece: str) -> bool:
        """Whether the reply's JSON so far (`reply`) may not go on with `piece`: its spoken text as `repeats.py` says;
        a call's other text (a file's content) only when it starts going round in circles."""
        field = _OPEN_STRING.search(reply)
        if field is None:
            return False
        if field[1] not in SPOKEN_FIELDS:
            return _LOOPING.rejects(field[2], piece)
        if _FOREIGN.search(piece) or self._invents_number(field[2], piece) or self._invents_file(field[2], piece):
            return True
        # a call's few words name what it works on (a file, a script): only "the user" is refused there
        ban = self._phrases if reply.startswith('{"tool"') else self._heard if field[1] == "heard" else self._ban
        with contextlib.suppress(ValueError):  # the reply's spoken fields so far, the open one last: no field
            value = from_json(reply, allow_partial="trailing-strings")  # may repeat another
            if isinstance(value, dict):
                said = [str(v) for k, v in value.items() if k in SPOKEN_FIELDS and k != field[1]]
                if isinstance(value.get("ideas"), list) and field[1] == "ideas":  # the list's earlier ideas too
                    said += [str(v) for v in value["ideas"][:-1]]
                    if leads_again(field[2] + piece, {*self.leads, *(lead(i + " ") for i in said)} - {""}):
                        return True  # begun as another idea began ("Sourdough Bakery by ...", "Sourdough ...")
                    if stem_again(said, field[2] + piece) or short_again(said, field[2], piece):
                        return True  # a word of another idea of the list ("Seafood Bakery, Salty Seafood Bakes")
                return ban.rejects(" ".join([*said, field[2]]), piece)
        return ban.rejects(field[2], piece)

    def _invents_number(self, before: str, piece: str) -> bool:
        """Whether `piece` makes the coach say a number nobody said ("next Tuesday" given back as "2nd")."""
        if self.coach is None or not any(c.isdigit() for c in piece):
            return False
        number = re.search(r"\d+$", before + piece.rstrip())
        return number is not None and not any(known.startswith(number[0]) for known in self.numbers)

    def _invents_file(self, before: str, piece: str) -> bool:
        """Whether `piece` completes a file name the conversation never held, in an answer telling a tool's result
        (a list of the library's documents went on with "laundry-list.md, shopping.md")."""
        if self.files is None:
            return False
        name = _LAST_FILE_NAME.search(before + piece)
        return name is not None and name.end(1) > len(before) and name[1] not in self.files

    def usable(self, tools: Sequence[ToolSpec]) -> list[ToolSpec]:
        """The tools this reply may call: when the user asked to move on, only the moves (if the session has them;
        a small model otherwise searched the library for "Let's practice")."""
        moves = [t for t in tools if t.name in MOVES]
        if self.moving and moves:
            return moves
        if not self.lists:  # nor a tool's "list" operation (file_operation's: the workspace's file names)
            tools = [_unlisting(t) for t in tools if t.name not in LISTINGS]
        if self.asks_own:  # a small model loaded the blog writer for "the working title of my blog post?"
            tools = [t for t in tools if t.name not in SCRIPT_LOADS]
        if self.editing:  # "make it warmer" appended a second copy of the email (and its footer)
            tools = [only_operations(t, EDITS) for t in tools]
        return [listing(t, self.listed, self.picks) if self.listed else t for t in tools]

    def may_refuse(self, tool: str) -> bool:
        """Whether a call of `tool` may be refused by `settle` (a reload of the running script)."""
        return self.coach is not None and self.coach.began_with[0] == tool

    def settle(
        self, name: str, arguments: dict[str, Any], tools: Sequence[ToolSpec], history: Sequence[Entry]
    ) -> dict[str, Any] | None:
        """The call's arguments as it will run: the file the user named (not a default the model copied); for
        a save the model wrote no text for, the stage's material so far (what was said, nothing invented); a saved
        list of ideas (`listed`) followed by what the user told the coach; a `replace` with new content and no
        pattern is the write it means.

        Returns:
            the arguments, or None when the call would load the running script again (choose another reply).
        """
        if repeats_loading(self.coach, name, arguments):
            return None
        arguments = ground_files(arguments, history)
        if self.editing:  # "make it warmer": the file last written, not a new name nobody said
            arguments = ground_edit(arguments, history)
        tool = next((t for t in tools if t.name == name), None)
        takes_text = tool is not None and "content" in (tool.parameters or {}).get("properties", {})
        wrote_nothing = takes_text and not str(arguments.get("content") or "").strip()
        names_file = bool(named_files(" ".join(str(v) for v in arguments.values())))
        records = self.coach is not None and self.coach.card.records and takes_text
        if self.coach is not None and self.saving and names_file and (wrote_nothing or records):
            arguments = {**arguments, "content": material(history)}
        brief = [text for who, text in exchanges(history) if who == "You"]
        if self.listed and brief and isinstance(arguments.get("content"), str):  # the list, then the brief they gave
            arguments = {**arguments, "content": f"{arguments['content']}\n\nWhat you told me: {' '.join(brief)}"}
        elif self.keep and isinstance(arguments.get("content"), str):  # unchanged when it kept them all
            arguments = {**arguments, "content": with_sources(arguments["content"], brief, self.keep)}
        replace_all = arguments.get("operation") == "replace" and not arguments.get("pattern")
        if name == "file_operation" and replace_all and str(arguments.get("content") or "").strip():
            arguments = {k: v for k, v in arguments.items() if k != "replacement"} | {"operation": "write"}  # asks
        return arguments


def _moves_on(text: str, next_stage: str | None) -> bool:
    """Whether `text` asks to go on to the next stage ("let's move on", "next stage", "let's draft it", "outline
    time"): a small model often answers such a turn instead of moving."""
    if next_stage is None:
        return False
    stem = re.escape(next_stage.lower().rstrip("e")[:5])
    return bool(
        _MOVE_ON.search(text) or re.search(rf"\b(let'?s|time to|now)\b.*\b{stem}|\b{stem}\w* time\b", text, re.I)
    )


def _unlisting(tool: ToolSpec) -> ToolSpec:
    """`tool` without its `operation` "list", if it has one (and others)."""
    operations = (tool.parameters or {}).get("properties", {}).get("operation", {}).get("enum", [])
    return only_operations(tool, [o for o in operations if o != "list"]) if "list" in operations else tool


def _asks_own(text: str) -> bool:
    """Whether `text` is a question about the user's own things ("What does my garden plan say ...?"), asking for
    nothing to be started ("What can we start with?" is not one)."""
    question = re.match(r"\s*(what|which|who|when|where|how much|how many|how long|is|are|do|does|did)\b", text, re.I)
    return question is not None and _PERSONAL.search(text) is not None and not _STARTS.search(text)


def _knows_nothing(result: str, question: str) -> bool:
    """Whether `result` (a tool's output) found nothing on `question`, a question only the user's documents
    could answer."""
    return NOT_FOUND in result and _PERSONAL.search(question) is not None


def _said(text: str) -> dict[str, Any]:
    """A spoken answer that is `text`, word for word."""
    return {
        "type": "object",
        "properties": {"say": {"enum": [text]}},
        "required": ["say"],
        "additionalProperties": False,
    }


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: text.rfind(" ", 0, limit)] + " ..."


def _wrote(history: Sequence[Entry]) -> bool:
    """Whether a call in this conversation changed a file."""
    return any(e.role == "tool_result" and changed_files(e.text) for e in history)


def _commands_file(text: str) -> bool:
    """Whether `text` tells the assistant to put something into a named file."""
    return bool(named_files(text)) and _SAVE.search(text) is not None
