"""The guided-script tools (list, load, step, jump, state, create), their typed results and prompts.

Script state is kept per client (`client_key`); a script tool's result carries the stage's instructions,
which the voice client makes its session instructions (`contract.INSTRUCTIONS_KEY`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import Prompt
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from mcp_server.contract import INSTRUCTIONS_KEY, STAGE_KEY
from mcp_server.scripts import InvalidScript, Script, ScriptLibrary, ScriptSessions, UnknownScript, UnknownStage


class StageGuide(BaseModel):
    """The current stage as data, for a client that shapes its own coaching turns (the offline engine) or shows
    the stage (a page): the same content as the instructions, field by field."""

    name: str
    goal: str = Field(description="When this stage is done")
    opening: str = Field(description="How the coach opens the stage, word for word")
    questions: list[str] = Field(description="What the coach asks, one at a time, in this order")
    rules: list[str]
    techniques: list[str]
    actions: list[str] = Field(description="What the coach does in this stage (writes, suggests, saves)")
    feedback_areas: list[str] = Field(description="What feedback on the user's answers covers; empty: no feedback")
    next_stage: str | None = Field(description="The stage next_stage moves to; null in the last stage")
    deliverable_file: str | None = Field(description="Where the script's result is saved unless the user names a file")
    turn_start: str | None = Field(default=None, description="How each of the coach's turns begins, e.g. 'Yes, and'")
    offers: int = Field(default=0, description="New ideas the coach offers in each of its turns (0: none)")


class ScriptResult(BaseModel):
    """What load_script, next_stage, goto_stage and get_script_state return."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    success: bool
    script_name: str | None = Field(description="The running script, or null when none is")
    title: str | None = Field(default=None, description="The running script's title")
    current_stage: str | None = Field(description="The current stage's name, or null when no script runs")
    stage_number: int = Field(description="1-based number of the current stage; 0 when no script runs")
    stages: list[str] = Field(description="The script's stage names, in order")
    instructions: str = Field(
        alias=INSTRUCTIONS_KEY,
        description="How to coach the user in this stage; the voice client makes it the session's instructions "
        "(empty when no script runs)",
    )
    message: str
    stage: StageGuide | None = Field(
        default=None, alias=STAGE_KEY, description="The current stage as data; null when no script runs"
    )


class ScriptSummary(BaseModel):
    """One script list_scripts offers."""

    name: str = Field(description="What load_script takes, e.g. 'blog_writer'")
    title: str
    description: str
    stages: list[str] = Field(description="Stage names, in order")


class ScriptList(BaseModel):
    """What list_scripts returns."""

    scripts: list[ScriptSummary]
    errors: list[str] = Field(description="One message per script file that could not be loaded (file and field)")


class CreatedScript(BaseModel):
    """What create_script returns."""

    success: bool
    script_name: str
    stages: list[str]
    message: str


READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
"""list_scripts, get_script_state: they only read."""
# The others change only where this client's script stands (one small state file), which load_script and
# goto_stage can set again: not destructive. create_script adds a file and refuses an existing name.
MOVE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
"""load_script, goto_stage: the same call twice leaves the same state."""
STEP = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
"""next_stage (each call advances), create_script (a second call finds the name taken)."""


@contextlib.contextmanager
def script_errors() -> Iterator[None]:
    """Script errors become ToolErrors; their messages name the valid scripts or stages."""
    try:
        yield
    except (UnknownScript, UnknownStage, InvalidScript) as exc:
        raise ToolError(str(exc)) from exc


def client_key(ctx: Context) -> str:
    """Whose script state a call reads and writes, so that two users never share one by accident:

    1. the `X-Client-Id` header, an identity the client chooses (the voice client sends a random one per
       run): kept across reconnects and server restarts;
    2. else the MCP session (streamable HTTP): one conversation, even when clients share the SDK's
       default name;
    3. else (stdio, in memory: the process serves one client) the MCP client name, kept across restarts.
    """
    headers = ctx.headers or {}
    if headers.get("x-client-id"):
        return "id-" + headers["x-client-id"]
    if headers.get("mcp-session-id"):  # the transport answers 404 to an id it did not issue
        return "session-" + headers["mcp-session-id"]
    with contextlib.suppress(AttributeError, ValueError):
        params = ctx.session.client_params
        if params is not None and params.client_info.name:
            return "client-" + params.client_info.name
    return "default"


def script_prompt(script: Script) -> Prompt:
    """The MCP prompt that starts `script` (its first stage's instructions)."""

    def start() -> str:
        return script.instructions(0) + "\n\nStart the session now."

    return Prompt.from_function(start, name=script.name, title=script.title, description=script.description)


def _script_result(script: Script, index: int, message: str) -> ScriptResult:
    stage = script.stages[index]
    guide = StageGuide(
        name=stage.name,
        goal=stage.goal,
        opening=stage.prompt,
        questions=stage.questions,
        rules=stage.rules,
        techniques=stage.techniques,
        actions=stage.actions,
        feedback_areas=stage.feedback_areas,
        next_stage=script.stages[index + 1].name if index + 1 < len(script.stages) else None,
        deliverable_file=script.deliverable_file,
        turn_start=stage.turn_start,
        offers=stage.offers,
    )
    return ScriptResult(
        success=True,
        script_name=script.name,
        title=script.title,
        current_stage=stage.name,
        stage_number=index + 1,
        stages=script.stage_names(),
        instructions=script.instructions(index),
        message=message,
        stage=guide,
    )


