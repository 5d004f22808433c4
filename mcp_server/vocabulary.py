"""The words a user of this server is likely to say, for the voice client's speech-to-text (`VOCABULARY_URI`).

A speech-to-text model hears common English well and the user's own words badly: the titles, names and rare
words of their documents ("Alfama", "Kazuo Ishiguro", "slugs in the garden" heard as "plugs"), and the terms of
the script they are in. The voice client reads this resource when it connects and whenever the server says it
changed (the library was indexed, a script loaded or moved on), and gives it to the Realtime session as its
transcription prompt: for Whisper, text said just before, which it leans towards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_server.contract import VOCABULARY_URI
from mcp_server.scripts import ScriptLibrary, ScriptSessions, UnknownScript

if TYPE_CHECKING:
    from mcp_server.library.search import Library

__all__ = ["MAX_CHARS", "VOCABULARY_URI", "spoken_vocabulary"]

COMMANDS = ("Search my library", "create a file", "a heading", "a line", "load a script", "next stage", "save it")
"""What every user of this server says, first in the vocabulary: a prompt of names and titles alone made Whisper
hear the commands worse ("Search my library" as "Church my library"; spoken commands' word error rate 3.4 % without
a prompt, 5.8 % with the names alone, 4.7 % with these first and "write it to a file" among them, which then
made "blog writer" heard as "blog, write or": it went)."""
MAX_CHARS = 700
"""Longest vocabulary: Whisper reads 223 tokens of prompt, about 700 characters of names and rare words (3.3
characters a token on `library/`); the engine keeps the whole phrases that fit."""


def spoken_vocabulary(
    client: str, scripts: ScriptLibrary, sessions: ScriptSessions, library: Library | None, max_chars: int = MAX_CHARS
) -> str:
    """The vocabulary for `client`: the server's own commands (`COMMANDS`), its running script's title and stage
    names, then the library's titles and its documents' authors, names and rare words (`Library.vocabulary`), most
    useful first, joined by ", ".

    Args:
        client: whose script counts (`script_tools.client_key`).
        library: the open library, or None (not configured, or still opening).

    Returns:
        at most `max_chars` characters; "" when there is nothing to say.
    """
    phrases = [*COMMANDS, *_script_terms(client, scripts, sessions)]
    used = sum(len(p) + 2 for p in phrases)
    if library is not None:
        phrases += library.vocabulary(max_chars - used)
    return ", ".join(phrases)[:max_chars]


def _script_terms(client: str, scripts: ScriptLibrary, sessions: ScriptSessions) -> list[str]:
    """The running script's title and its stages' names as said ("first_draft" -> "first draft"); with none
    running, the scripts to load, as said ("blog writer script")."""
    name = sessions.get(client).script_name
    if name is None:
        found, _ = scripts.scan()
        return [f"{script.replace('_', ' ')} script" for script in sorted(found)]
    try:
        script = scripts.get(name)
    except UnknownScript:  # deleted since it was loaded
        return []
    return [script.title, *(stage.replace("_", " ") for stage in script.stage_names())]
