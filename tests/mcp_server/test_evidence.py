"""Evidence for the model: passages cut into quotable units, and the few that answer a question chosen with
the real embedder."""

from __future__ import annotations

from mcp_server.library.citations import SearchHit
from mcp_server.library.embedder import SentenceTransformerEmbedder
from mcp_server.library.evidence import gather, render, select, units
from tests.mcp_server.conftest import SAMPLE_LIBRARY


def _hit(document_id: str, title: str, passage: str, heading: str = "") -> SearchHit:
    return SearchHit(document_id, title, heading or title, 0.5, passage, 0, len(passage))


def test_units_keep_list_items_whole_with_their_continuation_lines() -> None:
    passage = (
        "## Method\n\n1. Mix everything. Rest 45 minutes.\n"
        "6. Heat the oven to 250 °C. Bake covered for 20 minutes, then uncovered\n"
        "   for another 20 to 25 minutes.\n\nLet it cool. Then cut it."
    )

    found = [(u.heading, u.text) for u in units(passage)]

    assert found == [
        ("Method", "Mix everything. Rest 45 minutes."),
        (
            "Method",
            "Heat the oven to 250 °C. Bake covered for 20 minutes, then uncovered for another 20 to 25 minutes.",
        ),
        ("Method", "Let it cool."),
        ("Method", "Then cut it."),
    ]


def test_table_rows_carry_their_column_names() -> None:
    passage = "## Fixed costs\n\n| item | per month |\n| --- | ---: |\n| rent | 1,150 |\n| **internet** | 55 |\n"

    assert [u.text for u in units(passage)] == ["item: rent, per month: 1,150", "item: internet, per month: 55"]


def test_a_short_title_line_of_a_pdf_is_a_heading_not_part_of_a_sentence() -> None:
    passage = "Deposit\nThe deposit is 3,450 euros, three months of rent.\nRepairs\nThe landlord pays for the boiler."

    found = [(u.heading, u.text) for u in units(passage)]

    assert found == [
        ("Deposit", "The deposit is 3,450 euros, three months of rent."),
        ("Repairs", "The landlord pays for the boiler."),
    ]


def test_the_sentence_that_answers_is_chosen_with_its_neighbour(embedder: SentenceTransformerEmbedder) -> None:
    garden = (SAMPLE_LIBRARY / "garden-plan.md").read_text(encoding="utf-8")
    budget = (SAMPLE_LIBRARY / "household-budget.md").read_text(encoding="utf-8")
    hits = [_hit("garden-plan.md", "Garden plan 2027", garden), _hit("household-budget.md", "Household budget", budget)]

    evidence = select("what do I do about slugs in the garden?", hits, embedder)
    text = render("what do I do about slugs?", evidence)

    assert evidence[0].document_id == "garden-plan.md" and evidence[0].heading == "Pests and problems"
    assert "copper tape" in evidence[0].text  # the sentence after "Slugs ate most of the lettuce"
    assert text.startswith('From "Garden plan 2027" (garden-plan.md, Pests and problems): ')
    assert len(text) < 700


def test_a_workspace_note_is_marked_and_no_hit_says_so(embedder: SentenceTransformerEmbedder) -> None:
    note = "# To do\n\n- Renew the car insurance before 5 December.\n- Return the library books on Saturday.\n"
    question = "when do I renew the car insurance"
    evidence = select(question, [_hit("workspace:todo.md", "To do", note)], embedder)

    assert evidence[0].source == "workspace"
    assert render(question, evidence).startswith(
        'From "To do" (workspace:todo.md): Renew the car insurance before 5 December.'
    )
    assert (
        render("apple trees", select("apple trees", [], embedder))
        == "The user's documents say nothing about 'apple trees'."
    )
    budget = select("apple trees", [_hit("budget.md", "Budget", "Rent is 1,150 euros.")], embedder)
    assert "say nothing about" in render("apple trees", budget)  # no word of the topic is there


def test_a_document_named_by_its_title_is_answered_from(embedder: SentenceTransformerEmbedder) -> None:
    """ "What's on the reading list for December?": the list is for this winter; the model reads it, told that it
    does not say December, rather than hearing that nothing was found."""
    books = (SAMPLE_LIBRARY / "reading-list.md").read_text(encoding="utf-8")
    question = "What's on the reading list for December?"
    text = render(question, gather(question, [_hit("reading-list.md", "Reading list", books)], embedder))
    assert text.startswith("\"Reading list\" has nothing about 'december'; it says:\n")
    assert "The Overstory" in text and "say nothing about" not in text
    garden = select(
        "apple trees in my garden plan", [_hit("garden-plan.md", "Garden plan", "Sow peas in March.")], embedder
    )
    assert render("apple trees in my garden plan", garden).startswith("\"Garden plan\" has nothing about 'apple trees'")


def test_a_section_the_question_names_is_quoted_first(embedder: SentenceTransformerEmbedder) -> None:
    """ "What book am I reading right now?" is answered by the "Reading now" section, though the list's other
    books are as close in meaning; "What's in the garden plan?" names "Garden plan 2027" (the "s" of "what's"
    and the title's year are no topic)."""
    books = (SAMPLE_LIBRARY / "reading-list.md").read_text(encoding="utf-8")
    question = "What book am I reading right now?"
    evidence = select(question, [_hit("reading-list.md", "Reading list", books)], embedder)
    assert evidence[-1].heading == "Reading now" and "The Overstory" in evidence[-1].text

    garden = (SAMPLE_LIBRARY / "garden-plan.md").read_text(encoding="utf-8")
    question = "What's in the garden plan?"
    text = render(question, gather(question, [_hit("garden-plan.md", "Garden plan 2027", garden)], embedder))
    assert text.startswith('From "Garden plan 2027" (garden-plan.md')
