"""`build_server(config)`: the MCP server with its tools, prompts and resources.

Tool wrappers are thin: the signature validates, a domain module (`scripts`, `workspace`, `library`)
does the work, and domain errors become `ToolError`s whose message the model can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import Prompt
from mcp.server.subscriptions import ToolsListChanged
from mcp.types import Resource as MCPResource
from mcp.types import Tool as MCPTool
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from mcp_server.audit import AuditLog
from mcp_server.config import Config
from mcp_server.file_operation import FileResult, Operation, run_file_operation
from mcp_server.library_loader import LibraryLoader, open_now
from mcp_server.scripts import InvalidScript, Script, ScriptLibrary, ScriptSessions, UnknownScript, UnknownStage
from mcp_server.sources import closest, workspace_name
from mcp_server.workspace import Frame, MissingFile, Workspace, WorkspaceError

if TYPE_CHECKING:
    from mcp_server.library import Library

logger = logging.getLogger(__name__)

INSTRUCTIONS = """Voice assistant skills: guided scripts (list_scripts, load_script, next_stage, goto_stage,
get_script_state, create_script), markdown files in the user's workspace (file_operation) and, when
enabled, search over the user's document library (search_library and friends). When a script is
loaded, follow the returned instructions; they change at each stage."""


class ScriptResult(BaseModel):
    """What load_script, next_stage, goto_stage and get_script_state return."""

    success: bool
    script_name: str | None
    current_stage: str | None
    stage_number: int
    stages: list[str]
    instructions: str
    message: str


LIBRARY_START_DELAY_S = 1.0
"""How long after the first tools/list the library starts opening (a library call starts it at once)."""


class AssistantServer(MCPServer):
    """`MCPServer` whose resources/list also names each workspace file and script, and whose tools/list
    describes search_library with the library's current catalogue (all of these change at run time)."""

    def __init__(
        self,
        workspace: Workspace,
        scripts: ScriptLibrary,
        library: Library | LibraryLoader | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.scripts = scripts
        self.library = library
        self._loop: asyncio.AbstractEventLoop | None = None

    async def list_tools(self) -> list[MCPTool]:
        """The tools; search_library's description names the library's documents as they are now."""
        self._loop = asyncio.get_running_loop()
        tools = await super().list_tools()
        if self.library is None:
            return tools
        from mcp_server.library_tools import search_description

        library = open_now(self.library)
        catalogue = None if library is None else await anyio.to_thread.run_sync(library.catalogue)
        if isinstance(self.library, LibraryLoader) and library is None:
            # Not now: the import would hold the GIL while this answer and the client's next requests are sent.
            self._loop.call_later(LIBRARY_START_DELAY_S, self.library.start)
        return [
            t.model_copy(update={"description": search_description(catalogue)}) if t.name == "search_library" else t
            for t in tools
        ]

    def announce_tools_changed(self) -> None:
        """Tell `subscriptions/listen` subscribers that tools/list changed; safe from any thread (the library's
        indexing thread calls it). Before the first tools/list nobody can be listening, so it does nothing."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        bus = self._subscriptions

        def publish() -> None:
            loop.create_task(bus.publish(ToolsListChanged()))

        loop.call_soon_threadsafe(publish)

    async def list_resources(self) -> list[MCPResource]:
        """Static resources, then `workspace://<file>` for every file and `script://<name>` per script."""
        files = await anyio.to_thread.run_sync(self.workspace.list_files)
        scripts, _ = await anyio.to_thread.run_sync(self.scripts.scan)
        return [
            *await super().list_resources(),
            *(MCPResource(uri=f"workspace://{n}", name=n, mime_type="text/markdown", size=s) for n, s in files),
            *(
                MCPResource(uri=f"script://{n}", name=n, title=s.title, mime_type="application/json")
                for n, s in scripts.items()
            ),
        ]


@contextlib.contextmanager
def _as_tool_errors() -> Iterator[None]:
    try:
        yield
    except (WorkspaceError, UnknownScript, UnknownStage, InvalidScript) as exc:
        raise ToolError(str(exc)) from exc
    except OSError as exc:  # e.g. a name too long, a folder where a file is expected
        raise ToolError(f"The file system refused: {exc.strerror or exc}. Try a shorter or different name.") from exc


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


def build_server(config: Config, library: Library | LibraryLoader | None = None) -> AssistantServer:
    """The assistant's MCP server over `config`'s folders; library tools when `library` is given (a
    `LibraryLoader` lets the server answer before the library is open)."""
    workspace = Workspace(config.workspace_dir, config.max_write_bytes)
    scripts = ScriptLibrary(config.scripts_dir)
    sessions = ScriptSessions(config.state_dir)
    mcp = AssistantServer(
        workspace,
        scripts,
        library,
        name="realtime-mcp-assistant",
        version="0.1.0",
        instructions=INSTRUCTIONS,
        middleware=[AuditLog(config.audit_log)],
    )
    _add_script_tools(mcp, scripts, sessions)
    _add_file_tool(mcp, workspace, sessions, library)
    _add_resources(mcp, workspace, scripts)
    for script in scripts.scan()[0].values():
        mcp.add_prompt(_script_prompt(script))
    if library is not None:
        from mcp_server.library_tools import register_library_tools

        register_library_tools(mcp, library)

        def attach(opened: Library) -> None:
            opened.on_change = mcp.announce_tools_changed
            mcp.announce_tools_changed()  # search_library's description now names the documents

        if isinstance(library, LibraryLoader):
            library.when_open(attach)
        else:
            library.on_change = mcp.announce_tools_changed
    return mcp


def _script_result(script: Script, index: int, message: str) -> ScriptResult:
    return ScriptResult(
        success=True,
        script_name=script.name,
        current_stage=script.stages[index].name,
        stage_number=index + 1,
        stages=script.stage_names(),
        instructions=script.instructions(index),
        message=message,
    )


def _add_script_tools(mcp: MCPServer, scripts: ScriptLibrary, sessions: ScriptSessions) -> None:
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @mcp.tool(annotations=read_only)
    def list_scripts() -> dict[str, Any]:
        """List the guided scripts the user can start (name, title, description, stages)."""
        found, errors = scripts.scan()
        return {
            "scripts": [
                {"name": s.name, "title": s.title, "description": s.description, "stages": s.stage_names()}
                for s in found.values()
            ],
            "errors": errors,
        }

    found, _ = scripts.scan()
    catalogue = "; ".join(f"{name} = {script.title}" for name, script in found.items())

    @mcp.tool(
        annotations=ToolAnnotations(idempotent_hint=True, open_world_hint=False),
        description=f"Start a guided script at its first stage: {catalogue}. Switches away from any running "
        "script. Follow the returned instructions: they tell you how to coach the user in this stage.",
    )
    def load_script(
        script_name: Annotated[str, Field(description="The script's name, e.g. blog_writer (list_scripts has all)")],
        ctx: Context,
    ) -> ScriptResult:
        with _as_tool_errors():
            script = scripts.get(script_name)
        sessions.put(client_key(ctx), script.name, 0)
        return _script_result(script, 0, f"Loaded {script.title}; starting with {script.stages[0].name}.")

    @mcp.tool(annotations=ToolAnnotations(open_world_hint=False))
    def next_stage(ctx: Context) -> ScriptResult:
        """Move the running script to its next stage when the current stage's goal is met."""
        script, index = _active(scripts, sessions, ctx)
        if index + 1 >= len(script.stages):
            raise ToolError(f"{script.name} is already at its last stage ({script.stages[index].name}).")
        sessions.put(client_key(ctx), script.name, index + 1)
        return _script_result(script, index + 1, f"Now in stage {script.stages[index + 1].name}.")

    @mcp.tool(annotations=ToolAnnotations(idempotent_hint=True, open_world_hint=False))
    def goto_stage(
        stage: Annotated[str, Field(description="Stage name, e.g. 'outline'")], ctx: Context
    ) -> ScriptResult:
        """Jump the running script to a named stage (back or forward)."""
        script, _ = _active(scripts, sessions, ctx)
        with _as_tool_errors():
            index = script.stage_index(stage)
        sessions.put(client_key(ctx), script.name, index)
        return _script_result(script, index, f"Now in stage {stage}.")

    @mcp.tool(annotations=read_only)
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

    @mcp.tool(annotations=ToolAnnotations(open_world_hint=False))
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
    ) -> dict[str, Any]:
        """Save a brand-new guided script the user has designed with you, only when they ask to author one.

        To start one of the existing scripts use load_script instead. The new script can be loaded at once."""
        with _as_tool_errors():
            script = await anyio.to_thread.run_sync(scripts.create, definition)
        mcp.add_prompt(_script_prompt(script))
        with contextlib.suppress(ValueError):
            await ctx.notify_prompts_changed()
            await ctx.notify_resources_changed()
        return {
            "success": True,
            "script_name": script.name,
            "stages": script.stage_names(),
            "message": f"Saved script {script.name}; say 'load {script.name}' to start it.",
        }


