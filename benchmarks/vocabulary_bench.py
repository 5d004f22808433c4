"""The library's words in the ear: Whisper with and without the vocabulary the MCP server gives as its prompt.

    .venv/bin/python benchmarks/vocabulary_bench.py [--voices piper flite] [--answers] [--limit N] [--out FILE]

Measures, on `vocabulary_questions.jsonl` (24 questions about `library/` that use its names and rare words:
"Alfama", "Kazuo Ishiguro", "slugs", "sourdough"; each with the facts that answer it), writing
benchmarks/results/vocabulary_bench.json:

- heard: each question spoken by piper and by flite, heard by Whisper tiny.en as the offline engine runs it
  (`WhisperTranscriber.transcribe`, 300 ms of silence around the speech), without a prompt ("before") and with
  the vocabulary the MCP server serves for `library/` ("after": `assistant://vocabulary`, read over MCP in
  memory from the real server, exactly what the voice client makes its transcription prompt). Word error rate
  of the questions, and on the library's words (the share of a question's `words` not heard as written);
- found: what `search_library` gives the model for each transcript (`Library.search_with_evidence`, rendered)
  holds a fact of the question ("fact in evidence"), before and after;
- human speech: JFK and the five LibriVox clips of `pocketsphinx-testdata`, before and after: the prompt must
  not hurt speech that has nothing to do with the library;
- invented: silence, white noise, breath-like noise, a mains hum and brown noise, transcribed before and after:
  every word heard there is invented (the engine's VAD keeps most of this from Whisper; this is the worst case);
- with `--answers` (about 10 minutes more on 2 cores): each transcript typed into a fresh voice-client session
  against the offline engine (Qwen 1.5B) and the real MCP server over loopback HTTP, judged as answer_bench
  judges (`answer_bench.ask` and `judge`: grounded, invented), before and after. A spoken turn reaches the
  brain as its transcript, so this is the spoken grounded-answer rate without the real-time audio.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import platform
import shutil
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.* when run as a script

from mcp import Client  # noqa: E402

from local_realtime.stt import WhisperTranscriber  # noqa: E402
from mcp_server.config import Config as ServerConfig  # noqa: E402
from mcp_server.contract import VOCABULARY_URI  # noqa: E402
from mcp_server.library.evidence import render  # noqa: E402
from mcp_server.server import build_server  # noqa: E402
from tests.speech_audio import silence, synthesize, word_errors, words  # noqa: E402

QUESTIONS = ROOT / "benchmarks" / "vocabulary_questions.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "vocabulary_bench.json"
CONDITIONS = ("before", "after")


def folded(text: str) -> list[str]:
    """`words` of `text` with accents folded ("Belém" and "Belem" are one word)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return words(plain)


def contains(text: str, fact: str) -> bool:
    return " ".join(folded(fact)) in " ".join(folded(text))


def server_config(tmp: Path) -> ServerConfig:
    """The MCP server's config over a copy of `library/` and an empty workspace."""
    shutil.copytree(ROOT / "library", tmp / "library")
    (tmp / "workspace").mkdir()
    return ServerConfig.from_env(
        {
            "WORKING_DIRECTORY": str(tmp / "workspace"),
            "SCRIPTS_DIR": str(ROOT / "scripts"),
            "LIBRARY_DIR": str(tmp / "library"),
            "INDEX_DIR": str(tmp / "index"),
            "INDEX_ON_START": "0",
        }
    )


async def served_vocabulary(config: ServerConfig, library: Any) -> str:
    """The vocabulary the real server gives a client with no script (what the voice client sends as the prompt)."""
    async with Client(build_server(config, library), raise_exceptions=True) as client:
        result = await client.read_resource(VOCABULARY_URI)
    return "".join(getattr(c, "text", "") for c in result.contents)


