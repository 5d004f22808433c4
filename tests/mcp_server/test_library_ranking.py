"""Search ranking pieces: BM25 word matching, rank fusion, distinct hits and passages widened with exact offsets."""

from __future__ import annotations

from mcp_server.library.keywords import KeywordIndex, keyword_text
from mcp_server.library.passages import Passage
from mcp_server.library.ranking import RRF_K, distinct, fuse, widen

TEXT = (
    "The first chunk talks about the weather in spring. "
    "The second chunk says all warfare is based on deception. "
    "The third chunk ends the chapter with a short note."
)


def _passage(index: int, start: int, end: int, text: str = TEXT, document_id: str = "war.txt") -> Passage:
    return Passage(document_id, index, start, end, text[start:end])


def test_keywords_match_without_accents_and_across_word_forms():
    index = KeywordIndex(
        ["war::0", "speech::0", "speech::1"],
        [
            keyword_text("All warfare is based on deception.", "The Art of War", "Sun Tzŭ"),
            keyword_text("A pause, in public speech, is not mere silence."),
            keyword_text("Speak to the audience as often as you can."),
        ],
        ["war", "speech", "speech"],
    )

    assert index.search("what does sun tzu say warfare is based on", 5)[0] == "war::0"
    assert index.search("how should I use pauses", 5) == ["speech::0"]
    assert index.search("deception", 5, group="speech") == []
    assert index.search("what is the", 5) == []


def test_a_chunk_is_found_by_its_documents_author_even_where_its_text_never_names_him():
    book = "Our life is frittered away by detail. Simplicity, simplicity, simplicity!"
    lecture = "Quote Thoreau when a line helps; simplicity helps an audience remember you."
    labelled = KeywordIndex(
        ["walden::7", "lecture::2"],
        [keyword_text(book, "Walden", "Henry David Thoreau"), keyword_text(lecture)],
        ["w", "l"],
    )
    bare = KeywordIndex(["walden::7", "lecture::2"], [book, lecture], ["w", "l"])

    assert labelled.search("what does thoreau say about simplicity", 2)[0] == "walden::7"
    assert bare.search("what does thoreau say about simplicity", 2)[0] == "lecture::2"


def test_fusion_rewards_ids_that_both_rankings_agree_on():
    assert list(fuse([(["a", "b", "c"], 1.0), (["c", "d"], 1.0)])) == ["c", "a", "b", "d"]
    assert list(fuse([(["a", "b"], 1.0), (["b", "a"], 0.0)])) == ["a", "b"]


def test_fused_scores_are_the_reciprocal_rank_sums_that_order_the_ids():
    fused = fuse([(["a", "b", "c"], 1.0), (["c", "d"], 0.5)])

    assert fused["c"] == 1 / (RRF_K + 2) + 0.5 / RRF_K
    assert fused["d"] == 0.5 / (RRF_K + 1)
    assert list(fused.values()) == sorted(fused.values(), reverse=True)


def test_a_hit_is_widened_with_whole_words_of_its_neighbours_and_offsets_stay_exact():
    first, second, third = _passage(0, 0, 60), _passage(1, 51, 110), _passage(2, 100, len(TEXT))

    passage = widen(second, first, third, context_chars=20)

    assert passage.text == TEXT[passage.char_start : passage.char_end]
    assert passage.char_start < second.char_start and passage.char_end > second.char_end
    assert passage.text.startswith("weather in spring.") and passage.text.endswith("chunk ends")
    assert widen(second, None, None) == second


def test_a_neighbour_that_does_not_touch_the_hit_adds_nothing():
    """Chunks of two markdown sections leave a gap between them; a hit never spills across it."""
    hit, other_section = _passage(0, 0, 50), _passage(1, 52, 110)

    assert widen(hit, None, other_section) == hit


def test_overlapping_passages_are_returned_once():
    passages = [
        _passage(0, 0, 60),
        _passage(1, 40, 110),
        _passage(0, 0, 60, document_id="other.txt"),
        _passage(2, 100, 150),
    ]

    assert distinct(passages, 5) == [passages[0], passages[2], passages[3]]
    assert distinct(passages, 1) == [passages[0]]