def _active(scripts: ScriptLibrary, sessions: ScriptSessions, ctx: Context) -> tuple[Script, int]:
    state = sessions.get(client_key(ctx))
    if state.script_name is None:
        raise ToolError("No script is running; call load_script first (see list_scripts).")
    with _as_tool_errors():
        script = scripts.get(state.script_name)
    return script, min(state.stage_index, len(script.stages) - 1)


def _script_prompt(script: Script) -> Prompt:
    def start() -> str:
        return script.instructions(0) + "\n\nStart the session now."

    return Prompt.from_function(start, name=script.name, title=script.title, description=script.description)


def _add_resources(mcp: MCPServer, workspace: Workspace, scripts: ScriptLibrary) -> None:
    @mcp.resource("workspace://{+path}", name="workspace_file", mime_type="text/markdown")
    def workspace_file(path: str) -> str:
        """A markdown or text file of the workspace."""
        with _as_tool_errors():
            page = workspace.read(path, 1, 10**9)
        return page.content

    @mcp.resource("script://{name}", name="script", mime_type="application/json")
    def script_definition(name: str) -> str:
        """A guided script's JSON definition."""
        with _as_tool_errors():
            return json.dumps(scripts.get(name).model_dump(), indent=2)


def _missing(missing: MissingFile, workspace: Workspace, library: Library | LibraryLoader | None) -> str:
    """The message for a workspace file that does not exist: the closest names in the workspace and library."""
    filename = missing.filename
    names = {name: name for name, _ in workspace.list_files()}
    found = [f"{name} (workspace)" for name in closest(filename, names)]
    library = open_now(library)
    if library is not None:
        for document in library.closest(filename):
            name = workspace_name(document.document_id)
            if name is None:
                found.append(
                    f"{document.document_id} ('{document.title}' in the library: search_library finds its facts)"
                )
            elif f"{name} (workspace)" not in found:
                found.append(f"{name} (workspace)")
    if not found:
        return str(missing)
    return f"{filename!r} does not exist. Closest: {'; '.join(found[:4])}."


