"""The coach's reply: the shapes it may take, decided in code from the stage and the user's words, and how it is said.

At a stage's opening the script's own opening; "how was that?" (or an answer to a practice question) feedback
with a quote the grammar takes from the answer; "ask me something" the next question alone; an answer to the
coach their point given back (`heard`) or a sentence of its own, then the stage's next question word for word;
otherwise a free turn of a few sentences. `speaker` turns the reply's JSON fields into the words spoken, as they
are decoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from local_realtime.brain import Entry
from local_realtime.stage import CoachTurn

SAY_CHARS = 70
"""Longest sentence before a question the coach asks."""
REFLECTION_START = "(You|Your|So you|So your|Let's)"
"""How the sentence before a question starts: spoken to the user about what they said (left free, a small model
asks its own questions there, answers the next one itself or talks as the user; begun "I'll" it took on the user's
task: "I'll make sure to get it fixed by Friday.")."""
HEARD_CHARS = 28
"""Longest point given back (about five words: a longer one reads the answer back)."""
_CLAUSE_WORDS = (
    "and but so because by for since which that who when where while with or in at on about from after before"
)
CLAUSE_STARTS = frozenset(re.findall(r"\w+", _CLAUSE_WORDS + " if as"))
LINKS = frozenset({*CLAUSE_STARTS, "to", "of", "into", "through"})
"""Words that link a phrase to the next ("a craft station *for* kids *to* make ...")."""
"""Words after which a run of the user's words given back is a whole phrase (see `cut_short`)."""
DEFERS = re.compile(
    r"\byou (choose|pick|decide)|\bup to you\b|\byour (call|choice)\b|\bsurprise me\b|\byou can (choose|pick)", re.I
)
"""The user leaves the choice to the coach ("Actually, you choose everything.")."""
CHOICE_START = "(Let's say|We're|We are)"
"""How the coach's own choice starts (a small model otherwise said "I'll start a scene" and asked "Where are we?";
begun "I choose" it said "I choose the setting, the character, and the relationship")."""
FREE_SENTENCES = 2
SENTENCE_CHARS = 120
"""A free coaching turn (a story line, ideas) is at most this many sentences of at most this many characters."""
OFFER = "How about"
"""How a turn that offers ideas is said: "How about A, B, or C?" (`speaker` writes it, `offered` reads it back)."""
IDEA_CHARS = 56
"""Longest idea, when a stage's turns offer ideas (at 40 a small model's ideas were cut mid-phrase: "a meeting at a
local")."""
FEEDBACK_CHARS = 150
"""Longest strength or improvement in feedback."""
ACKNOWLEDGEMENTS = ("{}, got it. {}", "{}: noted. {}", "{}. Good. {}", "{}, understood. {}", "{}, okay. {}")
"""How what the user said is given back before the next question, in turn."""
ACKNOWLEDGED = tuple(
    re.compile(re.escape(a).replace(r"\{\}", "(.+?)", 1).replace(r"\{\}", ".+")) for a in ACKNOWLEDGEMENTS
)
"""Each acknowledgement as a pattern whose group is the words given back."""
RETRY = (
    "Want to try that one again, or shall I ask the next question?",
    "Would you like another go at it, or a new question?",
    "Shall we try it once more, or move to another question?",
)
"""Said after feedback, in turn (the script's rule: offer to retry)."""


