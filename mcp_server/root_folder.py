"""File system calls beneath one folder that no rename or symlink can redirect.

The folder is opened once; every path beneath it is walked component by component from that descriptor
with `O_NOFOLLOW`, and every call acts relative to the descriptor of the folder it names (`openat`,
`renameat`, `linkat`, `unlinkat`). A name checked and then used is the same object: another process that
swaps a folder for a symlink between the two gets `ELOOP`/`ENOTDIR`, never the server acting outside.
Symlinks beneath the root are never followed (a link, even to a file inside, is refused).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import weakref
from collections.abc import Iterator
from pathlib import Path

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
TEMP_PREFIX, TEMP_SUFFIX = ".tmp-", ".part"
"""A write's temp file, beside its target until the rename."""
NOT_FOLLOWED = (errno.ELOOP, errno.ENOTDIR)
"""What an `O_NOFOLLOW` open of a symlink (or a file where a folder is expected) fails with."""


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()  # at import, before any thread could create a file meanwhile


class RootFolder:
    """An open folder and the calls that act beneath it without following links. Thread-safe.

    Args:
        path: the folder (created if missing; the path to it may hold symlinks: it is opened once).
    """

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._closer = weakref.finalize(self, os.close, self.fd)  # closed with the object if not before

    def close(self) -> None:
        """Close the root's descriptor (also done when the object is collected)."""
        self._closer()

    def open_folder(self, parts: tuple[str, ...], create: bool = False) -> int:
        """A descriptor (the caller closes it) of the folder `parts` beneath the root.

        Raises:
            FileNotFoundError: a folder is missing (and `create` is False).
            OSError: ELOOP or ENOTDIR when a component is a symlink or a file.
        """
        fd = os.dup(self.fd)
        try:
            for part in parts:
                try:
                    child = os.open(part, _DIRECTORY, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o777, dir_fd=fd)
                    child = os.open(part, _DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read(self, folder: int, name: str) -> bytes:
        """The bytes of regular file `name` in `folder`.

        Raises:
            FileNotFoundError: no such file. IsADirectoryError: it is a folder. OSError ELOOP: a symlink.
        """
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise IsADirectoryError(errno.EISDIR, "not a regular file", name)
            return handle.read()

    def kind(self, folder: int, name: str) -> str | None:
        """ "file", "link", "folder" or "other" for what `name` in `folder` is now (None: nothing)."""
        try:
            mode = os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            return "link"
        return "file" if stat.S_ISREG(mode) else "folder" if stat.S_ISDIR(mode) else "other"

    def write_atomically(self, folder: int, name: str, data: bytes, exclusive: bool = False) -> None:
        """Write `data` as `name` in `folder` so a crash leaves the old or the new file: temp file, fsync,
        rename (or, with `exclusive`, link: fails with FileExistsError if the name exists, even as a link),
        fsync of the folder. An existing file's permissions are kept; a new file follows the umask."""
        try:
            mode = os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~UMASK
        temp = f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), mode)
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            if exclusive:
                os.link(temp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
                os.unlink(temp, dir_fd=folder)
            else:
                os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)  # replaces a link, never follows it
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=folder)
            raise
        os.fsync(folder)

    def write_new(self, folder: int, name: str, data: bytes) -> None:
        """Create `name` in `folder` with `data` (FileExistsError if it exists; a link there is not followed)."""
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=folder)
        with os.fdopen(fd, "wb") as out:
            out.write(data)

    def open_lock(self, folder: int, name: str) -> int:
        """A descriptor of lock file `name` in `folder`, created if missing (never through a link)."""
        return os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=folder
        )

    def walk(self) -> Iterator[tuple[str, list[str], list[str], int]]:
        """`os.fwalk` beneath the root, never into a symlinked folder: (folder, folders, files, descriptor)."""
        yield from os.fwalk(dir_fd=self.fd, follow_symlinks=False)


def write_file_atomically(target: Path, data: bytes, exclusive: bool = False) -> None:
    """`RootFolder.write_atomically` for one file by path (its folder must exist; the path to it is followed)."""
    root = RootFolder(target.parent)
    try:
        root.write_atomically(root.fd, target.name, data, exclusive=exclusive)
    finally:
        root.close()
