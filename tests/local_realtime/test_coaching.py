"""The coach's side of the brain without the model: stage state, notes, reply shapes, repeats and file names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from llama_cpp import LlamaGrammar
from mcp import Client

from local_realtime.brain import Entry, ToolSpec
from local_realtime.coach_reply import RETRY, answered, asking, cut_short, speaker, spoken_options, whole_idea
from local_realtime.coaching import annotate, coach_replies, coach_turn, material, note, repeats_loading
from local_realtime.drafts import key_facts
from local_realtime.grammar import ground_files, named_files, reply_schema, to_gbnf
from local_realtime.prompt import ReplyReader
from local_realtime.repeats import RepeatBan
from local_realtime.reply_shape import ReplyShape
from local_realtime.stage import StageCard
from mcp_server.server import build_server
from tests.servers import make_config
from voice_client.tools import summarize


async def _results(tmp_path: Path, script: str, *moves: str) -> list[str]:
    """The real server's load_script (then each move) results, as the voice client gives them to the model."""
    async with Client(build_server(make_config(tmp_path))) as client:
        outputs = [await client.call_tool("load_script", {"script_name": script})]
        outputs += [await client.call_tool(move, {}) for move in moves]
    return [summarize(result.structured_content) for result in outputs]


def _loaded(output: str, user: str = "I need to write an email.") -> list[Entry]:
    return [
        Entry("user", user),
        Entry("assistant", "Loading the email workshop."),
        Entry("tool_call", json.dumps({"script_name": "email_workshop"}), "load_script", "call_1"),
        Entry("system", "You are a calm communications coach. (the stage's full instructions)"),
        Entry("tool_result", output, "load_script", "call_1"),
    ]


@pytest.fixture
async def email(tmp_path: Path) -> list[str]:
    return await _results(tmp_path, "email_workshop", "next_stage")


def test_a_script_result_is_a_stage_card_and_other_outputs_are_not(email: list[str]) -> None:
    card = StageCard.parse(email[0])
    assert card is not None
    assert (card.script, card.name, card.number, card.count, card.next_stage) == (
        "email_workshop",
        "context",
        1,
        2,
        "drafting",
    )
    assert card.opening.endswith("What's the situation?") and len(card.questions) == 4
    assert card.move_on == "Shall we move on to the drafting stage?"
    assert StageCard.parse('{"error": "no script"}') is None and StageCard.parse("From notes: ...") is None


def test_the_opening_is_the_script_s_own_words_or_its_next_question(email: list[str]) -> None:
    turn = coach_turn(_loaded(email[0], user="I need to write an email to my landlord."))
    assert turn is not None and turn.opening and coach_replies(_loaded(email[0]))
    options = asking(turn)
    assert options[0] == turn.card.opening
    # their words answered the opening's question: its first sentence, then the stage's first question they did not
    # answer already ("an email to my landlord" said who it is to)
    assert options[1] == "Tell me about the email you need to write. What do you want them to do after reading it?"
    unnamed = coach_turn(_loaded(email[0]))
    assert unnamed is not None
    assert asking(unnamed)[1].endswith("Who is it to, and what is your relationship?")
    assert spoken_options(turn) == [
        {"type": "object", "properties": {"ask": {"enum": options}}, "required": ["ask"], "additionalProperties": False}
    ]


def test_asked_questions_are_remembered_with_their_answers_and_never_offered_again(email: list[str]) -> None:
    history = _loaded(email[0])
    card = StageCard.parse(email[0])
    assert card is not None
    history += [
        Entry("assistant", card.opening),
        Entry("user", "The heating has been broken for a week."),
        Entry("assistant", "You have had a cold week. Who is it to, and what is your relationship?"),
        Entry("user", "It's to Mr. Patel, my landlord."),
    ]
    turn = coach_turn(history)
    assert turn is not None and not turn.opening
    assert turn.asked[-1] == ("Who is it to, and what is your relationship?", "It's to Mr. Patel, my landlord.")
    assert asking(turn) == ["What do you want them to do after reading it?", "Is there a deadline?"]
    heard, said = (option["properties"] for option in spoken_options(turn))
    assert heard["ask"] == said["ask"] == {"enum": asking(turn)}
    assert "?" in heard["heard"]["pattern"]  # no question of its own before the script's
    assert "?" in said["say"]["pattern"] and said["say"]["pattern"].startswith("^(You|")


