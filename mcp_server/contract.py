"""The keys of a tool result that steer the voice client, beyond being read by the model.

Every tool returns structured content (its output schema says the shape). The voice client
(`voice_client/tools.py`, `session.py`, `live_view.py`) reads two keys of it, and nothing else of
ours steers it:

- `INSTRUCTIONS_KEY`, "instructions": a non-blank string here *replaces the Realtime session's
  instructions* (the model's system prompt) with it. Script tools return it (load_script, next_stage,
  goto_stage, get_script_state: the coach persona and the stage's goal); no other tool may carry the key,
  or it would rewrite the session's prompt. The client also keeps it out of what the model reads as the
  tool's output, since the model gets it as its instructions.
- `CHANGED_KEY`, "changed": in file_operation's result, the workspace paths (relative to the workspace,
  "/" separators) the call created, wrote, restored, copied to or deleted; empty for reads, listings,
  backups and dry runs. The client's live file view shows and reloads those files.

Beyond these, the client's live view only displays what script results report (`script_name`,
`current_stage`, `stage_number`: the status bar's script and stage); nothing else in a result changes
what the client does.

The offline engine (`local_realtime/coaching.py`) reads one more key, in what the model reads of a script
result: `STAGE_KEY`, "stage", the current stage as data (goal, opening, questions, rules, actions, feedback
areas, next stage, deliverable file), from which it shapes the coach's turns for a small model. OpenAI's model
reads the same object; the instructions stay complete for it.

The result models name these keys with the constants (`Field(alias=...)`), so renaming a Python field can
never silently change the wire key the client reads.

One resource steers the client too: `VOCABULARY_URI`, the words its user is likely to say (plain text, phrases
joined by ", "), which the client makes its speech-to-text's prompt; the server publishes a resource update for
it when the library or the client's script changes (`vocabulary.py`).
"""

from __future__ import annotations

from typing import Final

INSTRUCTIONS_KEY: Final = "instructions"
"""Result key whose non-blank string value replaces the voice session's instructions."""
CHANGED_KEY: Final = "changed"
"""file_operation result key: list of workspace paths the call changed, for the client's file view."""
STAGE_KEY: Final = "stage"
"""Script result key: the current stage as data (`script_tools.StageGuide`), for clients that shape coaching."""
VOCABULARY_URI: Final = "assistant://vocabulary"
"""Resource: the words the client's user is likely to say, for its speech-to-text prompt (`vocabulary.py`)."""
