"""Workspace file names: what a caller may name, checked as text before the file system is touched.

A name is a relative POSIX path of plain components ending in `.md`, `.markdown` or `.txt`. It is
normalised to Unicode NFC (so "é" typed two ways names one file) and refused when it holds what makes
two names look alike or text run backwards: control, format (bidi overrides such as U+202E), line and
paragraph separator, private-use and unassigned characters. Each component leaves room in the file
system's 255-byte limit for the backup's timestamp, and the path stays short and shallow enough for
every operation to name it.
"""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath

ALLOWED_SUFFIXES = (".md", ".markdown", ".txt")
MAX_COMPONENT_BYTES = 200
"""UTF-8 bytes per path component: a backup adds `.YYYYmmdd-HHMMSS-ffffff` (23 bytes) within 255."""
MAX_PATH_BYTES = 1024
MAX_DEPTH = 16
"""Folders a name may go down."""
_REFUSED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}


class BadName(ValueError):
    """The name cannot be a workspace file; the message says what to use instead."""


def check_name(filename: object) -> PurePosixPath:
    """The workspace-relative path `filename` names, NFC-normalised.

    Raises:
        BadName: empty, absolute, `..`, hidden components, backslashes, refused characters, a suffix other
            than .md/.markdown/.txt, a component over `MAX_COMPONENT_BYTES`, a path over `MAX_PATH_BYTES`
            or deeper than `MAX_DEPTH` folders.
    """
    if not isinstance(filename, str) or not filename.strip():
        raise BadName("A filename is required, e.g. 'notes.md'.")
    name = unicodedata.normalize("NFC", filename)
    refused = sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in _REFUSED_CATEGORIES})
    if refused or "\\" in name:
        what = ", ".join(refused[:5]) or "a backslash"
        raise BadName(f"{filename!r} contains {what} (control, format or separator characters); use plain text.")
    pure = PurePosixPath(name)
    if pure.is_absolute() or name.startswith("~"):
        raise BadName(f"{filename!r} is absolute; give a path relative to the workspace.")
    if any(part in ("..", ".") or part.startswith(".") for part in pure.parts):
        raise BadName(f"{filename!r} uses '..' or a hidden name; use a plain relative path.")
    if pure.suffix.lower() not in ALLOWED_SUFFIXES:
        raise BadName(f"{filename!r} is not a markdown or text file; use .md, .markdown or .txt.")
    if len(name.encode()) > MAX_PATH_BYTES or len(pure.parts) > MAX_DEPTH + 1:
        raise BadName(f"The name is too long or too deep; keep it under {MAX_DEPTH} folders and 1,000 characters.")
    if any(len(part.encode()) > MAX_COMPONENT_BYTES for part in pure.parts):
        raise BadName(f"A part of {filename[:60]!r}... is over {MAX_COMPONENT_BYTES} bytes; use a shorter name.")
    return pure
