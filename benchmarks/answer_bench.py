"""Measure grounded answers: questions about the user's documents, through the offline engine and the real MCP server.

Run: `.venv/bin/python benchmarks/answer_bench.py` (about 25 minutes on 2 cores; `--typed` or `--spoken` for
one half, `--retrieval` for the search evidence alone in a minute, `--rejudge` to judge the saved answers
again, `--questions FILE` for another set). Writes `benchmarks/results/answer_bench.json`.

Each question of `answer_questions.jsonl` (facts from `library/` and from notes seeded into the workspace
from `answer_workspace/`) is asked in a fresh voice-client session (`RealtimeSession` + `McpTools`, exactly
the demo's path) against the offline engine (Whisper, Qwen 1.5B, piper) and the real MCP server over
loopback HTTP: typed, and spoken by piper in real time (Whisper hears it). Reported:

- grounded: the expected fact is in the answer (numbers compared without thousands separators); for the
  questions the documents cannot answer, the answer says it found nothing and states no fact;
- invented: the answer states a number or a capitalised name found in no tool output of the turn and not
  in the question (nor in what Whisper heard of it; "2 PM" matches 14:00, "5" matches "five");
- no tool: a question about the user's material got no tool call;
- evidence: the fact is in what the search gave the model (retrieval alone);
- latency (spoken): end of speech (the last speech chunk sent, in real time) to the first reply audio
  and to the first audio of the answer (after the last tool result).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
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
sys.path.insert(0, str(ROOT))  # for tests.* when run as a script

from mcp_server.config import Config as ServerConfig  # noqa: E402
from mcp_server.http import build_app, serve_in_thread  # noqa: E402
from mcp_server.server import build_server  # noqa: E402
from tests.speech_audio import synthesize  # noqa: E402
from voice_client.config import Config as ClientConfig  # noqa: E402
from voice_client.session import RealtimeSession  # noqa: E402
from voice_client.tools import McpTools  # noqa: E402
from voice_client.turns import run_text_turn, run_wav  # noqa: E402

QUESTIONS = ROOT / "benchmarks" / "answer_questions.jsonl"
SEED = ROOT / "benchmarks" / "answer_workspace"
RESULTS = ROOT / "benchmarks" / "results" / "answer_bench.json"
NOT_FOUND = re.compile(
    r"\b(couldn'?t|could not|can'?t|cannot|didn'?t|did not|don'?t|do not|no|not|nothing|isn'?t)\b.{0,40}"
    r"\b(find|found|mention|mentions|mentioned|say|says|information|anything|record|details?)\b"
    r"|\b(found|find|say|says|mention)\b.{0,12}\b(nothing|no)\b",  # "I found nothing about it"
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")
_SMALL_NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve"
_NUMBER_WORDS = {word: n for n, word in enumerate(_SMALL_NUMBERS.split())}
_COMMON_WORDS = "I I'm I'll I've OK Sure Yes No The Your You It Here There That This Let"
_COMMON = frozenset(_COMMON_WORDS.split())


def normalize(text: str) -> str:
    """Lower case, thousands separators dropped ("4,500" -> "4500"), dashes and spaces folded."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.lower())
    return " ".join(text.replace("–", "-").replace("—", "-").replace("’", "'").split())


def contains(text: str, fact: str) -> bool:
    """Whether normalized `fact` occurs in normalized `text` as whole words ("400" is not in "3400")."""
    pattern = rf"(?<![\w.,]){re.escape(normalize(fact))}s?(?![\w]|[.,]\d)"  # "tuesday" in "on tuesdays"
    return re.search(pattern, normalize(text)) is not None


def clock_times(text: str) -> str:
    """`text` with 12-hour times written as 24-hour ones ("2:00 PM" -> "14:00"), so an answer that reads
    the notes' 14:00 as 2 PM states the same fact."""

    def as_24h(match: re.Match[str]) -> str:
        hour = int(match[1]) % 12 + (12 if match[3].lower().startswith("p") else 0)
        return f"{hour}:{match[2] or '00'}"

    return re.sub(r"\b(\d{1,2})(?::(\d{2}))?\s*([AaPp]\.?[Mm]\.?)", as_24h, text)


