"""The `file_operation` tool's dispatch: one operation name and its arguments to a `Workspace` call.

Kept apart from `server.py` so the tool wrapper stays a few lines and this table can be tested
without an MCP client. Returns the seed's `{success, filepath, content, message}` shape.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mcp_server.contract import CHANGED_KEY
from mcp_server.workspace import Frame, Workspace, WorkspaceError

Operation = Literal[
    "create", "read", "write", "append", "insert", "replace", "save_as", "list", "backup", "restore", "delete"
]


class FileResult(BaseModel):
    """What file_operation returns (the seed's contract plus paging, diff and listing fields)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    success: bool
    filepath: str
    content: str
    message: str
    total_lines: int | None = None
    next_start_line: int | None = None
    diff: str | None = None
    files: list[str] | None = None
    changed: list[str] = Field(
        default_factory=list,
        alias=CHANGED_KEY,
        description="Workspace paths this call created, wrote, copied to, restored or deleted; empty for reads, "
        "listings, backups and dry runs (the voice client's file view shows these)",
    )


def _need(value: str | int | None, name: str, operation: str) -> str | int:
    if value is None:
        raise WorkspaceError(f"'{operation}' needs {name}.")
    return value


def run_file_operation(
    workspace: Workspace,
    operation: Operation,
    filename: str,
    *,
    content: str | None = None,
    line_number: int | None = None,
    pattern: str | None = None,
    replacement: str | None = None,
    new_filename: str | None = None,
    regex: bool = False,
    dry_run: bool = False,
    start_line: int = 1,
    max_lines: int = 200,
    backup_name: str | None = None,
    overwrite: bool = False,
    frame: Frame | None = None,
) -> FileResult:
    """Run one operation; returns its result, whose `changed` lists the workspace names it changed.

    Raises:
        WorkspaceError: a refused path, a missing file or argument, a pattern not found, too big.
    """
    if operation == "list":
        files = workspace.list_files()
        listing = "\n".join(f"{name} ({size} bytes)" for name, size in files)
        return FileResult(
            success=True,
            filepath="",
            content=listing,
            files=[n for n, _ in files],
            message=f"{len(files)} file(s) in the workspace.",
        )
    path = workspace.resolve(filename)
    name = workspace.relative(path)
    if operation == "read":
        page = workspace.read(filename, start_line, max_lines)
        more = page.end_line < page.total_lines
        return FileResult(
            success=True,
            filepath=name,
            content=page.content,
            total_lines=page.total_lines,
            next_start_line=page.end_line + 1 if more else None,
            message=f"Lines {page.start_line}-{page.end_line} of {page.total_lines}."
            + (f" Read on from line {page.end_line + 1}." if more else ""),
        )
    if operation in ("create", "write"):
        text = content or ""
        text = frame.apply(text) if frame else text
        if operation == "create":
            workspace.create(filename, text)
        else:
            workspace.write(filename, text)
        verb = "Created" if operation == "create" else "Wrote"
        return FileResult(success=True, filepath=name, content=text, message=f"{verb} {name}.", changed=[name])
    if operation == "append" and frame is not None and not workspace.exists(filename):
        text = frame.apply(str(_need(content, "content", operation)))  # a deliverable's first words: framed
        workspace.create(filename, text)
        return FileResult(success=True, filepath=name, content=text, message=f"Created {name}.", changed=[name])
    if operation == "append":
        workspace.append(filename, str(_need(content, "content", operation)))
        return FileResult(
            success=True, filepath=name, content=content or "", message=f"Appended to {name}.", changed=[name]
        )
    if operation == "insert":
        line = int(_need(line_number, "line_number", operation))
        workspace.insert(filename, line, str(_need(content, "content", operation)))
        return FileResult(
            success=True,
            filepath=name,
            content=content or "",
            message=f"Inserted before line {line} of {name}.",
            changed=[name],
        )
    if operation == "replace":
        count, diff = workspace.replace(
            filename,
            str(_need(pattern, "pattern", operation)),
            str(_need(replacement, "replacement", operation)),
            regex=regex,
            dry_run=dry_run,
        )
        verb = "Would replace" if dry_run else "Replaced"
        return FileResult(
            success=True,
            filepath=name,
            content="",
            diff=diff,
            message=f"{verb} {count} occurrence(s) in {name}.",
            changed=[] if dry_run else [name],
        )
    if operation == "save_as" and content is not None:  # "save this as NAME": a write, whichever name was given
        target = new_filename or filename
        text = frame.apply(content) if frame else content
        written = workspace.relative(workspace.write(target, text))
        return FileResult(success=True, filepath=written, content=text, message=f"Saved {written}.", changed=[written])
    if operation == "save_as":
        target = str(_need(new_filename, "new_filename", operation))
        copy = workspace.relative(workspace.save_as(filename, target, overwrite=overwrite))
        return FileResult(success=True, filepath=copy, content="", message=f"Saved {name} as {copy}.", changed=[copy])
    if operation == "backup":
        backup = workspace.backup(filename)
        return FileResult(success=True, filepath=name, content=backup, message=f"Backed up {name} as {backup}.")
    if operation == "restore":
        chosen = workspace.restore(filename, backup_name)
        return FileResult(
            success=True, filepath=name, content="", message=f"Restored {name} from {chosen}.", changed=[name]
        )
    if operation == "delete":
        backup = workspace.delete(filename)
        return FileResult(
            success=True,
            filepath=name,
            content=backup,
            message=f"Deleted {name}; restore it with operation 'restore' (backup {backup}).",
            changed=[name],
        )
    raise WorkspaceError(f"Unknown operation {operation!r}.")