def test_the_prompt_shows_notes_not_the_stage_instructions(email: list[str]) -> None:
    card = StageCard.parse(email[0])
    assert card is not None
    history = [*_loaded(email[0]), Entry("assistant", card.opening), Entry("user", "The heating is broken.")]
    shown = annotate(history)
    roles = [e.role for e in shown]
    assert "system" not in roles  # the instructions the script's result brought are left to the client
    result = next(e for e in shown if e.role == "tool_result")
    assert result.text == "Loaded Email Writing Workshop; starting with context."
    assert roles[roles.index("tool_result") + 1] == "note"  # the opening's note
    assert roles[-2:] == ["note", "user"]  # a note before each of their turns, where the cache keeps it
    assert "Next question: Who is it to" in shown[-2].text
    reply = next(e for e in shown if e.role == "assistant" and e.name == "json")
    assert json.loads(reply.text) == {"ask": card.opening}  # its own turns in the shape it answers in
    plain = [Entry("user", "What's the capital of France?")]
    assert annotate(plain) == plain and coach_turn(plain) is None


def test_loading_the_running_script_again_is_recognised(email: list[str]) -> None:
    turn = coach_turn(_loaded(email[0]))
    assert repeats_loading(turn, "load_script", {"script_name": "email_workshop"})
    assert not repeats_loading(turn, "load_script", {"script_name": "improv_game"})
    assert not repeats_loading(turn, "file_operation", {"operation": "list"})
    assert not repeats_loading(None, "load_script", {"script_name": "email_workshop"})


async def test_a_practice_stage_offers_feedback_with_a_quote_checked_against_the_answer(tmp_path: Path) -> None:
    _, practice = await _results(tmp_path, "interview_prep", "next_stage")
    card = StageCard.parse(practice)
    assert card is not None
    answer = "I found duplicate rows in our sales spreadsheet and wrote a script to clean them."
    history = [
        Entry("user", "Let's practice."),
        Entry("tool_call", "{}", "next_stage", "c1"),
        Entry("tool_result", practice, "next_stage", "c1"),
        Entry("assistant", card.opening),
        Entry("user", answer),
    ]
    turn = coach_turn(history)
    assert turn is not None and turn.wants_feedback and turn.pending == card.opening
    # an answer to the coach's question gets feedback; "ask me another" the next question; "how was that?" feedback
    assert [sorted(s["properties"]) for s in spoken_options(turn, answer)] == [["improve", "quote", "strength"]]
    assert spoken_options(turn, "Ask me another one.") == [
        {"type": "object", "properties": {"ask": {"enum": [card.questions[0]]}}, "required": ["ask"],
         "additionalProperties": False}
    ]  # fmt: skip
    assert [sorted(s["properties"]) for s in spoken_options(turn, "How was that?")] == [
        ["improve", "quote", "strength"]
    ]
    speak = speaker(turn, answer)
    good = {"quote": "wrote a script", "strength": "you fixed it yourself", "improve": "say how much time it saved"}
    assert speak(good, good) == (
        'You said "wrote a script". You fixed it yourself. Say how much time it saved. ' + RETRY[0]
    )
    made_up = good | {"quote": "led a team of ten"}
    assert not speak(made_up, made_up).startswith("You said")