def _active(scripts: ScriptLibrary, sessions: ScriptSessions, ctx: Context) -> tuple[Script, int]:
    state = sessions.get(client_key(ctx))
    if state.script_name is None:
        raise ToolError("No script is running; call load_script first (see list_scripts).")
    with script_errors():
        script = scripts.get(state.script_name)
    return script, min(state.stage_index, len(script.stages) - 1)


def register_script_tools(mcp: MCPServer, scripts: ScriptLibrary, sessions: ScriptSessions) -> None:
    """Add list_scripts, load_script, next_stage, goto_stage, get_script_state and create_script."""

    @mcp.tool(annotations=READ_ONLY)
    def list_scripts() -> ScriptList:
        """List the guided scripts the user can start (name, title, description, stages)."""
        found, errors = scripts.scan()
        summaries = [
            ScriptSummary(name=s.name, title=s.title, description=s.description, stages=s.stage_names())
            for s in found.values()
        ]
        return ScriptList(scripts=summaries, errors=errors)

    found, _ = scripts.scan()
    catalogue = "; ".join(f"{name} = {script.title}" for name, script in found.items())

    @mcp.tool(
        annotations=MOVE,
        description=f"Start a guided script at its first stage: {catalogue}. Switches away from any running "
        "script; the script already running carries on where it is (goto_stage starts it over). Follow the "
        "returned instructions: they tell you how to coach the user in this stage.",
    )
    def load_script(
        script_name: Annotated[str, Field(description="The script's name, e.g. blog_writer (list_scripts has all)")],
        ctx: Context,
    ) -> ScriptResult:
        with script_errors():
            script = scripts.get(script_name)
        state = sessions.get(client_key(ctx))
        if state.script_name == script.name:  # a small model reloads on every line; never restart the user's work
            index = min(state.stage_index, len(script.stages) - 1)
            stage = script.stages[index].name
            return _script_result(
                script, index, f"{script.title} is already running, at stage {stage}: carry on with it."
            )
        sessions.put(client_key(ctx), script.name, 0)
        return _script_result(script, 0, f"Loaded {script.title}; starting with {script.stages[0].name}.")

    @mcp.tool(annotations=STEP)
    def next_stage(ctx: Context) -> ScriptResult:
        """Move the running script to its next stage when the current stage's goal is met."""
        script, index = _active(scripts, sessions, ctx)
        if index + 1 >= len(script.stages):
            raise ToolError(f"{script.name} is already at its last stage ({script.stages[index].name}).")
        sessions.put(client_key(ctx), script.name, index + 1)
        return _script_result(script, index + 1, f"Now in stage {script.stages[index + 1].name}.")

    @mcp.tool(annotations=MOVE)
    def goto_stage(
        stage: Annotated[str, Field(description="Stage name, e.g. 'outline'")], ctx: Context
    ) -> ScriptResult:
        """Jump the running script to a named stage (back or forward)."""
        script, _ = _active(scripts, sessions, ctx)
        with script_errors():
            index = script.stage_index(stage)
        sessions.put(client_key(ctx), script.name, index)
        return _script_result(script, index, f"Now in stage {stage}.")

    @mcp.tool(annotations=READ_ONLY)
    def get_script_state(ctx: Context) -> ScriptResult:
        """Which script and stage are running for this user, with the stage's instructions."""
        state = sessions.get(client_key(ctx))
        if state.script_name is None:
            return ScriptResult(
                success=True,
                script_name=None,
                current_stage=None,
                stage_number=0,
                stages=[],
                instructions="",
                message="No script is running; use list_scripts and load_script.",
            )
        script, index = _active(scripts, sessions, ctx)
        return _script_result(script, index, f"Running {script.name}, stage {script.stages[index].name}.")

    @mcp.tool(annotations=STEP)
    async def create_script(
        definition: Annotated[
            dict[str, Any],
            Field(
                description="Script JSON: name (snake_case), title, description, persona, stages: "
                "[{name, goal, prompt, questions?, rules?, techniques?, actions?, feedback_areas?}], "
                "deliverable_file? (e.g. 'plan.md')"
            ),
        ],
        ctx: Context,
    ) -> CreatedScript:
        """Save a brand-new guided script the user has designed with you, only when they ask to author one.

        To start one of the existing scripts use load_script instead. The new script can be loaded at once."""
        with script_errors():
            script = await anyio.to_thread.run_sync(scripts.create, definition)
        mcp.add_prompt(script_prompt(script))
        with contextlib.suppress(ValueError):
            await ctx.notify_prompts_changed()
            await ctx.notify_resources_changed()
        return CreatedScript(
            success=True,
            script_name=script.name,
            stages=script.stage_names(),
            message=f"Saved script {script.name}; say 'load {script.name}' to start it.",
        )
