"""Where the user's documents live: the library folder and the markdown notes in their workspace.

Users don't know which of their files are "library" and which "workspace", so search covers both.
A library document's id is its path in the library folder ("bread-recipe.md"); a workspace note's id
is "workspace:" and its workspace path ("workspace:notes/plan.md"), the name `file_operation` takes
after the prefix. Session transcripts (`transcripts/`) and hidden files are not the user's notes and are
left out.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mcp_server.library.documents import SUPPORTED_SUFFIXES

WORKSPACE_PREFIX = "workspace:"
WORKSPACE_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
SKIPPED_WORKSPACE_FOLDERS = frozenset({"transcripts"})
Source = Literal["library", "workspace"]


def source_of(document_id: str) -> Source:
    """Which folder a document id belongs to."""
    return "workspace" if document_id.startswith(WORKSPACE_PREFIX) else "library"


def workspace_id(name: str) -> str:
    """The document id of workspace file `name` (relative to the workspace, forward slashes)."""
    return WORKSPACE_PREFIX + name


def workspace_name(document_id: str) -> str | None:
    """The workspace path of a workspace document id; None for a library document."""
    return document_id.removeprefix(WORKSPACE_PREFIX) if document_id.startswith(WORKSPACE_PREFIX) else None


@dataclass(frozen=True)
class Sources:
    """The folders whose documents are indexed: `library_dir` always, `workspace_dir` when given."""

    library_dir: Path
    workspace_dir: Path | None = None

    def scan(self, source: Source | None = None) -> dict[str, Path]:
        """Document id -> file for every document (of `source` only, if given), sorted by id."""
        found: dict[str, Path] = {}
        if source in (None, "library"):
            found |= dict(_files(self.library_dir, SUPPORTED_SUFFIXES, frozenset(), confined=False))
        if source in (None, "workspace") and self.workspace_dir is not None:
            files = _files(self.workspace_dir, WORKSPACE_SUFFIXES, SKIPPED_WORKSPACE_FOLDERS, confined=True)
            found |= {workspace_id(rel): path for rel, path in files}
        return dict(sorted(found.items()))

    def path_of(self, document_id: str) -> Path | None:
        """The file of one document id (None if there is no such document now)."""
        return self.scan(source_of(document_id)).get(document_id)


def closest(name: str, candidates: dict[str, str], limit: int = 3) -> list[str]:
    """The candidate keys whose names look most like `name`, best first.

    Args:
        name: what the user or model asked for, e.g. "budget_notes.md".
        candidates: key -> text to compare (a file name, a title).
    """
    wanted = _words(name)
    scored = []
    for key, text in candidates.items():
        words = _words(text)
        ratio = difflib.SequenceMatcher(None, " ".join(wanted), " ".join(words)).ratio()
        shared = len(set(wanted) & set(words)) / max(len(set(wanted)), 1)
        if shared > 0 or ratio > 0.6:
            scored.append((shared + ratio, key))
    return [key for _, key in sorted(scored, reverse=True)[:limit]]


def _words(text: str) -> list[str]:
    stem = Path(text).stem if "." in Path(text).name else text
    cleaned = "".join(c if c.isalnum() else " " for c in stem.lower())
    return [w.rstrip("s") for w in cleaned.split() if w not in ("md", "txt", "the", "my", "a", "of", "and")]


def _files(root: Path, suffixes: Collection[str], skipped: Collection[str], confined: bool) -> list[tuple[str, Path]]:
    """(relative name, path) of the files under `root` with these suffixes; hidden names and `skipped` top
    folders left out, and with `confined` also links that lead outside `root`."""
    if not root.is_dir():
        return []
    found, real_root = [], root.resolve()
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or (len(rel.parts) > 1 and rel.parts[0] in skipped):
            continue
        if path.suffix.lower() not in suffixes or not path.is_file():
            continue
        if not confined or path.resolve().is_relative_to(real_root):
            found.append((rel.as_posix(), path))
    return found