def spoken_options(turn: CoachTurn, said: str = "", answer: str | None = None) -> list[dict[str, Any]]:
    """The JSON schemas of the coach's spoken reply to `said` (the brain adds the tool calls); `answer` is what
    feedback is about (default `said`; after "how was that?", the answer before it: `last_answer`).

    At a stage's opening, the opening (`ask`, word for word). "How was that?", or an answer to a practice question
    in a stage that gives feedback: feedback (`quote`, `strength`, `improve`). "Ask me something": the next
    question alone. Otherwise, with questions still to ask, their words given back (`heard`) or a sentence of
    its own (`say`) and one of them; else a free turn of a few sentences.
    """
    to_ask = asking(turn)
    if turn.opening:
        return [_object({"ask": {"enum": to_ask}})]
    if asks_feedback(turn, said) or (turn.card.feedback_areas and turn.pending and not QUESTION_ASKED.search(said)):
        return feedback_options(said if answer is None else answer)
    if to_ask and QUESTION_ASKED.search(said):
        return [_object({"ask": {"enum": to_ask[:1]}})]
    if to_ask:  # the sentence asks nothing itself: the question is one of the script's, word for word
        heard = {"type": "string", "pattern": f'^[^?.!"\\\\]{{2,{HEARD_CHARS}}}$'}
        plain = {"type": "string", "pattern": f'^{REFLECTION_START}[^?.!"\\\\]{{0,{SAY_CHARS}}}[.!]$'}
        asked = {"enum": to_ask}
        options = [_object({"heard": heard, "ask": asked}), _object({"say": plain, "ask": asked})]
        if DEFERS.search(said):  # "you choose": the coach chooses (and asks what the choice left open)
            choice = {"type": "string", "pattern": f'^{CHOICE_START}[^?.!"\\\\]{{8,{SAY_CHARS}}}[.!]$'}
            options = [_object({"say": choice, "ask": {"enum": to_ask[1:] or to_ask}})]
    elif turn.card.offers:  # new ideas, a few words each, said as a question: "How about A, B, or C?"
        idea = {"type": "string", "pattern": f'^[^.!?,;#@"\\\\]{{3,{IDEA_CHARS}}}$'}  # no hashtags
        count = turn.card.offers
        options = [_object({"ideas": {"type": "array", "items": idea, "minItems": count, "maxItems": count}})]
    else:  # a few short sentences: spoken, not read; begun as the stage's turns begin ("Yes, and")
        start = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", turn.card.turn_start or "")  # a literal (spaces kept)
        sentences = f'^{start}([^.!?"\\\\]{{1,{SENTENCE_CHARS}}}[.!?] ?){{1,{FREE_SENTENCES}}}$'
        options = [_object({"say": {"type": "string", "pattern": sentences}})]
    return options


def asking(turn: CoachTurn) -> list[str]:
    """The questions the reply may ask, in order. At a stage's opening: the opening, or (their words answered its
    question) its first sentences with the next question. Later: the next question or the one after it (their
    words answered it already); the offer to move on once none is left."""
    card = turn.card
    questions = [q for q in turn.to_ask if q != card.move_on]
    if turn.opening:
        later = [q for q in questions if q != card.opening]
        intro = " ".join(s.strip() for s in re.findall(r"[^.!?]+[.!?]", card.opening) if not s.endswith("?"))
        return [card.opening] + ([f"{intro} {later[0]}".strip()] if later else [])
    if questions:
        return questions[:2]
    return [card.move_on] if card.questions and card.move_on in turn.to_ask else []


_PLAIN_WORDS = frozenset(
    {"anything", "their", "there", "where", "which", "would", "yours", "about", "after", "again", "think", "people"}
)
"""Words of five letters or more a question and an answer share without the answer being about the question."""
_WHEN = re.compile(r"\b(when|deadline|date|how soon|by when|what day)\b", re.IGNORECASE)
_TIME = re.compile(
    r"\b(by|before|until|on|next|this)\s+(mon|tues|wednes|thurs|fri|satur|sun)day\b|\b(today|tonight|tomorrow"
    r"|next week|end of the (week|month)|asap)\b|\b(by|before|until) (the )?\d|\b(january|february|march|april|may"
    r"|june|july|august|september|october|november|december)\b",
    re.IGNORECASE,
)


_WHO_TO = re.compile(r"^who is it (to|for)\b", re.IGNORECASE)
_ADDRESSEE = re.compile(
    r"\b(?i:email|letter|message|note|it's|it is|write|writing)\b[^.?!]*?\b(?i:to|for) ((?i:my|our|the|mr|mrs|ms|dr)\b"
    r"|[A-Z][a-z]+)"
)
"""A user's words that say who an email is to ("an email to my landlord", "It's to Mr. Patel")."""
_RELATION = re.compile(
    r"\b(his|her|their) name is\b|\b(my|our|a|an) (colleague|co-?worker|manager|boss|landlord|landlady|neighbou?r"
    r"|client|customer|friend|teacher|mum|mom|dad|partner|sister|brother|doctor)\b",
    re.IGNORECASE,
)
"""Words that say who someone is to the user ("His name is Tom", "a colleague who covered my shifts")."""


