"""The sentence splitter that feeds the voice while the brain is still writing."""

from __future__ import annotations

from local_realtime.response import split_sentences


def test_complete_sentences_are_released_and_the_rest_waits() -> None:
    assert split_sentences("Hello there. How are", first=False) == (["Hello there."], "How are")
    assert split_sentences("Wait! Really? Yes", first=False) == (["Wait!", "Really?"], "Yes")
    assert split_sentences("Pi is 3.14 and", first=False) == ([], "Pi is 3.14 and")


def test_first_long_clause_is_spoken_at_its_comma() -> None:
    text = "I am only a small computer program, but I can help"
    assert split_sentences(text, first=True) == (["I am only a small computer program,"], "but I can help")
    assert split_sentences(text, first=False) == ([], text)
    assert split_sentences("Sure, I can", first=True) == ([], "Sure, I can")


def test_a_long_first_sentence_without_a_comma_starts_after_seven_words() -> None:
    text = "Your weekend sourdough recipe says to bake it uncovered for"
    assert split_sentences(text, first=True) == (["Your weekend sourdough recipe says to bake"], "it uncovered for")
    assert split_sentences("Your weekend sourdough recipe says to", first=True) == (
        [],
        "Your weekend sourdough recipe says to",
    )
    assert split_sentences(text, first=False) == ([], text)


def test_runaway_text_is_cut_at_a_comma_or_space() -> None:
    text = "word, " + "word " * 40
    sentences, rest = split_sentences(text, first=False)
    assert sentences and len(sentences[0]) <= 160 and (sentences[0] + " " + rest).split() == text.split()
