"""Measure coached sessions: whole scripted conversations through the offline engine and the real MCP server.

Run: `.venv/bin/python benchmarks/coach_bench.py` (about 25 minutes on 2 cores; `--only ID` for some sessions,
`--rejudge` to judge the saved transcripts again). Writes `benchmarks/results/coach_bench.json` and each
session's transcript to `benchmarks/results/coach_sessions/<id>.md`.

Each session of `coach_sessions.jsonl` (5 per script, 5-8 typed turns written as users of each script talk:
short answers, changes of mind, "ask me something", "save it as ...") runs in a fresh voice-client session
(`RealtimeSession` + `McpTools`, the demo's path) against the offline engine and the real MCP server with
the shipped library open, as `python demo.py` has it. Every turn is judged automatically:

- loaded once: the script was loaded by exactly one `load_script` call;
- question after a move: the reply after every load, next_stage or goto_stage asks something ("?");
- asks: a turn marked `question` (an answer to the coach, "ask me something") gets a reply with a question;
- feedback: a turn marked `feedback` ("how was that?") gets a reply naming something from the answer;
- no repeat: no reply repeats an earlier one (same question sentence, or 80 % alike as a whole);
- no echo: no reply reads the user's words back (six words in a row, or most of a short turn);
- second person: "the user" is never said;
- moves on: a turn asking to move on gets a successful next_stage or goto_stage;
- saved: a turn asking to save (or change) a file writes it, and the file the user named holds the listed key
  words and no number or capitalised name that nobody said (the user, the coach's replies, the tool results);
- one footer: every saved file has exactly one "Created on / Script used" footer;
- no search: script work never searches the library.

A session is clean when none of its checks missed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import difflib
import json
import logging
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.* and benchmarks.* when run as a script

from benchmarks.answer_bench import invented, normalize  # noqa: E402
from mcp_server.config import Config as ServerConfig  # noqa: E402
from mcp_server.http import build_app, serve_in_thread  # noqa: E402
from mcp_server.server import build_server  # noqa: E402
from voice_client.config import Config as ClientConfig  # noqa: E402
from voice_client.session import RealtimeSession  # noqa: E402
from voice_client.tools import McpTools  # noqa: E402
from voice_client.turns import run_text_turn  # noqa: E402

SESSIONS = ROOT / "benchmarks" / "coach_sessions.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "coach_bench.json"
TRANSCRIPTS = ROOT / "benchmarks" / "results" / "coach_sessions"
MOVES = ("load_script", "next_stage", "goto_stage")
APPROVAL_ASKED = "Say yes or no."
"""How the voice client's question before an overwrite ends (`voice_client/toolbox/approvals.py`): the session
answers "Yes." in the same turn, as the user who asked for the change would."""
FOOTER = re.compile(r"\*Created on: [^*\n]+\*\s*\n\*Script used: [^*\n]+\*")
CHECKS = (
    "loaded_once",
    "question_after_move",
    "asks",
    "feedback",
    "no_repeat",
    "no_echo",
    "second_person",
    "moves_on",
    "saved",
    "one_footer",
    "no_search",
)


def _words(text: str, names: bool = True) -> list[str]:
    """Lower-case words; without `names`, a file's name ("space-cats.md") is left out: a name, not words a reply
    could read back."""
    text = normalize(text) if names else re.sub(r"[\w./-]+\.(?:md|markdown|txt)\b", " ", normalize(text))
    return re.findall(r"[a-z0-9']+", text)


def _questions(text: str) -> list[str]:
    """The question sentences of `text`, normalised."""
    return [" ".join(_words(q)) for q in re.findall(r"[^.!?]*\?", text) if _words(q)]


def repeats(reply: str, earlier: list[str]) -> str | None:
    """The earlier reply `reply` repeats (a question sentence asked before, or 80 % alike), else None."""
    asked = set(_questions(reply))
    for before in earlier:
        if asked & set(_questions(before)):
            return before
        if difflib.SequenceMatcher(None, _words(reply), _words(before)).ratio() >= 0.8:
            return before
    return None


def echoes(reply: str, user: str) -> bool:
    """Whether `reply` reads `user`'s words back: six of them in a row, or (its closing question aside) nothing but
    their words (nine in ten of its words theirs, and at least four)."""
    said, heard = _words(user, names=False), _words(reply, names=False)
    match = difflib.SequenceMatcher(None, said, heard, autojunk=False).find_longest_match(0, len(said), 0, len(heard))
    own = _words(re.sub(r"[^.!?]*\?\s*$", "", reply), names=False)  # without the question it ends with
    theirs = sum(1 for word in own if word in set(said))
    return match.size >= 6 or (len(own) >= 4 and theirs >= 0.9 * len(own))


_FORM = (
    "Dear Hi Hello Best Regards Sincerely Thanks Thank Kind Warm Warmly Cheers Subject Title Introduction "
    "Conclusion Hook Section Sections Idea Ideas Top Next Step Steps Story Scene Question Questions Answer Feedback "
    "Strength Strengths Improvement Improve Notes Note Outline Draft Call Action Body Summary Theme Themes Why What "
    "How When Where Who Which Tip Tips Point Points Part Intro Closing Opening Problem Solution Result Results "
    "Coach You"
)
FORM_WORDS = frozenset(_FORM.split())
"""Capitalised words of a document's form (salutations, headings' words), not names."""


def invented_in_file(body: str, known: str) -> list[str]:
    """Numbers anywhere (an ordered list's item numbers aside), and capitalised words within sentences (not
    markdown headings, not a `Subject:` line, not a `[placeholder]`, not words of the document's form), that nobody
    said."""
    lines = [line for line in body.splitlines() if not line.lstrip().startswith(("#", "Subject:"))]
    text = re.sub(r"\[[^\]]*\]", " ", "\n".join(lines))
    unnumbered = re.sub(r"(?m)^\s*\d+[.)]\s+", "", text)  # an ordered list's "4." is form, not a claim
    numbers = invented(" ".join(re.findall(r"\d+(?:[.,:]\d+)*", unnumbered)), known, "")
    names = []
    for line in text.splitlines():  # each line (a list item's marker and bold label aside) starts a sentence
        line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line).replace("**", "")
        names += [n for n in invented(line, known, "") if not n[0].isdigit() and n not in FORM_WORDS]
    return numbers + names


def judge(session: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """Each check's verdict for one session: True (kept), False (missed) or None (nothing to check)."""
    turns = record["turns"]
    calls = [c for t in turns for c in t["calls"]]
    replies_so_far: list[str] = []
    misses: dict[str, list[str]] = {check: [] for check in CHECKS}
    seen: dict[str, bool] = {check: False for check in CHECKS}

    def check(name: str, ok: bool, why: str) -> None:
        seen[name] = True
        if not ok:
            misses[name].append(why)

    loads = [c for c in calls if c["name"] == "load_script"]
    check("loaded_once", len(loads) == 1, f"{len(loads)} load_script calls")
    check("no_search", not any(c["name"] == "search_library" for c in calls), "searched the library")
    for number, (spec, turn) in enumerate(zip(session["turns"], turns, strict=True), 1):
        reply = " ".join(turn["replies"])
        where = f"turn {number}"
        moved = [c for c in turn["calls"] if c["name"] in MOVES and not c["error"]]
        if moved:
            index = moved[-1]["index"]  # a saved record's keys are strings (JSON)
            after = turn["replies_after"].get(index, turn["replies_after"].get(str(index), ""))
            check("question_after_move", "?" in after, f"{where}: no question after {moved[-1]['name']}: {after!r}")
        if spec.get("question"):
            check("asks", "?" in reply, f"{where}: no question: {reply!r}")
        if spec.get("feedback"):
            named = [w for w in spec["feedback"] if w.lower() in reply.lower()]
            check("feedback", bool(named), f"{where}: feedback names nothing of the answer: {reply!r}")
        for text in turn["replies"]:
            before = repeats(text, replies_so_far)
            check("no_repeat", before is None, f"{where}: {text!r} repeats {before!r}")
            check("no_echo", not echoes(text, spec["user"]), f"{where}: echoes the user: {text!r}")
            check("second_person", "the user" not in text.lower(), f"{where}: says 'the user': {text!r}")
            replies_so_far.append(text)
        if spec.get("save"):
            wrote = [
                c
                for c in turn["calls"]
                if c["name"] == "file_operation" and not c["error"] and spec["save"] in c["output"]
            ]
            check("saved", bool(wrote), f"{where}: {spec['save']} was not written in this turn")
        if spec.get("move"):
            check("moves_on", bool([c for c in moved if c["name"] != "load_script"]), f"{where}: did not move on")
    said = " ".join(
        [t["user"] for t in session["turns"]]
        + [r for t in turns for r in t["replies"]]
        + [c["output"] for t in turns for c in t["calls"] if c["name"] != "file_operation"]
    )
    for name in dict.fromkeys(t["save"] for t in session["turns"] if t.get("save")):
        keywords = next(t.get("keywords", []) for t in reversed(session["turns"]) if t.get("save") == name)
        text = record["files"].get(name)
        if text is None:
            check("saved", False, f"{name} was not written (files: {sorted(record['files'])})")
            continue
        body = FOOTER.sub("", text)
        missing = [k for k in keywords if k.lower() not in body.lower()]
        made_up = invented_in_file(body, said + " " + session["script"])
        check("saved", not missing and not made_up, f"{name}: missing {missing}, invented {made_up}")
        footers = len(FOOTER.findall(text))
        check("one_footer", footers == 1, f"{name}: {footers} footers")
    verdicts = {c: (None if not seen[c] else not misses[c]) for c in CHECKS}
    return {"checks": verdicts, "misses": {c: m for c, m in misses.items() if m}, "clean": not any(misses.values())}


async def converse(config: ClientConfig, session: dict[str, Any], workspace: Path) -> dict[str, Any]:
    """One whole session in a fresh voice-client session; what was said, called and written, turn by turn."""
    turns: list[dict[str, Any]] = []
    current: dict[str, Any] = {}

    def on_tool_call(name: str, arguments: str) -> None:
        current["calls"].append({"name": name, "arguments": arguments, "index": len(current["calls"])})

    def on_tool_result(name: str, outcome: Any) -> None:
        call = next(c for c in current["calls"] if c["name"] == name and "output" not in c)
        call |= {"output": outcome.output, "error": outcome.is_error}
        current["after"] = call["index"]

    def on_response(text: str) -> None:
        if current.get("after") is not None:
            current["replies_after"][current["after"]] = text
            current["after"] = None
        current["replies"].append(text)
        current.setdefault("first_reply_s", time.perf_counter() - current["started"])

    before = _snapshot(workspace)
    async with (
        McpTools(config) as tools,
        RealtimeSession(
            config,
            tools=tools,
            on_tool_call=on_tool_call,
            on_tool_result=on_tool_result,
            on_response_received=on_response,
        ) as live,
    ):
        for spec in session["turns"]:
            current = {"user": spec["user"], "calls": [], "replies": [], "replies_after": {}, "after": None}
            current["started"] = time.perf_counter()
            await run_text_turn(live, spec["user"], timeout_s=300)
            if current["replies"] and current["replies"][-1].rstrip().endswith(APPROVAL_ASKED):
                current["approved"] = True  # "Overwrite heating-email.md? ... Say yes or no.": as a user would
                await run_text_turn(live, "Yes.", timeout_s=300)
            current["turn_s"] = round(time.perf_counter() - current.pop("started"), 2)
            current["first_reply_s"] = round(current.get("first_reply_s", current["turn_s"]), 2)
            current.pop("after", None)
            turns.append(current)
    after = _snapshot(workspace)
    files = {name: text for name, text in after.items() if before.get(name) != text}
    return {"id": session["id"], "script": session["script"], "turns": turns, "files": files}


def _snapshot(workspace: Path) -> dict[str, str]:
    """The workspace's markdown files (relative name -> text), transcripts and hidden folders left out."""
    return {
        str(path.relative_to(workspace)): path.read_text(encoding="utf-8")
        for path in workspace.rglob("*.md")
        if not any(part.startswith(".") or part == "transcripts" for part in path.relative_to(workspace).parts)
    }


def transcript(session: dict[str, Any], record: dict[str, Any], verdict: dict[str, Any]) -> str:
    """A session as markdown: each turn's words, calls and replies, the files written, the misses."""
    lines = [f"# {session['id']} ({session['script']})", ""]
    for turn in record["turns"]:
        lines.append(f"**you** › {turn['user']}  ")
        replies = iter(turn["replies"])
        for call in turn["calls"]:
            lines.append(f"⚙ `{call['name']} {call['arguments'][:300]}` → {'✗' if call['error'] else '✓'} "
                         f"{call['output'][:200]}  ")  # fmt: skip
        for reply in replies:
            lines.append(f"**assistant** › {reply}  ")
            if turn.get("approved") and reply.rstrip().endswith(APPROVAL_ASKED):
                lines.append("**you** › Yes.  ")
        lines.append(f"*({turn['first_reply_s']} s to the first reply, {turn['turn_s']} s in all)*")
        lines.append("")
    for name, text in record["files"].items():
        lines += [f"## {name}", "", "```markdown", text.rstrip(), "```", ""]
    lines.append("## Verdict: " + ("clean" if verdict["clean"] else "missed"))
    for check, why in verdict["misses"].items():
        lines += [f"- {check}: {w}" for w in why]
    return "\n".join(lines) + "\n"


def summarize(sessions: list[dict[str, Any]], verdicts: list[dict[str, Any]], records: list[dict[str, Any]]) -> dict:
    """Each check's rate per script and overall (sessions where it applied), clean sessions, turn latency."""
    by_script: dict[str, Any] = {}
    for script in sorted({s["script"] for s in sessions} | {"all"}):
        chosen = [v for s, v in zip(sessions, verdicts, strict=True) if script in ("all", s["script"])]
        rates = {}
        for check in CHECKS:
            applied = [v["checks"][check] for v in chosen if v["checks"][check] is not None]
            rates[check] = round(sum(applied) / len(applied), 3) if applied else None
        rates["clean_sessions"] = round(sum(v["clean"] for v in chosen) / len(chosen), 3)
        rates["sessions"] = len(chosen)
        by_script[script] = rates
    first = [t["first_reply_s"] for r in records for t in r["turns"] if t["first_reply_s"] is not None]
    total = [t["turn_s"] for r in records for t in r["turns"] if t["turn_s"] is not None]
    by_script["all"] |= {
        "turns": len(first),
        "first_reply_p50_s": round(statistics.median(first), 2),
        "turn_p50_s": round(statistics.median(total), 2),
        "turn_p95_s": round(sorted(total)[min(len(total) - 1, round(0.95 * (len(total) - 1)))], 2),
    }
    return by_script


async def run(sessions: list[dict[str, Any]], tmp: Path) -> list[dict[str, Any]]:
    from local_realtime.brain import tool_specs
    from local_realtime.config import Config as EngineConfig
    from local_realtime.engine import build_engine
    from local_realtime.server import serve_engine
    from mcp_server.library import open_library

    library_dir, workspace = tmp / "library", tmp / "workspace"
    shutil.copytree(ROOT / "library", library_dir)
    server_config = ServerConfig.from_env(
        {
            "WORKING_DIRECTORY": str(workspace),
            "SCRIPTS_DIR": str(ROOT / "scripts"),
            "LIBRARY_DIR": str(library_dir),
            "INDEX_DIR": str(tmp / "index"),
            "INDEX_ON_START": "0",
        }
    )
    library = open_library(server_config)
    library.index()
    engine = build_engine(EngineConfig.from_env({"LOCAL_MODEL_CACHE": str(ROOT / ".models")}))
    records = []
    app = build_app(build_server(server_config, library), server_config)
    with serve_in_thread(app, "127.0.0.1", 0) as base:
        async with serve_engine(engine) as url:
            config = ClientConfig.from_env(
                {"MCP_SERVER_URL": base + "/mcp", "REALTIME_URL": url + "/realtime", "TRANSCRIPTION_MODEL": "whisper"}
            ).with_overrides(text_only=True)
            async with McpTools(config) as tools:
                await engine.warm(tool_specs(tools.definitions), config.instructions)
            for session in sessions:
                record = await converse(config, session, workspace)
                verdict = judge(session, record)
                TRANSCRIPTS.mkdir(parents=True, exist_ok=True)
                (TRANSCRIPTS / f"{session['id']}.md").write_text(transcript(session, record, verdict), encoding="utf-8")
                took = sum(t["turn_s"] for t in record["turns"])
                mark = "clean" if verdict["clean"] else "MISS "
                print(f"{mark} {session['id']} ({took:.0f} s): {verdict['misses']}", flush=True)
                records.append(record)
    library.close()
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only the sessions with these ids (repeatable)")
    parser.add_argument("--sessions", type=Path, default=SESSIONS, help="a JSONL file of sessions")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rejudge", action="store_true", help="judge the saved records in --out again")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sessions = [json.loads(line) for line in args.sessions.read_text().splitlines() if line.strip()]
    if args.only:
        sessions = [s for s in sessions if s["id"] in args.only]
    started = time.perf_counter()
    if args.rejudge:
        saved = {r["id"]: r for r in json.loads(args.out.read_text())["records"]}
        records = [saved[s["id"]] for s in sessions]
    else:
        with tempfile.TemporaryDirectory() as folder:
            records = asyncio.run(run(sessions, Path(folder)))
    verdicts = [judge(s, r) for s, r in zip(sessions, records, strict=True)]
    TRANSCRIPTS.mkdir(parents=True, exist_ok=True)
    for session, record, verdict in zip(sessions, records, verdicts, strict=True):
        (TRANSCRIPTS / f"{session['id']}.md").write_text(transcript(session, record, verdict), encoding="utf-8")
    results = {
        "summary": summarize(sessions, verdicts, records),
        "verdicts": {s["id"]: v for s, v in zip(sessions, verdicts, strict=True)},
        "records": records,
        "meta": {
            "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "sessions": os.path.relpath(args.sessions, ROOT),
            "run_seconds": round(time.perf_counter() - started),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results["summary"], indent=2))


if __name__ == "__main__":
    main()