def _add_file_tool(
    mcp: MCPServer, workspace: Workspace, sessions: ScriptSessions, library: Library | LibraryLoader | None
) -> None:
    @mcp.tool(annotations=ToolAnnotations(destructive_hint=True, open_world_hint=False))
    async def file_operation(
        operation: Annotated[Operation, Field(description="What to do")],
        ctx: Context,
        filename: Annotated[str, Field(description="Workspace file, e.g. 'notes.md'")] = "output.md",
        content: Annotated[str | None, Field(description="Text for create/write/append/insert")] = None,
        line_number: Annotated[int | None, Field(ge=1, description="insert: before this line (1-based)")] = None,
        pattern: Annotated[str | None, Field(description="replace: the exact text to find")] = None,
        replacement: Annotated[str | None, Field(description="replace: the new text")] = None,
        new_filename: Annotated[str | None, Field(description="save_as: the copy's name")] = None,
        regex: Annotated[bool, Field(description="replace: treat pattern as a regular expression")] = False,
        dry_run: Annotated[bool, Field(description="replace: only return the diff, change nothing")] = False,
        start_line: Annotated[int, Field(ge=1, description="read: first line (1-based)")] = 1,
        max_lines: Annotated[int, Field(ge=1, le=2000, description="read: lines per page")] = 200,
        backup_name: Annotated[str | None, Field(description="restore: which backup (default newest)")] = None,
        overwrite: Annotated[bool, Field(description="save_as: replace an existing file")] = False,
    ) -> FileResult:
        """Read and edit markdown files in the user's workspace (.md, .markdown, .txt).

        Operations: create (new file), read (paged by lines), write (overwrite), append (add to end),
        insert (before line_number), replace (literal find/replace of pattern; dry_run shows the diff),
        save_as (copy to new_filename), list (all files), backup, restore (undo to a backup), delete.
        Overwrites, replaces and deletes keep a backup first. Default file: output.md."""
        client = client_key(ctx)

        def run() -> FileResult:  # in a worker thread: file work never runs on the event loop
            frame = None
            if operation in ("create", "write") and (script := sessions.get(client).script_name) is not None:
                frame = Frame(PurePosixPath(filename).stem.replace("_", " ").title(), script, date.today().isoformat())
            return run_file_operation(workspace, operation, filename, frame=frame, **args)

        args = dict(
            content=content,
            line_number=line_number,
            pattern=pattern,
            replacement=replacement,
            new_filename=new_filename,
            regex=regex,
            dry_run=dry_run,
            start_line=start_line,
            max_lines=max_lines,
            backup_name=backup_name,
            overwrite=overwrite,
        )
        with _as_tool_errors():
            try:
                result = await anyio.to_thread.run_sync(run)
            except MissingFile as exc:
                message = await anyio.to_thread.run_sync(_missing, exc, workspace, library)
                raise ToolError(message) from exc
        if (opened := open_now(library)) is not None and result.changed:
            opened.refresh(list(result.changed))  # searched again before the next query (or indexed on opening)
        for name in result.changed:
            with contextlib.suppress(ValueError):
                await ctx.notify_resource_updated(f"workspace://{name}")
        if result.changed:
            with contextlib.suppress(ValueError):
                await ctx.notify_resources_changed()
        return result
