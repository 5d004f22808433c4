"""Guided scripts: the JSON schema, loading `scripts/*.json`, stage instructions and per-client state.

A script is a coach persona plus ordered stages. Files are validated on every scan, so a new JSON
dropped into the folder appears without code changes and a broken one is reported (file and field)
while the others still load. Which script and stage each client is on is kept in a small JSON file
per client under the workspace, so it survives a reconnect.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mcp_server.root_folder import RootFolder, write_file_atomically

logger = logging.getLogger(__name__)

_NAME = r"^[a-z][a-z0-9_]{1,47}$"


class UnknownScript(LookupError):
    """No script of that name; the message lists the available ones."""


class UnknownStage(LookupError):
    """No stage of that name in the script; the message lists the stages."""


class InvalidScript(ValueError):
    """A script definition failed validation; the message names the file (if any) and the fields."""


class Stage(BaseModel):
    """One stage of a script: what the coach says, asks and does while the user is in it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=_NAME, description="snake_case id, e.g. 'discovery'")
    goal: str = Field(min_length=1, description="When this stage is done")
    prompt: str = Field(min_length=1, description="How the coach opens the stage")
    questions: list[str] = []
    rules: list[str] = []
    techniques: list[str] = []
    actions: list[str] = []
    feedback_areas: list[str] = []
    turn_start: str | None = Field(
        default=None, max_length=40, description="How each of the coach's turns in this stage begins, e.g. 'Yes, and'"
    )
    offers: int = Field(default=0, ge=0, le=5, description="New ideas the coach offers in each of its turns (0: none)")


class Script(BaseModel):
    """A guided script as stored in `scripts/<name>.json`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=_NAME, description="snake_case id; equals the file name without .json")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    persona: str = Field(min_length=1, description="Who the coach is and how it talks")
    stages: list[Stage] = Field(min_length=1)
    output_format: Literal["markdown"] = "markdown"
    deliverable: str | None = Field(default=None, description="What the session produces, e.g. 'idea_map'")
    deliverable_file: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-]+\.md$")
    save_transcript: bool = False

    @field_validator("stages")
    @classmethod
    def _unique_stage_names(cls, stages: list[Stage]) -> list[Stage]:
        names = [s.name for s in stages]
        if len(names) != len(set(names)):
            raise ValueError(f"stage names must be unique, got {names}")
        return stages

    def stage_names(self) -> list[str]:
        """Stage names in order."""
        return [s.name for s in self.stages]

    def stage_index(self, stage: str) -> int:
        """Index of the named stage. Raises UnknownStage listing the stages."""
        names = self.stage_names()
        if stage not in names:
            raise UnknownStage(f"No stage {stage!r} in {self.name}. Stages: {', '.join(names)}.")
        return names.index(stage)

    def instructions(self, index: int) -> str:
        """The coach's instructions for stage `index`: persona, stage guidance and how to move on."""
        stage = self.stages[index]
        parts = [
            f"{self.persona}",
            f"You are running the guided script '{self.title}' ({self.name}), stage {index + 1} of "
            f"{len(self.stages)}: {stage.name}.",
            f"Open with: {stage.prompt}",
            f"This stage is done when: {stage.goal}",
        ]
        if stage.turn_start:
            parts.append(f"Begin each of your turns with: {stage.turn_start}")
        if stage.offers:
            parts.append(f"Offer {stage.offers} new ideas in each of your turns, a few words each.")
        for label, items in (
            ("Ask", stage.questions),
            ("Rules", stage.rules),
            ("Techniques", stage.techniques),
            ("Actions", stage.actions),
            ("Give feedback on", stage.feedback_areas),
        ):
            if items:
                parts.append(f"{label}: " + "; ".join(items))
        if index + 1 < len(self.stages):
            parts.append(f"When the stage is done, call next_stage to move to '{self.stages[index + 1].name}'.")
        else:
            parts.append("This is the last stage.")
        if self.deliverable_file:
            parts.append(f"Save the {self.deliverable or 'result'} with file_operation to '{self.deliverable_file}'.")
        parts.append("Keep spoken turns short: one or two sentences, then let the user talk.")
        return "\n".join(parts)


