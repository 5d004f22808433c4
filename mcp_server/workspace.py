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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import re2

from mcp_server.names import ALLOWED_SUFFIXES, BadName, check_name

TEMP_PREFIX, TEMP_SUFFIX = ".tmp-", ".part"
"""A write's temp file, beside its target until the rename."""
ORPHAN_AGE_S = 600
"""Temp files older than this are a crashed write's leftovers, removed when a server starts."""
LOCK_BUCKETS = 256
"""Files hash into this many lock files under `.locks/` (bounded, whatever names are used)."""
_BACKUPS = ".backups"
_LOCKS = ".locks"
_STAMP = re.compile(r"\d{8}-\d{6}-\d{6}")
"""The timestamp a backup's name carries between the file's stem and suffix."""
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
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Delete temp files a crashed write left (older than `ORPHAN_AGE_S`: a live write's is seconds old)."""
        now = time.time()
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
                    path = Path(folder) / name
                    with contextlib.suppress(OSError):
                        if now - path.lstat().st_mtime > ORPHAN_AGE_S:
                            path.unlink()

    # -- paths -----------------------------------------------------------------------------
    def resolve(self, filename: str) -> Path:
        """Absolute path of a workspace file, after every safety check.

        Raises:
            OutsideWorkspace: for a name `names.check_name` refuses (empty, absolute, `..`, hidden, refused
                characters, wrong suffix, too long or deep) and for any path whose real location
                (symlinks followed) is outside the root.
        """
        try:
            pure = check_name(filename)
        except BadName as exc:
            raise OutsideWorkspace(str(exc)) from None
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
        if not folder.is_dir():
            return []
        prefix, suffix = f"{rel.stem}.", rel.suffix  # matched literally: a name may hold * or [
        return sorted(
            p.name
            for p in folder.iterdir()
            if p.name.startswith(prefix)
            and p.name.endswith(suffix)
            and _STAMP.fullmatch(p.name[len(prefix) : len(p.name) - len(suffix)])
        )

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
        key = int(hashlib.sha256(self.relative(target).encode()).hexdigest(), 16) % LOCK_BUCKETS
        with open(locks / f"{key:03d}.lock", "a") as handle:
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


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # at import, before any thread could create a file meanwhile


def write_atomically(target: Path, data: bytes, exclusive: bool = False) -> None:
    """Write `data` to `target` so a crash leaves the old or the new file: temp file, fsync, rename.

    With `exclusive` the file must not exist yet (hard-linked into place, so even a symlink there is
    not followed). The folder must exist. Raises OSError (FileExistsError when `exclusive` and taken).
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    try:
        try:
            mode = os.stat(target).st_mode & 0o7777  # an overwrite keeps the file's permissions
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK  # a new file gets what the user's umask gives (mkstemp's is 0600)
        os.fchmod(fd, mode)
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