def invented(answer: str, evidence: str, question: str) -> list[str]:
    """Numbers and capitalised names in `answer` that occur in neither `evidence` nor `question` (for a spoken
    question, the words the assistant heard; a 12-hour time matches its 24-hour form)."""
    known = normalize(evidence + " " + question)
    answer = clock_times(answer)
    known += " " + " ".join(str(n) for word, n in _NUMBER_WORDS.items() if re.search(rf"\b{word}\b", known))
    found = [n for n in _NUMBER.findall(answer) if normalize(n).strip(".,:") not in known]
    for sentence in re.split(r"(?<=[.!?])\s+", answer):
        for name in _NAME.findall(sentence)[0:]:
            if sentence.startswith(name) or name in _COMMON:
                continue
            if name.lower() not in known:
                found.append(name)
    return found


def judge(row: dict[str, Any], question: dict[str, Any]) -> dict[str, Any]:
    """Grounded / invented / no-tool verdicts for one answered question.

    A general-knowledge question is right when the answer has the fact (from the model's memory, searched or
    not); small talk when it is answered without a tool and without "found nothing".
    """
    answer = " ".join(row["replies"])
    evidence = " ".join(row["tool_outputs"])
    facts = question["fact"]
    kind = question.get("kind", "document")
    made_up = invented(answer, evidence, question["question"] + " " + " ".join(row.get("heard", [])))
    if kind == "small_talk":
        grounded = bool(answer.strip()) and not row["tools"] and not NOT_FOUND.search(answer)
        made_up = []  # a joke or a goldfish's name is not a fact about the user's documents
    elif kind == "general":
        grounded, made_up = any(contains(answer, f) for f in facts), []
    elif facts is None:
        grounded = bool(NOT_FOUND.search(answer)) and not made_up
    else:
        grounded = any(contains(answer, f) for f in facts)
    return {
        "grounded": grounded,
        "invented": made_up,
        "no_tool": not row["tools"],
        "fact_in_evidence": facts is None or kind == "general" or any(contains(evidence, f) for f in facts),
        "kind": kind,
    }


class _Sink:
    """An `AudioOutput` that only counts bytes (played = received)."""

    def __init__(self) -> None:
        self.played_bytes = 0

    def play(self, pcm: bytes) -> None:
        self.played_bytes += len(pcm)

    def stop(self) -> None:
        """Nothing is queued."""


async def ask(config: ClientConfig, tools: McpTools, question: str, spoken: bool) -> dict[str, Any]:
    """One question in a fresh session; returns what happened and when (time.perf_counter seconds)."""
    row: dict[str, Any] = {"heard": [], "tools": [], "tool_outputs": [], "replies": [], "audio_at": []}

    def on_tool_call(name: str, arguments: str) -> None:
        row["tools"].append({"name": name, "arguments": arguments})

    def on_tool_result(name: str, outcome: Any) -> None:
        row["tool_outputs"].append(outcome.output)
        row["tool_done_at"] = time.perf_counter()

    session_config = config.with_overrides(text_only=not spoken)
    async with RealtimeSession(
        session_config,
        tools=tools,
        audio_output=_Sink() if spoken else None,
        on_tool_call=on_tool_call,
        on_tool_result=on_tool_result,
        on_transcription_received=lambda text: row["heard"].append(text),
        on_response_received=lambda text: row["replies"].append(text),
        on_audio_received=lambda pcm: row["audio_at"].append(time.perf_counter()),
    ) as session:
        if spoken:
            pcm = synthesize(question, "piper")
            started = time.perf_counter()
            await run_wav(session, pcm, realtime_pace=True, timeout_s=300)
            # run_wav sends the speech, then a second of silence; speech ended when that silence began
            row["speech_end_at"] = started + len(pcm) / 48_000
        else:
            row["speech_end_at"] = time.perf_counter()
            await run_text_turn(session, question, timeout_s=300)
    return row


