"""`python demo.py` with no flags, as a user with a microphone runs it, through a virtual sound card.

A private PulseAudio server (`tests/virtual_audio.py`) gives the demo a default microphone and speaker;
piper speaks the request into the microphone in real time and the speaker is recorded. The demo must hear
it, run the tool on the real MCP server, and answer on the speaker: Whisper hears the answer (the script's
opening question) in the recording, and the reply starts soon after the end of speech.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.demo_process import Demo, count_lines, demo_env, wait_turn_over
from tests.speech_audio import synthesize, words
from tests.virtual_audio import VirtualAudio, first_sound, speech_end_s

pytestmark = pytest.mark.slow


def test_a_spoken_request_runs_its_tool_and_is_answered_on_the_speaker(tmp_path: Path) -> None:
    request = synthesize("Please load the blog writer script.", "piper")
    with VirtualAudio() as audio:
        reports = tmp_path / "turns.jsonl"
        demo = Demo(demo_env(tmp_path, audio.env | {"LOG_LEVEL": "INFO"}), "--latency-log", str(reports))
        try:
            demo.wait_for(r"listening", timeout_s=600)
            with audio.probe() as probe:
                spoke_at = probe.say(request)
                wait_turn_over(demo, probe, spoke_at, reports, count_lines(reports))
                origin, speaker = probe.recording()
        finally:
            code = demo.stop()

    output = "\n".join(demo.output())
    assert code in (0, 130), output
    assert "⚙ load_script" in output and "✓ load_script" in output, output
    assert "▶ script blog_writer" in output, output
    end_of_speech = spoke_at + speech_end_s(request) - origin
    heard = first_sound(speaker, end_of_speech)
    assert heard is not None, "nothing came out of the speaker"
    from local_realtime.stt import WhisperTranscriber

    reply = speaker[int(heard * 24_000) :]
    said = words(WhisperTranscriber.load().transcribe((reply * 32767).astype("<i2").tobytes()))
    # the coach's first turn is the discovery stage's opening ("Let's find what you really want to say. What
    # topic is on your mind ...?"), not a status report
    assert len(said) >= 8 and ("topic" in said or "say" in said or "blog" in said), said
    assert reports.read_text().count('"spoken": true') >= 1  # the latency report of the turn