def answered(question: str, said: str, questions: Sequence[str] = ()) -> bool:
    """Whether `said` (a user's turn) already answers `question`, one of the stage's `questions`: it names the
    question's own topic, a word no other question of the stage has ("Anything sensitive ...?" after "nothing
    sensitive"), gives a time to a question about when ("Is there a deadline?" after "fixed by Friday"), or names
    whom an email is to ("Who is it to ...?" after "an email to my landlord"). A coach never asks what it was just
    told."""
    if (_WHEN.search(question) and _TIME.search(said)) or (
        _WHO_TO.search(question) and (_ADDRESSEE.search(said) or _RELATION.search(said))
    ):
        return True
    others = {w for q in questions if q != question for w in _topic(q)}
    return bool((_topic(question) - others) & {w.rstrip("s") for w in re.findall(r"[a-z']+", said.lower())})


def _topic(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z']+", text.lower()) if w not in _PLAIN_WORDS and len(w) > 4}


FEEDBACK_ASKED = re.compile(
    r"\bhow (was|did|do|'?d) (that|it|i|my)\b|\bfeedback\b|\b(was|is) (that|it) (good|ok|okay|alright|any good)\b"
    r"|\bhow did i do\b|\bany good\b",
    re.IGNORECASE,
)
"""A user asking how their answer went."""


def asks_feedback(turn: CoachTurn | None, text: str) -> bool:
    """Whether `text` asks for feedback in a stage that gives it."""
    return turn is not None and bool(turn.card.feedback_areas) and FEEDBACK_ASKED.search(text) is not None


def feedback_options(answer: str) -> list[dict[str, Any]]:
    """The shape of feedback on `answer`: a few of its words (one of its runs of two to four words, so the quote is
    theirs), what worked (to them: "You ..."), one thing to do better ("Next time ...", "Try ...")."""
    quote: dict[str, Any] = {"enum": quotable(answer)} if quotable(answer) else {"type": "string", "maxLength": 32}
    strength = {"type": "string", "pattern": f'^(You|Your)[^"\\\\]{{10,{FEEDBACK_CHARS}}}$'}
    improve = {"type": "string", "pattern": f'^(Next time|Try|Add|Say|Mention|Give)[^"\\\\]{{10,{FEEDBACK_CHARS}}}$'}
    return [_object({"quote": quote, "strength": strength, "improve": improve})]


_SMALL = (
    "a an and are as at be but by for from had has have i i'm in is it it's my of on or our so that the their them "
    "then there they this to was we were when which who with you your"
)
_SMALL_WORDS = frozenset(_SMALL.split())


def quotable(answer: str, longest: int = 4, most: int = 60) -> list[str]:
    """Runs of two to `longest` words of `answer`, as written (punctuation inside a run kept), that neither start
    nor end with a small word ("our sales spreadsheet", not "I found that our"), the most telling first (most
    letters in words of five or more), at most `most`."""
    words = list(re.finditer(r"[\w'’-]+", answer))
    runs: dict[str, int] = {}
    for size in range(longest, 1, -1):
        for start in range(len(words) - size + 1):
            first, last = words[start], words[start + size - 1]
            if {first[0].lower(), last[0].lower()} & _SMALL_WORDS:
                continue
            run = answer[first.start() : last.end()]
            if '"' not in run and "\\" not in run:
                runs.setdefault(run, sum(len(w[0]) for w in words[start : start + size] if len(w[0]) >= 5))
    return sorted(runs, key=lambda run: -runs[run])[:most]


QUESTION_ASKED = re.compile(
    r"\bask me\b|\b(another|next|new|different) (one|question)\b|\bready\b|\bgo ahead\b|\b(fire|ask) away\b"
    r"|^\W*(yes|yeah|sure|ok|okay|go)\W*$",
    re.IGNORECASE,
)
"""A user asking to be asked ("ask me something", "another one", "ready")."""


def last_answer(history: Sequence[Entry]) -> str:
    """The user's last words that were not a request for feedback: what feedback is about."""
    said = [e.text for e in history if e.role == "user"]
    for text in reversed(said):
        if not FEEDBACK_ASKED.search(text) or len(text.split()) > 20:
            return text
    return said[-1] if said else ""


def offered(reply: str) -> list[str]:
    """The ideas a coach's reply offered ("How about A, B, or C?": A, B and C); [] for any other reply."""
    offer = re.fullmatch(rf"{OFFER} (.+)\?", reply.strip())
    return re.split(r", or |, ", offer[1]) if offer else []


def speaker(turn: CoachTurn, answer: str) -> Callable[[dict[str, Any], dict[str, Any]], str]:
    """The spoken text of a coach reply so far, from its (partial, closed) JSON values.

    `answer` is the user's last turn: a `quote` not in it is left out. The text only ever grows, so it can
    be streamed as it is decoded.
    """
    retry = RETRY[turn.feedbacks % len(RETRY)]

    def speak(partial: dict[str, Any], closed: dict[str, Any]) -> str:
        if "quote" in partial or "strength" in partial:
            parts = []
            quote = closed.get("quote")
            if isinstance(quote, str) and _said(quote, answer):
                parts.append(f'You said "{quote.strip()}".')
            for key in ("strength", "improve"):
                if isinstance(closed.get(key), str):
                    parts.append(_sentence(closed[key]))
            if "improve" in closed:
                parts.append(retry)
            return " ".join(p for p in parts if p)
        if "ideas" in partial:
            ideas = [whole_idea(i.strip()) for i in closed.get("ideas") or [] if isinstance(i, str) and i.strip()]
            if len(ideas) < turn.card.offers:
                return ""
            return f"{OFFER} {', '.join(ideas[:-1])}, or {ideas[-1]}?" if len(ideas) > 1 else f"{OFFER} {ideas[0]}?"
        ask = partial.get("ask")  # one of the script's questions (an enum), said as it is decoded
        if "heard" in partial:
            heard = closed.get("heard")
            if not isinstance(heard, str):
                return ""
            heard = heard.strip().rstrip(",;:")
            template = ACKNOWLEDGEMENTS[len(turn.asked) % len(ACKNOWLEDGEMENTS)]
            given_back = template.format(heard[:1].upper() + heard[1:], "").rstrip()
            if cut_short(heard, answer):  # "Growing tomatoes on a small: noted." is worse than "Noted."
                given_back = template.format("", "").strip(",:. ").capitalize() + "."
            return f"{given_back} {ask}" if isinstance(ask, str) else given_back
        say = partial.get("say") if isinstance(partial.get("say"), str) else ""
        if turn.opening or ("say" not in partial and "heard" not in partial):  # the question alone
            return ask if isinstance(ask, str) else ""
        if isinstance(ask, str) and "say" in closed:
            return f"{say}{'' if not say.strip() or say.rstrip()[-1] in '.!?' else '.'} {ask}".lstrip()
        return say

    return speak


def whole_idea(idea: str) -> str:
    """`idea` as said: one the grammar cut at `IDEA_CHARS` ("... for kids to make their own t'") ends before its
    first linking word after the third ("Create a DIY craft station"), so no idea stops mid-phrase."""
    if len(idea) < IDEA_CHARS - 1:
        return idea
    words = idea.split()
    link = next((i for i, w in enumerate(words) if i >= 3 and w.lower() in LINKS), None)
    return " ".join(words[:link]) if link is not None else " ".join(words[:-1])


def cut_short(heard: str, answer: str) -> bool:
    """Whether `heard` (their point given back) stops mid-phrase: it filled `HEARD_CHARS` (the grammar closed it),
    or it is a run of `answer`'s words that their sentence goes on from ("Growing tomatoes on a small" of "... on a
    small balcony."); a run followed by a pause or a new clause ("and", "by", "because") is whole."""
    if len(heard) >= HEARD_CHARS:
        return True
    words = re.findall(r"[a-z0-9']+", heard.lower())
    tokens = re.findall(r"[a-z0-9']+|[^\sa-z0-9']", answer.lower())  # words and punctuation marks
    for start in range(len(tokens) - len(words)):
        if words and tokens[start : start + len(words)] == words:
            after = tokens[start + len(words)]
            if after[0].isalnum() and after not in CLAUSE_STARTS:
                return True
    return False


def _said(quote: str, answer: str) -> bool:
    """Whether `quote` (at least two words) is the user's own words, ignoring case and punctuation."""
    words = re.findall(r"[a-z0-9']+", quote.lower())
    return len(words) >= 2 and " ".join(words) in " ".join(re.findall(r"[a-z0-9']+", answer.lower()))


def _sentence(text: str) -> str:
    """`text` as a sentence: a capital first, a full stop last (unless it has one)."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _string(max_chars: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_chars}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