def _latency(row: dict[str, Any]) -> dict[str, float | None]:
    end = row.pop("speech_end_at")
    audio = row.pop("audio_at")
    done = row.pop("tool_done_at", None)
    first = audio[0] - end if audio else None
    after = [t for t in audio if done is None or t >= done]
    return {"first_audio_s": first, "answer_audio_s": after[0] - end if after else None}


async def run(questions: list[dict[str, Any]], modes: list[str], tmp: Path) -> dict[str, Any]:
    from local_realtime.brain import tool_specs
    from local_realtime.config import Config as EngineConfig
    from local_realtime.engine import build_engine
    from local_realtime.server import serve_engine
    from mcp_server.library import open_library

    server_config = _server_config(tmp)
    library = open_library(server_config)
    library.index()
    engine = build_engine(EngineConfig.from_env({"LOCAL_MODEL_CACHE": str(ROOT / ".models")}))
    results: dict[str, Any] = {}
    app = build_app(build_server(server_config, library), server_config)
    with serve_in_thread(app, "127.0.0.1", 0) as base:
        async with serve_engine(engine) as url:
            config = ClientConfig.from_env(
                {"MCP_SERVER_URL": base + "/mcp", "REALTIME_URL": url + "/realtime", "TRANSCRIPTION_MODEL": "whisper"}
            )
            async with McpTools(config) as tools:
                await engine.warm(tool_specs(tools.definitions), config.instructions)
                for mode in modes:
                    rows = []
                    for question in questions:
                        row = await ask(config, tools, question["question"], spoken=mode == "spoken")
                        row = {"question": question["question"], **_latency(row), **row}
                        row |= judge(row, question)
                        rows.append(row)
                        mark = "ok " if row["grounded"] else "BAD"
                        print(f"{mode:6} {mark} {row['question']!r} -> {' | '.join(row['replies'])!r}", flush=True)
                    results[mode] = {"summary": summarize(rows, questions), "rows": rows}
    library.close()
    return results


def retrieval(questions: list[dict[str, Any]], tmp: Path) -> dict[str, Any]:
    """The search evidence alone: is each question's fact among the sentences the model would read?"""
    from mcp_server.library import open_library
    from mcp_server.library.evidence import render

    library = open_library(_server_config(tmp))
    library.index()
    rows = []
    for question in questions:
        if question["fact"] is None or question.get("kind") in ("general", "small_talk"):
            continue
        started = time.perf_counter()
        _, evidence = library.search_with_evidence(question["question"], top_k=5)  # as search_library does
        text = render(question["question"], evidence)
        found = any(contains(text, f) for f in question["fact"])
        rows.append({"question": question["question"], "found": found, "evidence": text,
                     "ms": round((time.perf_counter() - started) * 1000, 1)})  # fmt: skip
        print(f"{'ok ' if found else 'BAD'} {question['question']!r}\n    {text[:300]!r}", flush=True)
    library.close()
    return {
        "fact_in_evidence": round(sum(r["found"] for r in rows) / len(rows), 3),
        "evidence_chars_p50": statistics.median(len(r["evidence"]) for r in rows),
        "search_and_evidence_ms_p50": statistics.median(r["ms"] for r in rows),
        "rows": rows,
    }


