"""Markdown files confined to one workspace folder: safe names, no links, atomic writes, backups, locks.

Every name a caller gives is relative to the workspace root and checked as text first (`names.py`:
`.md`, `.markdown` or `.txt`, no `..`, no hidden component, so the workspace's own `.backups/`, `.locks/`,
`.sessions/` and `.audit.log` are out of reach). Then every call acts through descriptors opened from the
root component by component without following symlinks (`root_folder.py`), so a folder swapped for a link
between a check and its use can never make the server read, write or delete outside. Writes go to a temp
file that is fsynced and renamed, so a crash leaves the old or the new file. Writers to one file are
serialised with `flock`, which also holds across processes (stdio and HTTP servers together).
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import re2

from mcp_server.names import ALLOWED_SUFFIXES, BadName, check_name
from mcp_server.root_folder import NOT_FOLLOWED, TEMP_PREFIX, TEMP_SUFFIX, RootFolder

ORPHAN_AGE_S = 600
"""Temp files older than this are a crashed write's leftovers, removed when a server starts."""
LOCK_BUCKETS = 256
"""Files hash into this many lock files under `.locks/` (bounded, whatever names are used)."""
_BACKUPS = ".backups"
_LOCKS = ".locks"
_STAMP = re.compile(r"\d{8}-\d{6}-\d{6}")
"""The timestamp a backup's name carries between the file's stem and suffix."""
_FOOTER = re.compile(r"\n*---\n\*Created on: [^*\n]+\*\n\*Script used: [^*\n]+\*\n*\Z")
_ANY_FOOTER = re.compile(
    r"\n*(?:^---[ \t]*\n)?^\*Created on: [^*\n]+\*[ \t]*\n\*Script used: [^*\n]+\*[ \t]*(?:\n|\Z)", re.M
)
"""The frame's footer wherever it is (a model rewriting a file may copy it into the middle, or twice)."""
_IMITATED = re.compile(
    r"^\*(?:[A-Z][a-z]+ )?(?:on|for [a-z ]+|by|reasons?[a-z ]*): [^\n]*$|^\*[A-Z][a-z]+ on: [^\n]*$", re.M
)
"""Italic metadata lines a model writes after the frame's example ("*Modified on: 2026-12-05*"): the frame's own."""


class WorkspaceError(ValueError):
    """An operation was refused; the message says what to do instead. Nothing was written."""


class OutsideWorkspace(WorkspaceError):
    """The path would leave the workspace, or names something that is not a workspace file."""


class MissingFile(WorkspaceError):
    """The workspace has no file of this name (`filename`, as asked)."""

    def __init__(self, filename: str) -> None:
        super().__init__(f"{filename!r} does not exist; use 'list' to see the files or 'create' it.")
        self.filename = filename


@dataclass(frozen=True)
class Frame:
    """The seed's markdown frame for a script deliverable: a title, then a dated footer."""

    title: str
    script_name: str
    date: str

    def apply(self, text: str) -> str:
        """Return `text` with a `# title` first line (unless it opens with a heading) and exactly one footer, at the
        end."""
        body = _IMITATED.sub("", _ANY_FOOTER.sub("\n", text)).strip("\n")
        if not re.match(r"\s*#{1,6} ", body):  # a heading of its own first: no second title above it
            body = f"# {self.title}\n\n{body}" if body else f"# {self.title}"
        return f"{body}\n\n---\n*Created on: {self.date}*\n*Script used: {self.script_name}*\n"


@dataclass(frozen=True)
class Page:
    """Lines `start_line`..`end_line` (1-based, inclusive) of a file of `total_lines` lines."""

    content: str
    start_line: int
    end_line: int
    total_lines: int