def _format_errors(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in error.errors())


def parse_script(data: Any, source: str = "definition") -> Script:
    """Validate a script definition (a dict). Raises InvalidScript naming the source and fields."""
    try:
        return Script.model_validate(data)
    except ValidationError as exc:
        raise InvalidScript(f"{source} is not a valid script: {_format_errors(exc)}") from exc


class ScriptLibrary:
    """The scripts in a folder, re-scanned on every call (cheap: a handful of small files)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def scan(self) -> tuple[dict[str, Script], list[str]]:
        """All valid scripts by name, and one error message per broken file (file and field named)."""
        scripts: dict[str, Script] = {}
        errors: list[str] = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                script = parse_script(data, source=path.name)
                if script.name != path.stem:
                    raise InvalidScript(f"{path.name}: name {script.name!r} must equal the file name {path.stem!r}")
            except (OSError, json.JSONDecodeError, InvalidScript) as exc:
                message = str(exc) if isinstance(exc, InvalidScript) else f"{path.name}: {exc}"
                logger.warning("Skipping script: %s", message)
                errors.append(message)
                continue
            scripts[script.name] = script
        return scripts, errors

    def get(self, name: str) -> Script:
        """The named script. Raises UnknownScript listing the available names."""
        scripts, _ = self.scan()
        if name not in scripts:
            raise UnknownScript(f"No script {name!r}. Available: {', '.join(sorted(scripts)) or 'none'}.")
        return scripts[name]

    def create(self, definition: dict[str, Any], overwrite: bool = False) -> Script:
        """Validate and save a new script as `<name>.json` (atomic). Raises InvalidScript."""
        script = parse_script(definition)
        target = self.folder / f"{script.name}.json"
        if target.exists() and not overwrite:
            raise InvalidScript(f"A script named {script.name!r} exists; choose another name or set overwrite.")
        _atomic_json(target, script.model_dump(exclude_defaults=True))
        return script


@dataclass
class ScriptState:
    """Where one client is: the active script and stage (None when no script is loaded)."""

    script_name: str | None = None
    stage_index: int = 0
    updated_at: str = ""


class ScriptSessions:
    """Per-client script state, persisted as `<state_dir>/<client key>.json`.

    `state_dir` is opened from its parent without following a link (a `.sessions` replaced by a symlink
    to elsewhere is refused, never written through): state then starts fresh and is not saved.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._root = RootFolder(state_dir.parent)

    def get(self, client: str) -> ScriptState:
        """The client's state; a fresh one if none was saved or the file is unreadable."""
        try:
            folder = self._root.open_folder((self.state_dir.name,))
            try:
                data = json.loads(self._root.read(folder, self._name(client)).decode("utf-8"))
            finally:
                os.close(folder)
            return ScriptState(**{k: data[k] for k in ("script_name", "stage_index", "updated_at")})
        except (OSError, ValueError, KeyError, TypeError):
            return ScriptState()

    def put(self, client: str, script_name: str, stage_index: int) -> ScriptState:
        """Save and return the client's new state.

        Raises:
            OSError: the state folder is a link (ELOOP/ENOTDIR) or cannot be written.
        """
        state = ScriptState(script_name, stage_index, datetime.now(UTC).isoformat(timespec="seconds"))
        data = (json.dumps(state.__dict__, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        folder = self._root.open_folder((self.state_dir.name,), create=True)
        try:
            self._root.write_atomically(folder, self._name(client), data)
        finally:
            os.close(folder)
        return state

    def _name(self, client: str) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", client)[:80] or "default"
        return f"{safe}.json"


def _atomic_json(target: Path, data: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(target, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
