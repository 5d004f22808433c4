"""Markdown files confined to one workspace folder: safe paths, atomic writes, backups, locks.

Every path a caller gives is relative to the workspace root. It is refused unless it resolves
(symlinks included) to a `.md`, `.markdown` or `.txt` file inside the root; hidden names (the
workspace's own `.backups/`, `.locks/`, `.sessions/`, `.audit.log`) are refused too. Writes go to a
temp file that is fsynced and renamed, so a crash leaves the old or the new file. Writers to one file
are serialised with `flock`, which also holds across processes (stdio and HTTP servers together).
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import re2

ALLOWED_SUFFIXES = (".md", ".markdown", ".txt")
_BACKUPS = ".backups"
_LOCKS = ".locks"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FOOTER = re.compile(r"\n*---\n\*Created on: [^*\n]+\*\n\*Script used: [^*\n]+\*\n*\Z")


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
        """Return `text` with a `# title` first line (unless it has one) and exactly one footer."""
        body = _FOOTER.sub("", text).rstrip("\n")
        if not body.lstrip().startswith("# "):
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
    """The markdown files under `root`; every method takes paths relative to it.

    Args:
        root: the workspace folder (created if missing).
        max_write_bytes: the largest file any write may produce, in UTF-8 bytes.
    """

    def __init__(self, root: Path, max_write_bytes: int = 1_000_000) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self.max_write_bytes = max_write_bytes

    # -- paths -----------------------------------------------------------------------------
    def resolve(self, filename: str) -> Path:
        """Absolute path of a workspace file, after every safety check.

        Raises:
            OutsideWorkspace: for empty, absolute, `..`, hidden, control-character, wrong-suffix
                paths and for any path whose real location (symlinks followed) is outside the root.
        """
        if not isinstance(filename, str) or not filename.strip():
            raise OutsideWorkspace("A filename is required, e.g. 'notes.md'.")
        if _CONTROL.search(filename) or "\\" in filename:
            raise OutsideWorkspace(f"{filename!r} contains control characters or backslashes.")
        pure = PurePosixPath(filename)
        if pure.is_absolute() or filename.startswith("~"):
            raise OutsideWorkspace(f"{filename!r} is absolute; give a path relative to the workspace.")
        if any(part in ("..", ".") or part.startswith(".") for part in pure.parts):
            raise OutsideWorkspace(f"{filename!r} uses '..' or a hidden name; use a plain relative path.")
        if pure.suffix.lower() not in ALLOWED_SUFFIXES:
            raise OutsideWorkspace(f"{filename!r} is not a markdown or text file; use .md, .markdown or .txt.")
        target = (self.root / pure).resolve()
        if not target.is_relative_to(self.root) or target == self.root:
            raise OutsideWorkspace(f"{filename!r} resolves outside the workspace.")
        if target.suffix.lower() not in ALLOWED_SUFFIXES:
            raise OutsideWorkspace(f"{filename!r} links to a file that is not markdown or text.")
        return target

    def relative(self, path: Path) -> str:
        """The workspace-relative POSIX name of an absolute path inside the root."""
        return path.relative_to(self.root).as_posix()

    # -- reading ----------------------------------------------------------------------------
    def read(self, filename: str, start_line: int = 1, max_lines: int = 200) -> Page:
        """Read up to `max_lines` lines from `start_line` (1-based). Raises WorkspaceError if missing."""
        text = self._text(self.resolve(filename), filename)
        lines = text.splitlines(keepends=True)
        start = max(1, start_line)
        chunk = lines[start - 1 : start - 1 + max(1, max_lines)]
        return Page("".join(chunk), start, start - 1 + len(chunk), len(lines))

    def list_files(self) -> list[tuple[str, int]]:
        """Every workspace file as (relative name, size in bytes), sorted by name; hidden ones skipped."""
        found = []
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root)
            if any(part.startswith(".") for part in rel.parts) or not path.is_file():
                continue
            if path.suffix.lower() in ALLOWED_SUFFIXES and path.resolve().is_relative_to(self.root):
                found.append((rel.as_posix(), path.stat().st_size))
        return sorted(found)

    def exists(self, filename: str) -> bool:
        """Whether the (valid) workspace file exists."""
        return self.resolve(filename).is_file()

    # -- writing ----------------------------------------------------------------------------
    def create(self, filename: str, content: str = "") -> Path:
        """Create a new file; refuses to replace an existing one (no clobber, atomic)."""
        target = self.resolve(filename)
        with self._locked(target):
            if target.exists():
                raise WorkspaceError(f"{filename!r} already exists; use 'write' to overwrite or another name.")
            self._atomic_write(target, content, exclusive=True)
        return target

    def write(self, filename: str, content: str) -> Path:
        """Create or overwrite a file; an existing file is backed up first."""
        target = self.resolve(filename)
        with self._locked(target):
            if target.exists():
                self._backup(target)
            self._atomic_write(target, content)
        return target

    def append(self, filename: str, content: str) -> Path:
        """Add `content` as new line(s) at the end (before a script footer); creates the file if needed."""
        target = self.resolve(filename)
        with self._locked(target):
            old = target.read_text(encoding="utf-8") if target.exists() else ""
            addition = content if content.endswith("\n") else content + "\n"
            footer = _FOOTER.search(old)
            if footer:
                body = old[: footer.start()]
                sep = "" if not body or body.endswith("\n") else "\n"
                new = body + sep + addition + old[footer.start() :]
            else:
                new = old + ("" if not old or old.endswith("\n") else "\n") + addition
            self._atomic_write(target, new)
        return target

    def insert(self, filename: str, line_number: int, content: str) -> Path:
        """Insert `content` before line `line_number` (1-based; total+1 appends)."""
        target = self.resolve(filename)
        with self._locked(target):
            lines = self._text(target, filename).splitlines(keepends=True)
            if not 1 <= line_number <= len(lines) + 1:
                raise WorkspaceError(f"line_number must be between 1 and {len(lines) + 1} for {filename!r}.")
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines.insert(line_number - 1, content if content.endswith("\n") else content + "\n")
            self._atomic_write(target, "".join(lines))
        return target

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
        target = self.resolve(filename)
        with self._locked(target):
            old = self._text(target, filename)
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
                self._backup(target)
                self._atomic_write(target, new)
        return count, diff

    def save_as(self, filename: str, new_filename: str, overwrite: bool = False) -> Path:
        """Copy `filename` to `new_filename`; refuses to overwrite unless asked (then backs it up)."""
        content = self._text(self.resolve(filename), filename)
        if overwrite:
            return self.write(new_filename, content)
        return self.create(new_filename, content)

    def delete(self, filename: str) -> str:
        """Delete a file after backing it up; returns the backup's name (restore it with `restore`)."""
        target = self.resolve(filename)
        with self._locked(target):
            self._text(target, filename)
            backup = self._backup(target)
            target.unlink()
        return backup

    # -- backups ----------------------------------------------------------------------------
    def backup(self, filename: str) -> str:
        """Make a timestamped copy under `.backups/`; returns the backup's name."""
        target = self.resolve(filename)
        with self._locked(target):
            self._text(target, filename)
            return self._backup(target)

    def backups(self, filename: str) -> list[str]:
        """Names of the backups of `filename`, oldest first."""
        rel = PurePosixPath(self.relative(self.resolve(filename)))
        folder = self.root / _BACKUPS / rel.parent
        pattern = f"{rel.stem}.*{rel.suffix}"
        return sorted(p.name for p in folder.glob(pattern)) if folder.is_dir() else []

    def restore(self, filename: str, backup_name: str | None = None) -> str:
        """Put a backup (the newest unless named) back in place; the current file is backed up first."""
        target = self.resolve(filename)
        names = self.backups(filename)
        if not names:
            raise WorkspaceError(f"There are no backups of {filename!r}.")
        chosen = backup_name or names[-1]
        if chosen not in names:
            raise WorkspaceError(f"No backup {chosen!r} of {filename!r}. Available: {', '.join(names)}.")
        source = self.root / _BACKUPS / PurePosixPath(self.relative(target)).parent / chosen
        content = source.read_text(encoding="utf-8")
        with self._locked(target):
            if target.exists():
                self._backup(target)
            self._atomic_write(target, content)
        return chosen

    # -- internals --------------------------------------------------------------------------
    def _text(self, target: Path, filename: str) -> str:
        if not target.is_file():
            raise MissingFile(filename)
        return target.read_text(encoding="utf-8")

    def _backup(self, target: Path) -> str:
        rel = PurePosixPath(self.relative(target))
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        folder = self.root / _BACKUPS / rel.parent
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{rel.stem}.{stamp}{rel.suffix}"
        shutil.copy2(target, folder / name)
        return name

    def _atomic_write(self, target: Path, content: str, exclusive: bool = False) -> None:
        data = content.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise WorkspaceError(
                f"The result would be {len(data)} bytes; the limit is {self.max_write_bytes}. Split it into files."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(self.root):
            raise OutsideWorkspace("The folder resolves outside the workspace.")
        write_atomically(target, data, exclusive=exclusive)

    @contextlib.contextmanager
    def _locked(self, target: Path) -> Iterator[None]:
        locks = self.root / _LOCKS
        locks.mkdir(exist_ok=True)
        key = hashlib.sha256(self.relative(target).encode()).hexdigest()[:32]
        with open(locks / f"{key}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


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


def write_atomically(target: Path, data: bytes, exclusive: bool = False) -> None:
    """Write `data` to `target` so a crash leaves the old or the new file: temp file, fsync, rename.

    With `exclusive` the file must not exist yet (hard-linked into place, so even a symlink there is
    not followed). The folder must exist. Raises OSError (FileExistsError when `exclusive` and taken).
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if exclusive:
            os.link(tmp, target)  # fails if the name exists, even as a symlink: no clobber
            os.unlink(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