def test_what_they_said_is_given_back_before_the_next_question() -> None:
    card = StageCard("s", "S", 1, 1, "a", "goal", "Ready?", ("Who is it to?", "When?"))
    history = [Entry("tool_call", "{}", "go", "c"), Entry("tool_result", _card_json(card), "go", "c")]
    history += [Entry("assistant", "Ready?"), Entry("user", "It's for Mr. Patel, my landlord.")]
    turn = coach_turn(history)
    assert turn is not None
    reply = {"heard": "Mr Patel, your landlord", "ask": "When?"}
    spoken = speaker(turn, history[-1].text)(reply, reply)
    assert spoken == "Mr Patel, your landlord: noted. When?"  # the words vary from turn to turn
    # the model then sees its own turn in the shape it answered in
    shown = annotate([*history, Entry("assistant", spoken), Entry("user", "Friday.")])
    assert json.loads(next(e.text for e in shown if e.text.startswith('{"heard"'))) == reply


def test_a_coach_reply_streams_its_sentence_then_its_question() -> None:
    turn = coach_turn([])
    assert turn is None
    card = StageCard("s", "S", 1, 1, "a", "goal", "Ready?", ("Who is it to?",))
    history = [Entry("tool_call", "{}", "go", "c"), Entry("tool_result", _card_json(card), "go", "c")]
    history += [Entry("assistant", "Ready?"), Entry("user", "It is for my landlord.")]
    current = coach_turn(history)
    assert current is not None
    reader = ReplyReader(speaker(current, "It is for my landlord."))
    pieces = [reader.feed(t) for t in ['{"say": "You', " are writing", ' to him.", "ask": "Who is it to?"', "}"]]
    assert "".join(pieces) == "You are writing to him. Who is it to?" and reader.said_all
    assert pieces[:2] == ["You", " are writing"]  # the sentence is spoken while it is written


def test_their_point_is_said_before_the_question_is_chosen_and_a_cut_point_is_not_said() -> None:
    card = StageCard("s", "S", 1, 1, "a", "goal", "Ready?", ("Who is it to?", "What should readers remember?"))
    history = [Entry("tool_call", "{}", "go", "c"), Entry("tool_result", _card_json(card), "go", "c")]
    history += [
        Entry("assistant", "Ready?"),
        Entry("user", "I want to write about growing tomatoes on a small balcony."),
    ]
    turn = coach_turn(history)
    assert turn is not None
    reader = ReplyReader(speaker(turn, history[-1].text))
    pieces = [reader.feed(t) for t in ['{"heard": "balcony tomatoes", "ask": "', "What should", ' readers remember?"}']]
    assert pieces[0].strip() == "Balcony tomatoes: noted." and "".join(pieces).endswith(
        "noted. What should readers remember?"
    )
    # the grammar's length limit or a run of their words stopped before their phrase ended: no half phrase is said
    cut = {"heard": "Growing tomatoes on a small", "ask": "What should readers remember?"}
    assert speaker(turn, history[-1].text)(cut, cut) == "Noted. What should readers remember?"
    assert not cut_short("growing tomatoes", history[-1].text)  # "on a small balcony" is a phrase of its own


def _card_json(card: StageCard) -> str:
    stage: dict[str, Any] = {
        "name": card.name,
        "goal": card.goal,
        "opening": card.opening,
        "questions": list(card.questions),
        "offers": card.offers,
        "next_stage": card.next_stage,
    }
    return json.dumps({"script_name": card.script, "title": card.title, "stage_number": card.number,
                       "stages": [card.name], "message": "Loaded.", "stage": stage})  # fmt: skip


def test_the_reply_grammars_compile() -> None:
    card = StageCard("s", "S", 1, 2, "a", "goal", "Hi. Ready?", ("Who?", "When?"), feedback_areas=("clarity",))
    opened = [Entry("tool_result", _card_json(card), "go")]
    for history in (opened, [*opened, Entry("assistant", "Hi. Ready?"), Entry("user", "Yes.")]):
        turn = coach_turn(history)
        assert turn is not None
        assert "root" in to_gbnf(json.dumps(reply_schema([], "auto", spoken_options(turn))))