def hear(whisper: WhisperTranscriber, questions: list[dict[str, Any]], voices: list[str], prompt: str) -> list[dict]:
    """Each question spoken by each voice, heard without and with `prompt`."""
    rows = []
    for voice in voices:
        for question in questions:
            pcm = silence(300) + synthesize(question["question"], voice) + silence(300)  # type: ignore[arg-type]
            row: dict[str, Any] = {"voice": voice, "question": question["question"]}
            for condition in CONDITIONS:
                started = time.perf_counter()
                heard = whisper.transcribe(pcm, prompt if condition == "after" else "")
                said = [w for word in question["words"] for w in folded(word)]
                got = set(folded(heard))
                row[condition] = {
                    "heard": heard,
                    "errors": word_errors(question["question"], heard),
                    "words": len(folded(question["question"])),
                    "library_words_missed": [w for w in said if w not in got],
                    "library_words": len(said),
                    "seconds": round(time.perf_counter() - started, 3),
                }
            print(f"{voice:5} {row['before']['heard']!r} -> {row['after']['heard']!r}", flush=True)
            rows.append(row)
    return rows


def find(library: Any, rows: list[dict[str, Any]], questions: list[dict[str, Any]]) -> None:
    """Whether the evidence `search_library` gives for each transcript holds a fact of its question (in place)."""
    facts = {q["question"]: q["fact"] for q in questions}
    for row in rows:
        for condition in CONDITIONS:
            heard = row[condition]["heard"] or "?"
            _, evidence = library.search_with_evidence(heard)
            row[condition]["fact_in_evidence"] = any(
                contains(render(heard, evidence), f) for f in facts[row["question"]]
            )


def human_speech(whisper: WhisperTranscriber, prompt: str) -> dict[str, Any]:
    """Word error rate of JFK and the LibriVox clips, before and after."""
    from speech_bench import human_clips  # benchmarks/ is on the path when run as a script

    clips = human_clips()
    total = sum(len(words(reference)) for _, _, reference in clips)
    result = {}
    for condition in CONDITIONS:
        errors = sum(
            word_errors(ref, whisper.transcribe(pcm, prompt if condition == "after" else "")) for _, pcm, ref in clips
        )
        result[condition] = {"wer": round(errors / total, 4), "clips": len(clips), "words": total}
    return result


def noises() -> list[tuple[str, bytes]]:
    """Sounds with no words in them, PCM16 mono 24 kHz."""
    rng = np.random.default_rng(7)
    envelope = np.sin(np.linspace(0, np.pi, 24_000)) ** 2
    sounds = {
        "silence 2 s": np.zeros(48_000),
        "white noise -30 dBFS 2 s": rng.normal(0, 0.03 * 32768, 48_000),
        "white noise -20 dBFS 1 s": rng.normal(0, 0.1 * 32768, 24_000),
        "breath-like noise 1 s": np.convolve(rng.normal(0, 1, 24_000), np.ones(8) / 8, "same") * envelope * 20_000,
        "mains hum 50 Hz 2 s": np.sin(np.arange(48_000) * 2 * np.pi * 50 / 24_000) * 3000,
        "brown noise 2 s": np.cumsum(rng.normal(0, 1, 48_000)) * 30,
    }
    return [
        (name, silence(300) + np.clip(s, -32768, 32767).astype("<i2").tobytes() + silence(300))
        for name, s in sounds.items()
    ]


def invented(whisper: WhisperTranscriber, prompt: str) -> dict[str, Any]:
    """What Whisper hears in `noises`, before and after: every word is invented."""
    heard = {
        name: {c: whisper.transcribe(pcm, prompt if c == "after" else "") for c in CONDITIONS} for name, pcm in noises()
    }
    return {
        "invented_words": {c: sum(len(words(h[c])) for h in heard.values()) for c in CONDITIONS},
        "heard": heard,
    }