def summarize(rows: list[dict[str, Any]], questions: list[dict[str, Any]]) -> dict[str, Any]:
    """The document questions' rates (comparable with earlier runs), then each other kind's apart."""
    kinds = [q.get("kind", "document") for q in questions]
    summary = _summarize_documents(
        [r for r, k in zip(rows, kinds, strict=True) if k == "document"],
        [q for q, k in zip(questions, kinds, strict=True) if k == "document"],
    )
    for kind in ("general", "small_talk", "loose"):
        chosen = [r for r, k in zip(rows, kinds, strict=True) if k == kind]
        if chosen:
            summary[f"{kind}_questions"] = len(chosen)
            summary[f"{kind}_right_rate"] = round(sum(r["grounded"] for r in chosen) / len(chosen), 3)
            summary[f"{kind}_found_nothing_rate"] = round(
                sum(bool(NOT_FOUND.search(" ".join(r["replies"]))) for r in chosen) / len(chosen), 3
            )
            summary[f"{kind}_searched_rate"] = round(
                sum(any(t["name"] == "search_library" for t in r["tools"]) for r in chosen) / len(chosen), 3
            )
    return summary


def _summarize_documents(rows: list[dict[str, Any]], questions: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows or not any(q["fact"] is not None for q in questions):  # a --questions file of other kinds only
        return {"questions": len(rows)}
    about_material = [r for r, q in zip(rows, questions, strict=True) if q["fact"] is not None]
    first = [r["first_audio_s"] for r in rows if r["first_audio_s"] is not None]
    answer = [r["answer_audio_s"] for r in rows if r["answer_audio_s"] is not None]
    return {
        "questions": len(rows),
        "grounded_rate": round(sum(r["grounded"] for r in rows) / len(rows), 3),
        "grounded_rate_answerable": round(sum(r["grounded"] for r in about_material) / len(about_material), 3),
        "invented_fact_rate": round(sum(bool(r["invented"]) for r in rows) / len(rows), 3),
        "no_tool_rate": round(sum(r["no_tool"] for r in rows) / len(rows), 3),
        "searched_rate": round(
            sum(any(t["name"] == "search_library" for t in r["tools"]) for r in rows) / len(rows), 3
        ),
        "fact_in_evidence_rate": round(sum(r["fact_in_evidence"] for r in about_material) / len(about_material), 3),
        "first_audio_p50_s": _round(statistics.median(first)) if first else None,
        "first_audio_p95_s": _round(_p95(first)) if first else None,
        "answer_audio_p50_s": _round(statistics.median(answer)) if answer else None,
        "answer_audio_p95_s": _round(_p95(answer)) if answer else None,
    }


def _round(value: float) -> float:
    return round(value, 2)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _server_config(tmp: Path) -> ServerConfig:
    library, workspace = tmp / "library", tmp / "workspace"
    if not library.exists():
        shutil.copytree(ROOT / "library", library)
        shutil.copytree(SEED, workspace)
    return ServerConfig.from_env(
        {
            "WORKING_DIRECTORY": str(workspace),
            "SCRIPTS_DIR": str(ROOT / "scripts"),
            "LIBRARY_DIR": str(library),
            "INDEX_DIR": str(tmp / "index"),
            "INDEX_ON_START": "0",
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--typed", action="store_true", help="typed questions only")
    parser.add_argument("--spoken", action="store_true", help="spoken questions only")
    parser.add_argument("--retrieval", action="store_true", help="the search evidence only (no engine)")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="a JSONL file of questions")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rejudge", action="store_true", help="judge the answers saved in --out again, run nothing")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()][: args.limit]
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    today = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if args.rejudge:  # after a change to the verdicts: the same answers, judged again
        for part in (results[mode] for mode in ("typed", "spoken") if mode in results):
            part["rows"] = [row | judge(row, q) for row, q in zip(part["rows"], questions, strict=True)]
            part["summary"] = summarize(part["rows"], questions)
    else:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            results["retrieval"] = retrieval(questions, tmp) | {"date_utc": today}
            if not args.retrieval:
                modes = ["typed"] if args.typed else ["spoken"] if args.spoken else ["typed", "spoken"]
                for mode, part in asyncio.run(run(questions, modes, tmp)).items():
                    results[mode] = part | {"date_utc": today}
    results["meta"] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "questions": os.path.relpath(args.questions, ROOT),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v.get("summary", {k2: v2 for k2, v2 in v.items() if k2 != "rows"})
                      for k, v in results.items() if isinstance(v, dict) and k != "meta"}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
