"""`build_server(config)`: the MCP server with its tools, prompts and resources.

Tool wrappers are thin: the signature validates, a domain module (`scripts`, `workspace`, `library`)
does the work, and domain errors become `ToolError`s whose message the model can act on. Here: the server
itself (resources and tool list that change at run time) and the file tool; the script tools are in
`script_tools`, the library's in `library.tools`. What a result may carry to steer the client: `contract`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Iterator
from datetime import date
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.subscriptions import ResourceUpdated, ToolsListChanged
from mcp.types import CallToolResult, ToolAnnotations
from mcp.types import Resource as MCPResource
from mcp.types import Tool as MCPTool
from pydantic import Field

from mcp_server.audit import AuditLog
from mcp_server.config import Config
from mcp_server.file_operation import FileResult, Operation, run_file_operation
from mcp_server.library.loader import LibraryLoader, open_now
from mcp_server.library.sources import closest, workspace_name
from mcp_server.script_tools import client_key, register_script_tools, script_errors, script_prompt
from mcp_server.scripts import ScriptLibrary, ScriptSessions
from mcp_server.vocabulary import VOCABULARY_URI, spoken_vocabulary
from mcp_server.workspace import Frame, MissingFile, Workspace, WorkspaceError

if TYPE_CHECKING:
    from mcp_server.library.search import Library

logger = logging.getLogger(__name__)

INSTRUCTIONS = """Voice assistant skills: guided scripts (list_scripts, load_script, next_stage, goto_stage,
get_script_state, create_script), markdown files in the user's workspace (file_operation) and, when
enabled, search over the user's document library (search_library and friends). When a script is
loaded, follow the returned instructions; they change at each stage."""

FILE_ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)
"""file_operation is one tool for every file operation, so its hints are the most cautious of them: write,
replace, restore and delete change or remove what is there (each keeps a backup first, but a client should
still ask), and append or insert twice is not once. Reads and listings alone would be read-only."""


LIBRARY_START_DELAY_S = 1.0
"""How long after the first tools/list the library starts opening (a library call starts it at once)."""


class AssistantServer(MCPServer):
    """`MCPServer` whose resources/list also names each workspace file and script, whose tools/list describes
    search_library with the library's current catalogue, and whose vocabulary resource is each client's own
    (all of these change at run time)."""

    def __init__(
        self,
        workspace: Workspace,
        scripts: ScriptLibrary,
        library: Library | LibraryLoader | None = None,
        sessions: ScriptSessions | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.scripts = scripts
        self.library = library
        self.sessions = sessions
        self._loop: asyncio.AbstractEventLoop | None = None

    async def list_tools(self) -> list[MCPTool]:
        """The tools; search_library's description names the library's documents as they are now."""
        self._loop = asyncio.get_running_loop()
        tools = await super().list_tools()
        if self.library is None:
            return tools
        from mcp_server.library.tools import search_description

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
        """Tell `subscriptions/listen` subscribers that tools/list and the vocabulary changed; safe from any thread
        (the library's indexing thread calls it). Before the first tools/list or vocabulary read nobody can be
        listening for them, so it does nothing."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        bus = self._subscriptions

        def publish() -> None:
            loop.create_task(bus.publish(ToolsListChanged()))
            loop.create_task(bus.publish(ResourceUpdated(VOCABULARY_URI)))  # the library's words changed too

        loop.call_soon_threadsafe(publish)

    async def read_resource(self, uri: Any, context: Context | None = None) -> Any:
        """`VOCABULARY_URI` for the client asking (its script's terms, then the library's); other resources as
        registered."""
        if str(uri) != VOCABULARY_URI or self.sessions is None or context is None:
            return await super().read_resource(uri, context)
        self._loop = asyncio.get_running_loop()
        client, sessions, library = client_key(context), self.sessions, open_now(self.library)
        text = await anyio.to_thread.run_sync(lambda: spoken_vocabulary(client, self.scripts, sessions, library))
        return [ReadResourceContents(content=text, mime_type="text/plain")]

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        """Call the tool; a result that reports the client's script (it loaded or moved on) changes the words
        the client's user will say: subscribers to `VOCABULARY_URI` are told."""
        result = await super().call_tool(name, arguments, context)
        reported = isinstance(result, CallToolResult) and "script_name" in (result.structured_content or {})
        if reported and not result.is_error:
            await self._subscriptions.publish(ResourceUpdated(VOCABULARY_URI))
        return result

    async def list_resources(self) -> list[MCPResource]:
        """Static resources, then `workspace://<file>` for every file and `script://<name>` per script."""
        files = await anyio.to_thread.run_sync(self.workspace.list_files)
        scripts, _ = await anyio.to_thread.run_sync(self.scripts.scan)
        vocabulary = MCPResource(
            uri=VOCABULARY_URI,
            name="vocabulary",
            description="Words the user is likely to say (titles, names, rare words), for a speech-to-text prompt",
            mime_type="text/plain",
        )
        return [
            *await super().list_resources(),
            *([vocabulary] if self.sessions is not None else []),
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
    except WorkspaceError as exc:
        raise ToolError(str(exc)) from exc
    except OSError as exc:  # e.g. a name too long, a folder where a file is expected
        raise ToolError(f"The file system refused: {exc.strerror or exc}. Try a shorter or different name.") from exc


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
        sessions,
        name="realtime-mcp-assistant",
        version="0.1.0",
        instructions=INSTRUCTIONS,
        middleware=[AuditLog(config.audit_log)],
    )
    register_script_tools(mcp, scripts, sessions)
    _add_file_tool(mcp, workspace, sessions, library)
    _add_resources(mcp, workspace, scripts)
    for script in scripts.scan()[0].values():
        mcp.add_prompt(script_prompt(script))
    if library is not None:
        from mcp_server.library.tools import register_library_tools

        register_library_tools(mcp, library)

        def attach(opened: Library) -> None:
            opened.on_change = mcp.announce_tools_changed
            mcp.announce_tools_changed()  # search_library's description now names the documents

        if isinstance(library, LibraryLoader):
            library.when_open(attach)
        else:
            library.on_change = mcp.announce_tools_changed
    return mcp


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
        with script_errors():
            return json.dumps(scripts.get(name).model_dump(), indent=2)


def _spelled_alike(filename: str, workspace: Workspace) -> str | None:
    """The one workspace file a missing `filename` names but for case and separators ("packing_list.md" or
    "Packing List.md" for packing-list.md: a name heard has no hyphens); else None."""
    names = [name for name, _ in workspace.list_files()]
    alike = [name for name in names if _folded(name) == _folded(filename)]
    return alike[0] if len(alike) == 1 else None


def _folded(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name.lower())


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
    @mcp.tool(annotations=FILE_ANNOTATIONS)
    async def file_operation(
        operation: Annotated[Operation, Field(description="What to do")],
        ctx: Context,
        filename: Annotated[str, Field(description="Workspace file, e.g. 'notes.md'")] = "output.md",
        content: Annotated[str | None, Field(description="Text for create/write/append/insert (and save_as)")] = None,
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
        save_as (copy filename to new_filename; with content: write content to new_filename, or to filename when
        no new_filename is given), list (all files), backup, restore (undo to a backup), delete.
        Overwrites, replaces and deletes keep a backup first. Default file: output.md."""
        client = client_key(ctx)

        def run() -> FileResult:  # in a worker thread: file work never runs on the event loop
            frame = None
            target = new_filename if operation == "save_as" and content is not None and new_filename else filename
            writes = operation in ("create", "write", "append") or (operation == "save_as" and content is not None)
            if writes and (script := sessions.get(client).script_name) is not None:
                title = re.sub(r"[_-]+", " ", PurePosixPath(target).stem).strip().title()
                frame = Frame(title, script, date.today().isoformat())
            try:
                return run_file_operation(workspace, operation, filename, frame=frame, **args)
            except MissingFile:
                same = _spelled_alike(filename, workspace) if operation == "read" else None
                if same is None:
                    raise
                read = run_file_operation(workspace, operation, same, **args)
                return read.model_copy(update={"message": f"{filename!r} is {same!r}. {read.message}"})

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
