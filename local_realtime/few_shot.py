"""Few-shot examples for the brain's prompt: worked turns read from a JSON file, validated on load.

The examples name the tools of whichever MCP server the engine is meant for, so they are data, not
code: `few_shot.json` next to this module is the default, written for this project's MCP server;
another file can be named in `LOCAL_FEW_SHOT_PATH`. `prompt.pick_examples` keeps only the examples
whose tool and arguments fit the session's tools.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import ErrorDetails

PACKAGED_FEW_SHOT = Path(__file__).with_name("few_shot.json")
"""The default examples, shipped in the package (written against this project's MCP server's tools)."""


class FewShotError(ValueError):
    """A few-shot file is not valid JSON or an example in it has the wrong shape; the message names the
    file, each bad example's index (from 0) and field, and what is wrong."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"Invalid few-shot file {path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems


class Feedback(BaseModel):
    """A coach's feedback on an answer: a few of the answer's own words, what worked, one thing to improve."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quote: str = Field(min_length=1)
    strength: str = Field(min_length=1)
    improve: str = Field(min_length=1)


class Example(BaseModel):
    """One worked turn: the user's words and the assistant's reply, optionally a tool call, its result and
    the answer made from that result.

    In the file, one JSON object:
    `{"user": "...", "tool": "<a tool name>", "say": "Let me look.", "arguments": {"query": "..."},
    "result": "...", "answer": "..."}`; all but `user` and `say` may be left out.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(min_length=1)
    """What the user says."""
    say: str
    """The spoken reply: the answer, or with `tool` the few words said while the tool runs."""
    tool: str | None = Field(default=None, min_length=1)
    """The tool called (its name exactly as the MCP server lists it), or None for a spoken answer only."""
    arguments: dict[str, Any] = {}
    """The call's arguments; kept in the file's key order (the prompt shows them as written)."""
    result: str | None = None
    """The tool's output shown to the model (None: the example ends at the call)."""
    answer: str | None = None
    """The spoken answer made from `result`; required with it."""
    ask: str | None = None
    """A coach's question after `say` (the shape of a coach's reply in a script's stage); no `tool` with it."""
    heard: str | None = None
    """Instead of `say` (left empty), the point of the user's answer in a few words, given back before `ask`."""
    feedback: Feedback | None = None
    """A coach's feedback on an answer, instead of `say`'s text (which is then left empty); no `tool` with it."""
    ideas: list[str] | None = None
    """A coach's new ideas (a brainstorm's turn), instead of `say`'s text (which is then left empty)."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.tool is None and (self.arguments or self.result is not None):
            raise ValueError("'arguments' and 'result' need a 'tool'")
        if self.tool is not None and (self.ask is not None or self.feedback is not None or self.ideas is not None):
            raise ValueError("'ask', 'feedback' and 'ideas' are a coach's spoken reply: not with a 'tool'")
        if self.heard is not None and self.ask is None:
            raise ValueError("'heard' goes with 'ask'")
        if (self.result is None) != (self.answer is None):
            raise ValueError("'result' and 'answer' go together: give both or neither")
        return self


_EXAMPLES = TypeAdapter(list[Example])


def load_few_shot(path: Path) -> tuple[Example, ...]:
    """The examples in the JSON file at `path` (a list of `Example` objects), in file order.

    Raises:
        OSError: the file cannot be read.
        FewShotError: the file is not JSON of that shape.
    """
    try:
        return tuple(_EXAMPLES.validate_json(path.read_bytes()))
    except ValidationError as exc:
        raise FewShotError(path, [_describe(error) for error in exc.errors()]) from exc


def _describe(error: ErrorDetails) -> str:
    """One pydantic error as "example 3, 'say': Field required" (or without the parts it has no place for)."""
    where = list(error["loc"])
    place = []
    if where and isinstance(where[0], int):
        place.append(f"example {where.pop(0)}")
    if where:
        place.append(repr(".".join(str(part) for part in where)))
    return (", ".join(place) + ": " if place else "") + error["msg"]