class Workspace:
    """The markdown files under `root`; every method takes names relative to it.

    Args:
        root: the workspace folder (created if missing), opened once.
        max_write_bytes: the largest file any write may produce, in UTF-8 bytes.
    """

    def __init__(self, root: Path, max_write_bytes: int = 1_000_000) -> None:
        self._fs = RootFolder(root)
        self.root = root.resolve()
        self.max_write_bytes = max_write_bytes
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Delete temp files a crashed write left (older than `ORPHAN_AGE_S`: a live write's is seconds old)."""
        now = time.time()
        for _folder, dirs, files, fd in self._fs.walk():
            dirs[:] = [d for d in dirs if d not in (_BACKUPS, _LOCKS)]
            for name in files:
                if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
                    with contextlib.suppress(OSError):
                        if now - os.stat(name, dir_fd=fd, follow_symlinks=False).st_mtime > ORPHAN_AGE_S:
                            os.unlink(name, dir_fd=fd)

    # -- names -----------------------------------------------------------------------------
    def resolve(self, filename: str) -> Path:
        """The path of a workspace file (not touched: nothing on disk is looked at or followed).

        Raises:
            OutsideWorkspace: for a name `names.check_name` refuses (empty, absolute, `..`, hidden, refused
                characters, wrong suffix, too long or deep).
        """
        return self.root / self._where(filename)

    def relative(self, path: Path) -> str:
        """The workspace-relative POSIX name of a path from `resolve`."""
        return path.relative_to(self.root).as_posix()

    def _where(self, filename: str) -> PurePosixPath:
        """The checked, NFC-normalised relative name; raises OutsideWorkspace as `resolve` says."""
        try:
            return check_name(filename)
        except BadName as exc:
            raise OutsideWorkspace(str(exc)) from None

    @contextlib.contextmanager
    def _folder(self, rel: PurePosixPath, filename: str, create: bool = False, root: str = "") -> Iterator[int]:
        """A descriptor of the folder holding `rel` (under `root`, e.g. `.backups`), links refused."""
        parts = ((root,) if root else ()) + rel.parent.parts
        try:
            fd = self._fs.open_folder(parts, create=create)
        except FileNotFoundError:
            raise MissingFile(filename) from None
        except OSError as exc:
            if exc.errno in NOT_FOLLOWED:
                raise OutsideWorkspace(
                    f"A folder in {filename!r} is a link or a file; links are not followed."
                ) from None
            raise
        try:
            yield fd
        finally:
            os.close(fd)

    def _read(self, folder: int, rel: PurePosixPath, filename: str) -> str:
        try:
            return self._fs.read(folder, rel.name).decode("utf-8")
        except FileNotFoundError:
            raise MissingFile(filename) from None
        except IsADirectoryError:
            raise WorkspaceError(f"{filename!r} is a folder, not a file.") from None
        except OSError as exc:
            if exc.errno in NOT_FOLLOWED:
                raise OutsideWorkspace(f"{filename!r} is a link; links are not followed.") from None
            raise

    def _writable(self, folder: int, rel: PurePosixPath, filename: str) -> bool:
        """Whether a file is there to replace; refuses a link, a folder or anything but a regular file."""
        kind = self._fs.kind(folder, rel.name)
        if kind == "link":
            raise OutsideWorkspace(f"{filename!r} is a link; links are not followed.")
        if kind not in (None, "file"):
            raise WorkspaceError(f"{filename!r} is a folder, not a file.")
        return kind == "file"

    # -- reading ----------------------------------------------------------------------------
    def read(self, filename: str, start_line: int = 1, max_lines: int = 200) -> Page:
        """Read up to `max_lines` lines from `start_line` (1-based). Raises WorkspaceError if missing."""
        rel = self._where(filename)
        with self._folder(rel, filename) as folder:
            text = self._read(folder, rel, filename)
        lines = text.splitlines(keepends=True)
        start = max(1, start_line)
        chunk = lines[start - 1 : start - 1 + max(1, max_lines)]
        return Page("".join(chunk), start, start - 1 + len(chunk), len(lines))

    def list_files(self) -> list[tuple[str, int]]:
        """Every workspace file as (relative name, size in bytes), sorted by name; hidden ones and links skipped."""
        found = []
        for folder, dirs, files, fd in self._fs.walk():
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if name.startswith(".") or PurePosixPath(name).suffix.lower() not in ALLOWED_SUFFIXES:
                    continue
                with contextlib.suppress(OSError):
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISREG(info.st_mode):
                        found.append(((PurePosixPath(folder) / name).as_posix().removeprefix("./"), info.st_size))
        return sorted(found)

    def exists(self, filename: str) -> bool:
        """Whether the (valid) workspace file exists as a regular file."""
        rel = self._where(filename)
        try:
            with self._folder(rel, filename) as folder:
                return self._fs.kind(folder, rel.name) == "file"
        except MissingFile:
            return False

    # -- writing ----------------------------------------------------------------------------
    def create(self, filename: str, content: str = "") -> Path:
        """Create a new file; refuses to replace an existing one (no clobber, atomic)."""
        rel = self._where(filename)
        with self._locked(rel), self._folder(rel, filename, create=True) as folder:
            if self._fs.kind(folder, rel.name) is not None:
                raise WorkspaceError(f"{filename!r} already exists; use 'write' to overwrite or another name.")
            try:
                self._write(folder, rel, content, exclusive=True)
            except FileExistsError:
                raise WorkspaceError(
                    f"{filename!r} already exists; use 'write' to overwrite or another name."
                ) from None
        return self.root / rel

    def write(self, filename: str, content: str) -> Path:
        """Create or overwrite a file; an existing file is backed up first."""
        rel = self._where(filename)
        with self._locked(rel), self._folder(rel, filename, create=True) as folder:
            if self._writable(folder, rel, filename):
                self._backup(folder, rel, filename)
            self._write(folder, rel, content)
        return self.root / rel

    def append(self, filename: str, content: str) -> Path:
        """Add `content` as new line(s) at the end (before a script footer); creates the file if needed."""
        rel = self._where(filename)
        with self._locked(rel), self._folder(rel, filename, create=True) as folder:
            old = self._read(folder, rel, filename) if self._writable(folder, rel, filename) else ""
            addition = content if content.endswith("\n") else content + "\n"
            footer = _FOOTER.search(old)
            if footer:
                body = old[: footer.start()]
                sep = "" if not body or body.endswith("\n") else "\n"
                new = body + sep + addition + old[footer.start() :]
            else:
                new = old + ("" if not old or old.endswith("\n") else "\n") + addition
            self._write(folder, rel, new)
        return self.root / rel

    def insert(self, filename: str, line_number: int, content: str) -> Path:
        """Insert `content` before line `line_number` (1-based; total+1 appends)."""
        rel = self._where(filename)
        with self._locked(rel), self._folder(rel, filename) as folder:
            lines = self._read(folder, rel, filename).splitlines(keepends=True)
            if not 1 <= line_number <= len(lines) + 1:
                raise WorkspaceError(f"line_number must be between 1 and {len(lines) + 1} for {filename!r}.")
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines.insert(line_number - 1, content if content.endswith("\n") else content + "\n")
            self._write(folder, rel, "".join(lines))
        return self.root / rel

    def replace(
        self, filename: str, pattern: str, replacement: str, *, regex: bool = False, dry_run: bool = False
    ) -> tuple[int, str]:
        """Replace every occurrence of `pattern` (literal unless `regex`); returns (count, unified diff).

        With `dry_run` nothing is written. A regular expression runs in linear time (RE2), so no pattern
        can stall the server. Raises WorkspaceError when the pattern is empty, invalid (backreferences
        and lookaround included) or not found.
        """
        if not pattern:
            raise WorkspaceError("pattern must not be empty.")
        rel = self._where(filename)
        with self._locked(rel), self._folder(rel, filename) as folder:
            old = self._read(folder, rel, filename)
            compiled = _linear_regex(pattern) if regex else re.compile(re.escape(pattern))
            new, count = compiled.subn(replacement if regex else (lambda _m: replacement), old)
            if count == 0:
                raise WorkspaceError(f"{pattern!r} was not found in {filename!r}; read the file to check.")
            diff = "".join(
                difflib.unified_diff(
                    old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{filename}", f"b/{filename}"
                )
            )
            if not dry_run:
                self._backup(folder, rel, filename)
                self._write(folder, rel, new)
        return count, diff

    def save_as(self, filename: str, new_filename: str, overwrite: bool = False) -> Path:
        """Copy `filename` to `new_filename`; refuses to overwrite unless asked (then backs it up)."""
        rel = self._where(filename)
        with self._folder(rel, filename) as folder:
            content = self._read(folder, rel, filename)
        if overwrite:
            return self.write(new_filename, content)
        return self.create(new_filename, content)

    def delete(self, filename: str) -> str:
        """Delete a file after backing it up; returns the backup's name (restore it with `restore`)."""
        rel = self._where(filename)
        with self._locked(rel), self._folder(rel, filename) as folder:
            backup = self._backup(folder, rel, filename)
            os.unlink(rel.name, dir_fd=folder)  # a name swapped for a link since: the link goes, not its target
            os.fsync(folder)
        return backup

    # -- backups ----------------------------------------------------------------------------
    def backup(self, filename: str) -> str:
        """Make a timestamped copy under `.backups/`; returns the backup's name."""
        rel = self._where(filename)
        with self._locked(rel), self._folder(rel, filename) as folder:
            return self._backup(folder, rel, filename)

    def backups(self, filename: str) -> list[str]:
        """Names of the backups of `filename`, oldest first."""
        rel = self._where(filename)
        try:
            with self._folder(rel, filename, root=_BACKUPS) as folder:
                names = os.listdir(folder)
        except MissingFile:
            return []
        prefix, suffix = f"{rel.stem}.", rel.suffix  # matched literally: a name may hold * or [
        return sorted(
            name
            for name in names
            if name.startswith(prefix)
            and name.endswith(suffix)
            and _STAMP.fullmatch(name[len(prefix) : len(name) - len(suffix)])
        )

    def restore(self, filename: str, backup_name: str | None = None) -> str:
        """Put a backup (the newest unless named) back in place; the current file is backed up first."""
        rel = self._where(filename)
        names = self.backups(filename)
        if not names:
            raise WorkspaceError(f"There are no backups of {filename!r}.")
        chosen = backup_name or names[-1]
        if chosen not in names:
            raise WorkspaceError(f"No backup {chosen!r} of {filename!r}. Available: {', '.join(names)}.")
        with self._folder(rel, filename, root=_BACKUPS) as backups:
            content = self._read(backups, rel.parent / chosen, chosen)
        with self._locked(rel), self._folder(rel, filename, create=True) as folder:
            if self._writable(folder, rel, filename):
                self._backup(folder, rel, filename)
            self._write(folder, rel, content)
        return chosen

    # -- internals --------------------------------------------------------------------------
    def _backup(self, folder: int, rel: PurePosixPath, filename: str) -> str:
        """Copy the file (read through its folder's descriptor, never a link) into `.backups/`."""
        data = self._read(folder, rel, filename).encode("utf-8")
        name = f"{rel.stem}.{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}{rel.suffix}"
        with self._folder(rel, filename, create=True, root=_BACKUPS) as backups:
            self._fs.write_new(backups, name, data)
        return name

    def _write(self, folder: int, rel: PurePosixPath, content: str, exclusive: bool = False) -> None:
        data = content.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise WorkspaceError(
                f"The result would be {len(data)} bytes; the limit is {self.max_write_bytes}. Split it into files."
            )
        self._fs.write_atomically(folder, rel.name, data, exclusive=exclusive)

    @contextlib.contextmanager
    def _locked(self, rel: PurePosixPath) -> Iterator[None]:
        key = int(hashlib.sha256(rel.as_posix().encode()).hexdigest(), 16) % LOCK_BUCKETS
        folder = self._fs.open_folder((_LOCKS,), create=True)
        try:
            handle = self._fs.open_lock(folder, f"{key:03d}.lock")
        finally:
            os.close(folder)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)  # releases the lock


def _linear_regex(pattern: str) -> Any:
    """`pattern` compiled by RE2, whose matching time is linear in the text (Python's `re` backtracks:
    `(a+)+$` on 40 characters would run for days, holding the GIL and so the whole server).

    Raises:
        WorkspaceError: the pattern is invalid or uses what RE2 cannot run in linear time.
    """
    options = re2.Options()
    options.log_errors = False  # the error is the caller's, not a line on the server's stderr
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise WorkspaceError(
            f"Invalid regular expression {pattern!r}: {reason}. Patterns run in linear time (RE2): "
            "no backreferences or lookaround."
        ) from None
