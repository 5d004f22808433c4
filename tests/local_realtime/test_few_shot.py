"""Few-shot examples as data: the packaged file, another file, and the errors a malformed one gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_realtime.few_shot import PACKAGED_FEW_SHOT, Example, FewShotError, load_few_shot


def test_the_packaged_examples_load_in_file_order() -> None:
    examples = load_few_shot(PACKAGED_FEW_SHOT)

    assert len(examples) == 25
    assert examples[0].user == "I'd like to work on a blog post." and examples[0].tool == "load_script"
    assert Example(user="Good morning!", say="Good morning! What would you like to do today?") in examples
    answered = [e for e in examples if e.result is not None]
    assert answered and all(e.answer and e.tool for e in answered)
    coached = [e for e in examples if e.ask is not None or e.feedback is not None or e.ideas]  # a coach's shapes
    assert len(coached) == 7 and all(e.tool is None for e in coached)


def test_a_coach_example_cannot_also_call_a_tool() -> None:
    with pytest.raises(ValueError, match="coach's spoken reply"):
        Example(user="Hi", say="Hello", tool="t", ask="Ready?")


def test_another_file_gives_other_examples(tmp_path: Path) -> None:
    path = tmp_path / "weather.json"
    rows = [{"user": "Rain in Oslo?", "tool": "get_forecast", "say": "Checking.", "arguments": {"city": "Oslo"}}]
    path.write_text(json.dumps(rows), encoding="utf-8")

    assert load_few_shot(path) == (
        Example(user="Rain in Oslo?", tool="get_forecast", say="Checking.", arguments={"city": "Oslo"}),
    )


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"user": "Hi"}], "example 0, 'say': Field required"),
        ([{"user": "Hi", "say": "Hello", "tool": ""}], "example 0, 'tool': String should have at least 1 character"),
        ([{"user": "Hi", "say": "Hello"}, {"user": "Hi", "say": "Hello", "mood": "happy"}], "example 1, 'mood'"),
        ([{"user": "Hi", "say": "Hello", "arguments": {"x": 1}}], "example 0: Value error, 'arguments' and 'result'"),
        ([{"user": "Q?", "tool": "t", "say": "Looking.", "result": "42"}], "'result' and 'answer' go together"),
        ({"user": "Hi", "say": "Hello"}, "Input should be a valid array"),
    ],
)
def test_a_malformed_example_is_named_with_its_field(tmp_path: Path, rows: object, expected: str) -> None:
    path = tmp_path / "few_shot.json"
    path.write_text(json.dumps(rows), encoding="utf-8")

    with pytest.raises(FewShotError) as error:
        load_few_shot(path)

    assert str(error.value).startswith(f"Invalid few-shot file {path}: ")
    assert expected in str(error.value)


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "few_shot.json"
    path.write_text('[{"user": "Hi", "say": ', encoding="utf-8")

    with pytest.raises(FewShotError, match="Invalid JSON"):
        load_few_shot(path)