def test_repeats_are_refused_as_words_not_tokens() -> None:
    ban = RepeatBan(["A lighthouse keeper finds a talking seagull."], ["the user"])
    assert ban.rejects("The lighthouse keeper finds a", " talking")  # five words in a row
    assert ban.rejects("keeper finds a talking se", "agull")  # however the last word is spelt
    assert not ban.rejects("You met a talking", " seagull")  # a few shared words are fine
    assert ban.rejects("Tell the", " user") and not ban.rejects("Tell the", " story")


def test_the_file_the_user_names_is_the_file_written() -> None:
    said = [Entry("user", "How was that? Save your feedback to interview-notes.md.")]
    assert named_files("save it as lighthouse dot md") == ["lighthouse.md"]
    assert named_files("Write the draft to heating email dot md.") == ["heating-email.md"]  # Whisper wrote no hyphen
    assert named_files("Save it to my notes.md") == ["notes.md"]
    assert named_files("Add the line call the plumber to the end of todo.md") == ["todo.md"]  # a place, not a name
    assert ground_files({"operation": "write", "filename": "interview_notes.md"}, said)["filename"] == (
        "interview-notes.md"
    )
    stage = Entry("tool_result", '{"deliverable_file": "interview_notes.md"}', "load_script", "c")  # the default
    heard = [stage, Entry("user", "Save your feedback to interview notes dot md")]
    assert ground_files({"filename": "interview_notes.md"}, heard) == {"filename": "interview-notes.md"}
    copy = [Entry("user", "Copy report.md to old-report.md.")]
    arguments = {"operation": "save_as", "filename": "report.md", "new_filename": "old.md"}
    assert ground_files(arguments, copy) == arguments  # two names said: the model's choice stands
    assert ground_files({"operation": "list"}, said) == {"operation": "list"}


def test_a_record_holds_the_conversation_not_the_commands() -> None:
    setup = StageCard("improv_game", "Improv", 1, 2, "setup", "goal", "Pick a place?", ())
    play = StageCard("improv_game", "Improv", 2, 2, "play", "goal", "What happens first?", ())
    history = [Entry("tool_result", _card_json(setup), "load_script", "c1"), Entry("assistant", "Pick a place?")]
    history += [Entry("user", "A lighthouse."), Entry("assistant", "A lighthouse: noted.")]
    history += [Entry("user", "Let's start the scene."), Entry("assistant", "Moving on.")]
    history += [
        Entry("tool_call", "{}", "next_stage", "c2"),
        Entry("tool_result", _card_json(play), "next_stage", "c2"),
    ]
    history += [Entry("assistant", "What happens first?"), Entry("user", "Yes, and a storm comes.")]
    saved = json.dumps({"success": True, "changed": ["a.md"]})
    history += [Entry("user", "Save it to a.md."), Entry("tool_call", "{}", "file_operation", "c3")]
    history += [Entry("tool_result", saved, "file_operation", "c3"), Entry("assistant", "Saved. Anything else?")]
    history += [Entry("user", "Save it to b.md.")]
    record = material(history)
    assert "A lighthouse." in record and "Yes, and a storm comes." in record and "What happens first?" in record
    assert "start the scene" not in record and "Save it" not in record and "Saved." not in record, record


def test_a_question_the_user_already_answered_is_not_asked() -> None:
    questions = ("Who is it to?", "Is there a deadline?", "Anything sensitive to handle with care?")
    card = StageCard("email", "Email", 1, 2, "context", "goal", "What's the situation?", questions)
    history = [Entry("tool_result", _card_json(card), "load_script", "c"), Entry("assistant", card.opening)]
    history += [Entry("user", "It's to Mr. Patel, and I want the heating fixed by Friday. Nothing sensitive.")]
    turn = coach_turn(history)
    assert turn is not None and turn.to_ask == (), turn.to_ask  # whom to, when and how sensitive: all told
    assert answered("Is there a deadline?", "an answer by Monday", questions)
    assert answered("Who is it to?", "An email to my landlord.")
    assert not answered("Who is it to?", "Ask for the refund.")
    assert answered("Who is it to, and what is your relationship?", "His name is Tom, we work on the same ward.")
    assert answered("Who is it to?", "I want to thank a colleague who covered my shifts.")
    assert not answered(
        "Who exactly is the reader?",
        "Readers who never ran",
        ("Who exactly is the reader?", "What would make a reader stop?"),
    )


