"""`python demo.py` as a user runs it: a real process, the offline engine, the MCP server, real speech.

Three requests in sequence (start the blog writer script; create a file with a heading and a
paragraph; search the library for something the sample documents hold), spoken by piper into WAV
files and, in the second test, typed with `--text`. Afterwards the workspace holds the file, the
transcript records the three turns and their tool calls, and the reply WAV holds speech.
"""

from __future__ import annotations

import re
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from tests.demo_process import demo_env
from tests.speech_audio import synthesize, words, write_wav

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = (
    "Load the blog writer script.",
    "Create a new file named honey bees, with the heading Honey Bees and one paragraph: "
    "bees make honey from flower nectar.",
    "Search my library for how long to bake the bread.",
)
TOOLS = ("load_script", "file_operation", "search_library")


def _demo(tmp_path: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run demo.py over a temp workspace and a copy of the shipped sample library; returns (run, workspace)."""
    env = demo_env(tmp_path, {})
    workspace = Path(env["WORKING_DIRECTORY"])
    run = subprocess.run(
        [sys.executable, "demo.py", *flags], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200
    )
    assert run.returncode == 0, f"demo.py failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
    return run, workspace


def _check_workspace_and_transcript(run: subprocess.CompletedProcess[str], workspace: Path) -> Path:
    """The bees file and the transcript are right; returns the transcript path."""
    written = [p for p in workspace.glob("*.md")]
    assert len(written) == 1, f"expected one new markdown file, got {written}\n{run.stdout}"
    lines = [line.strip() for line in written[0].read_text(encoding="utf-8").splitlines() if line.strip()]
    headings = [line for line in lines if line.startswith("#") and "honey" in line.lower()]
    assert headings, f"no Honey Bees heading in {written[0].name}: {lines}"
    assert any(not line.startswith("#") and {"bees", "honey", "nectar"} <= set(words(line)) for line in lines), lines

    (transcript,) = (workspace / "transcripts").glob("*.md")
    text = transcript.read_text(encoding="utf-8")
    assert len(re.findall(r"\*\*\d\d:\d\d:\d\d User:\*\*", text)) == 3, text
    assert len(re.findall(r"\*\*\d\d:\d\d:\d\d Assistant:\*\*", text)) >= 3, text
    called = re.findall(r"Tool `(\w+)`\*\* \((ok|failed)\)", text)
    assert [name for name, _ in called] == list(TOOLS), text
    assert all(status == "ok" for _, status in called), text
    assert "bread" in text.split("search_library")[-1].lower(), "the search result names the bread recipe"
    for tool in TOOLS:  # the live view showed each call and its outcome
        assert re.search(rf"⚙ {tool} .*\n.*✓ {tool}", run.stdout), run.stdout
    return transcript


def test_three_spoken_requests_through_demo_wav(tmp_path: Path) -> None:
    wavs = [write_wav(tmp_path / f"request{i}.wav", synthesize(text, "piper")) for i, text in enumerate(REQUESTS)]
    run, workspace = _demo(tmp_path, *[flag for wav in wavs for flag in ("--wav", str(wav))])

    transcript = _check_workspace_and_transcript(run, workspace)
    assert "blog writer script" in transcript.read_text(encoding="utf-8").lower()  # Whisper heard request 1
    reply = transcript.with_suffix(".wav")
    with wave.open(str(reply), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24_000, 1, 2)
        pcm = wav.readframes(wav.getnframes())
    from local_realtime.stt import WhisperTranscriber

    heard = words(WhisperTranscriber.load().transcribe(pcm))
    assert len(heard) >= 20 and {"blog", "bread"} <= set(heard), heard  # speech, not silence


def test_the_same_requests_typed_with_text(tmp_path: Path) -> None:
    run, workspace = _demo(tmp_path, *[flag for text in REQUESTS for flag in ("--text", text)])

    _check_workspace_and_transcript(run, workspace)
    assert all(f"you › {text}" in run.stdout for text in REQUESTS), run.stdout
    assert "▶ script blog_writer" in run.stdout
    assert not list((workspace / "transcripts").glob("*.wav")), "typed turns get text replies, no audio file"