async def answers(config: ServerConfig, library: Any, rows: list[dict], questions: list[dict]) -> dict[str, Any]:
    """Each transcript typed into a fresh voice-client session against the offline engine and the real MCP server,
    judged as answer_bench judges; in place and summarised."""
    from answer_bench import ask, judge  # benchmarks/ is on the path when run as a script

    from local_realtime.brain import tool_specs
    from local_realtime.config import Config as EngineConfig
    from local_realtime.engine import build_engine
    from local_realtime.server import serve_engine
    from mcp_server.http import build_app, serve_in_thread
    from voice_client.config import Config as ClientConfig
    from voice_client.tools import McpTools

    by_text = {q["question"]: q for q in questions}
    engine = build_engine(EngineConfig.from_env({"LOCAL_MODEL_CACHE": str(ROOT / ".models")}))
    with serve_in_thread(build_app(build_server(config, library), config), "127.0.0.1", 0) as base:
        async with serve_engine(engine) as url:
            client = ClientConfig.from_env({"MCP_SERVER_URL": base + "/mcp", "REALTIME_URL": url + "/realtime"})
            async with McpTools(client) as tools:
                await engine.warm(tool_specs(tools.definitions), client.instructions)
                for row in rows:
                    for condition in CONDITIONS:
                        heard = row[condition]["heard"] or "?"
                        turn = await ask(client, tools, heard, spoken=False)
                        turn["heard"] = [heard]
                        row[condition]["answer"] = " ".join(turn["replies"])
                        row[condition] |= judge(turn, {**by_text[row["question"]], "kind": "document"})
                    verdicts = [row[c]["grounded"] for c in CONDITIONS]
                    print(f"{row['voice']:5} {row['question']!r}: grounded before, after {verdicts}", flush=True)
    return {c: _rate([r[c]["grounded"] for r in rows]) for c in CONDITIONS} | {
        f"invented_{c}": _rate([bool(r[c]["invented"]) for r in rows]) for c in CONDITIONS
    }


def summarize(rows: list[dict[str, Any]], voices: list[str]) -> dict[str, Any]:
    """Per voice and condition: WER, library-word error rate, fact in evidence."""
    summary: dict[str, Any] = {}
    for voice in voices:
        mine = [r for r in rows if r["voice"] == voice]
        summary[voice] = {
            c: {
                "wer": round(sum(r[c]["errors"] for r in mine) / sum(r[c]["words"] for r in mine), 4),
                "library_word_error_rate": round(
                    sum(len(r[c]["library_words_missed"]) for r in mine) / sum(r[c]["library_words"] for r in mine), 4
                ),
                "fact_in_evidence": _rate([r[c].get("fact_in_evidence", False) for r in mine]),
                "transcribe_s_median": round(float(np.median([r[c]["seconds"] for r in mine])), 3),
            }
            for c in CONDITIONS
        }
    return summary


def _rate(values: list[bool]) -> float:
    return round(sum(values) / max(1, len(values)), 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", nargs="+", default=["piper", "flite"], choices=["piper", "flite", "espeak"])
    parser.add_argument("--answers", action="store_true", help="also answer each transcript with the offline engine")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from mcp_server.library import open_library

    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()][: args.limit]
    tmp = Path(tempfile.mkdtemp(prefix="vocabulary-bench-"))
    try:
        config = server_config(tmp)
        library = open_library(config)
        library.index()
        prompt = asyncio.run(served_vocabulary(config, library))
        print(f"vocabulary ({len(prompt)} characters): {prompt}", flush=True)
        whisper = WhisperTranscriber.load()
        logging.getLogger().setLevel(logging.WARNING)  # a line per transcription would bury the results
        whisper.transcribe(silence(300) + synthesize("Warm up.") + silence(300))
        rows = hear(whisper, questions, args.voices, prompt)
        find(library, rows, questions)
        result: dict[str, Any] = {
            "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, Python {platform.python_version()}",
            "prompt": prompt,
            "questions": len(questions),
            "summary": summarize(rows, args.voices),
            "human_speech": human_speech(whisper, prompt),
            "silence_and_noise": invented(whisper, prompt),
        }
        if args.answers:
            result["grounded_answers"] = asyncio.run(answers(config, library, rows, questions))
        result["rows"] = rows
        library.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("rows", "silence_and_noise")}, indent=2))
    print(json.dumps(result["silence_and_noise"]["invented_words"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