def test_a_stage_that_offers_ideas_says_them_as_a_question_and_never_offers_one_twice() -> None:
    card = StageCard(
        "brainstorm",
        "Brainstorm",
        1,
        2,
        "diverge",
        "goal",
        "What's the challenge?",
        (),
        next_stage="converge",
        offers=3,
    )  # the offer to move on is left to ask: the turn is still ideas, with every rule on them
    history = [Entry("tool_result", _card_json(card), "load_script", "c")]
    history += [Entry("assistant", card.opening), Entry("user", "Names for my seaside bakery.")]
    turn = coach_turn(history)
    assert turn is not None and turn.card.offers == 3
    (option,) = spoken_options(turn, history[-1].text)
    assert option["properties"]["ideas"]["minItems"] == 3
    LlamaGrammar.from_string(to_gbnf(json.dumps(reply_schema([], "auto", [option]))), verbose=False)
    reply = {"ideas": ["Salt and Crumb", "Sea Loaf", "Harbour Bread"]}
    assert speaker(turn, "")(reply, reply) == "How about Salt and Crumb, Sea Loaf, or Harbour Bread?"
    later = ReplyShape.of([*history, Entry("assistant", "How about Salt and Crumb, Sea Loaf, or Harbour Bread?"),
                           Entry("user", "More please.")])  # fmt: skip
    assert later.rejects('{"ideas": ["Sea', " Loaf")  # offered before
    assert not later.rejects('{"ideas": ["Tide', " Pool")
    assert later.rejects('{"ideas": ["A bakery by the sea", "A bakery', " by")  # like another idea of the list
    assert later.rejects('{"ideas": ["Names for', " my")  # the challenge's own words
    assert later.rejects('{"ideas": ["Tide Pool", "The Sal', "t")  # begun as an earlier idea began
    assert later.rejects('{"ideas": ["Tide Pool", "Tide', " Moon")  # ... or as another of the list
    assert later.rejects('{"ideas": ["Tide Pool", "Bright Pool', "s")  # a word of another idea of the list
    assert not later.rejects('{"ideas": ["Tide Pool", "Bright', " Loaf")
    assert later.rejects('{"ideas": ["Bakery by the Bay", "Loaves on the Bay', '"')  # a short word again, once whole
    assert not later.rejects('{"ideas": ["Bakery by the Bay", "Loaves on the Bayside', '"')
    assert "The challenge: Names for my seaside bakery." in note(later.coach, first=False)


def test_a_draft_is_told_to_keep_the_names_and_numbers_they_said() -> None:
    said = ["It's to Anna at Greenfield, she's been patient.", "I want her to agree to a new date, the 30th."]
    assert key_facts(said) == ["Anna", "Greenfield", "30th"]
    assert key_facts(["I think Monday works, I guess."]) == ["Monday"]
    assert key_facts(["I failed five times before my first loaf."]) == ["five"]


def _drafting(*said: str) -> list[Entry]:
    card = StageCard("email", "Email", 1, 1, "draft", "goal", "What's the situation?", ("Who is it to?",))
    history = [Entry("tool_result", _card_json(card), "load_script", "c"), Entry("assistant", card.opening)]
    for text in said:
        history += [Entry("user", text), Entry("assistant", "Noted. Who is it to?")]
    return history[:-1]


