"""A sound server whose devices are listed but will not open is "no audio device", not a traceback later.

PortAudio reads the sound server once per process, so each check runs in a child process pointed at a
private PulseAudio server (`tests/virtual_audio.py`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.virtual_audio import VirtualAudio

ROOT = Path(__file__).resolve().parents[2]
CHECK = """
from voice_client import audio
try:
    audio.require_devices()
except audio.NoAudioDevice as exc:
    print("NO DEVICE:", exc)
else:
    print("DEVICES OPEN")
"""


def _check(audio: VirtualAudio) -> str:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], env={**os.environ, **audio.env}, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout.strip()


def test_a_server_with_no_sink_is_no_audio_device() -> None:
    with VirtualAudio(devices=False) as audio:
        found = _check(audio)

    assert found.startswith("NO DEVICE: no audio device; use --wav FILE or --text")
    assert "output" in found and "Unanticipated host error" in found  # the device was listed; opening failed


def test_virtual_speaker_and_microphone_open() -> None:
    with VirtualAudio() as audio:
        assert _check(audio) == "DEVICES OPEN"