def test_a_draft_keeps_the_names_and_numbers_they_said() -> None:
    history = _drafting("I need a day off. An answer by Monday please.", "Save it as day-off.md.")
    shape = ReplyShape.of(history)
    assert shape.saving and shape.keep == ("Monday",)
    # a draft that left it out gets their own sentence after it, marked as theirs
    settled = shape.settle("file_operation", {"content": "Dear Sam, can I have a day off?"}, [], history)
    assert settled is not None
    assert settled["content"] == "Dear Sam, can I have a day off?\n\nFrom our talk: An answer by Monday please."
    kept = shape.settle("file_operation", {"content": "Dear Sam, may I? Answer by Monday."}, [], history)
    assert kept is not None and "From our talk" not in kept["content"]


def test_saved_ideas_are_the_ideas_offered_word_for_word_then_what_they_said(tmp_path: Path) -> None:
    card = StageCard("brainstorm", "Brainstorm", 1, 1, "diverge", "goal", "What's the challenge?", offers=3)
    history = [Entry("tool_result", _card_json(card), "load_script", "c"), Entry("assistant", card.opening)]
    history += [Entry("user", "A party for my sister, she loves the outdoors.")]
    history += [Entry("assistant", "How about A picnic by the lake, Kite flying, or A garden treasure hunt?")]
    history += [Entry("user", "Save the best two to party.md.")]
    shape = ReplyShape.of(history)
    assert shape.listed == ("A picnic by the lake", "Kite flying", "A garden treasure hunt") and shape.picks == 2
    tools = [ToolSpec("file_operation", "", {"type": "object", "properties": {"content": {"type": "string"}}})]
    content = shape.usable(tools)[0].parameters["properties"]["content"]
    grammar = to_gbnf(json.dumps(reply_schema(shape.usable(tools), "tools", shape.spoken)))
    LlamaGrammar.from_string(grammar, verbose=False)
    pattern = content["x-engine-pattern"].replace("\\\\n", "\n")  # as the decoded text would be matched
    assert re.fullmatch(pattern, "Ideas for my sister's party\n\n- Kite flying\n- A picnic by the lake")
    assert not re.fullmatch(pattern, "Ideas for a party\n\n- Kite flying\n- Impact: high")  # nothing of its own
    assert not re.fullmatch(pattern, "Ideas for a party\n\n- Kite flying\n- A picnic by the lake\n- Kite flying")
    settled = shape.settle("file_operation", {"content": "Ideas for a party\n\n- Kite flying"}, tools, history)
    assert settled is not None
    assert settled["content"].endswith("\n\nWhat you told me: A party for my sister, she loves the outdoors.")


def test_moving_on_is_a_move_whose_few_words_do_not_read_the_user_s_back() -> None:
    card = StageCard(
        "interview", "Interview", 1, 2, "setup", "goal", "What role?", ("When is it?",), next_stage="drill"
    )
    history = [Entry("tool_result", _card_json(card), "load_script", "c"), Entry("assistant", card.opening)]
    history += [Entry("user", "Let's practice. Ask me a question.")]
    shape = ReplyShape.of(history)
    assert shape.rejects('{"tool": "next_stage", "say": "Let\'s practice. Ask me', " a")
    assert not shape.rejects('{"tool": "next_stage", "say": "Moving on to the practice', " stage")
    tools = [ToolSpec(name, "", {}) for name in ("search_library", "next_stage", "goto_stage", "file_operation")]
    assert shape.moving and [t.name for t in shape.usable(tools)] == ["next_stage", "goto_stage"]
    assert shape.usable(tools[:1]) == tools[:1]  # a session without the moves keeps its tools


def test_a_short_point_given_back_may_keep_their_words() -> None:
    card = StageCard("email", "Email", 1, 2, "context", "goal", "What's the situation?", ("Who is it to?", "When?"))
    history = [Entry("tool_result", _card_json(card), "load_script", "c"), Entry("assistant", card.opening)]
    history += [Entry("user", "The heating has been broken for a week.")]
    shape = ReplyShape.of(history)
    assert not shape.rejects('{"heard": "The heating has been', " broken")  # not forced to say "fixed"
    assert shape.rejects('{"heard": "The heating has been broken', " for")  # six of theirs: read back


def test_a_replace_with_content_and_no_pattern_is_a_write() -> None:
    history = [Entry("user", "Overwrite my notes file with the words buy bread.")]
    tools = [ToolSpec("file_operation", "", {"type": "object", "properties": {"content": {"type": "string"}}})]
    replace_all = {"operation": "replace", "filename": "notes.md", "content": "buy bread"}
    settled = ReplyShape.of(history).settle("file_operation", replace_all, tools, history)
    assert settled == {"operation": "write", "filename": "notes.md", "content": "buy bread"}
    a_pattern = {"operation": "replace", "filename": "notes.md", "pattern": "milk", "replacement": "bread"}
    assert ReplyShape.of(history).settle("file_operation", a_pattern, tools, history) == a_pattern


def test_a_question_about_their_own_things_never_loads_or_makes_a_script() -> None:
    tools = [ToolSpec("load_script"), ToolSpec("create_script"), ToolSpec("search_library")]
    asked = ReplyShape.of([Entry("user", "What is the working title of my tomato blog post?")])
    assert [t.name for t in asked.usable(tools)] == ["search_library"]
    for request in ("Can you load the blog writer?", "Is there a script for my interview?", "Help me write an email."):
        assert len(ReplyShape.of([Entry("user", request)]).usable(tools)) == 3


def test_when_they_leave_the_choice_to_the_coach_it_chooses_and_asks_what_is_left() -> None:
    card = StageCard(
        "improv", "Improv", 1, 2, "setup", "goal", "Want to pick a place, or shall I?", ("Where are we?", "Who are we?")
    )
    history = [Entry("tool_result", _card_json(card), "load_script", "c"), Entry("assistant", card.opening)]
    turn = coach_turn([*history, Entry("user", "Actually, you choose everything.")])
    assert turn is not None
    (option,) = spoken_options(turn, "Actually, you choose everything.")
    assert option["properties"]["ask"] == {"enum": ["Who are we?"]}  # the place is the coach's choice
    pattern = option["properties"]["say"]["pattern"]
    assert re.fullmatch(pattern, "Let's say we're on a rainy village pond.")
    assert not re.fullmatch(pattern, "I'll start a scene, then you add to it.")  # no choice in it
    LlamaGrammar.from_string(to_gbnf(json.dumps(reply_schema([], "auto", [option]))), verbose=False)
    # the place was the coach's choice: once they answer who we are, "Where are we?" is not asked
    history += [Entry("user", "You pick the place."), Entry("assistant", "Let's say we're at the beach. Who are we?")]
    later = coach_turn([*history, Entry("user", "Two astronauts, and we're sisters.")])
    assert later is not None and "Where are we?" not in later.to_ask
    assert ("Where are we?", "Let's say we're at the beach.") in later.asked


def test_an_edit_of_what_was_written_rewrites_or_replaces_never_appends() -> None:
    history = [*_drafting("Their dog barks every night.", "Write it to neighbour-email.md.")]
    history += [Entry("tool_call", "{}", "file_operation", "c2")]
    history += [
        Entry("tool_result", json.dumps({"success": True, "changed": ["neighbour-email.md"]}), "file_operation", "c2")
    ]
    history += [Entry("assistant", "Saved."), Entry("user", "Make it a bit warmer.")]
    shape = ReplyShape.of(history)
    operation = {"type": "string", "enum": ["read", "write", "append", "replace", "delete"]}
    tools = [ToolSpec("file_operation", "", {"type": "object", "properties": {"operation": operation}})]
    assert shape.editing
    assert shape.usable(tools)[0].parameters["properties"]["operation"]["enum"] == ["write", "replace"]


def test_an_idea_cut_at_its_length_limit_is_said_up_to_its_first_linking_word() -> None:
    assert whole_idea("Create a DIY craft station for kids to make their own t'") == "Create a DIY craft station"
    assert whole_idea("Host a family picnic for the parents") == "Host a family picnic for the parents"  # whole
