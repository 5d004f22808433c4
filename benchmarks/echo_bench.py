"""Echo cancellation on the looped-back path: how much of the assistant's voice reaches the server.

Run: `.venv/bin/python benchmarks/echo_bench.py` (about a minute; needs PulseAudio, installed by
`make system-deps`). Writes `benchmarks/results/echo_bench.json`.

A private PulseAudio server (`tests/virtual_audio.py`) loops the speaker back into the microphone (−6 dB,
60 ms plus the streams' latency), as a laptop's loudspeaker reaches its own microphone. A child process
plays piper's speech through the voice client's own `Speaker` and records through its `Microphone`, both
wired to one `EchoCanceller` exactly as `LiveAudio` wires them; the canceller is tapped to keep the raw
microphone beside the cleaned one. Reported:

- echo return loss enhancement (ERLE): raw over cleaned microphone power, in dB, while the assistant
  speaks, after the first 2 s (AEC3's convergence) and over the whole run;
- what the server would hear: turns Silero VAD (the engine's server VAD) starts on the raw and on the
  cleaned microphone while nothing but the assistant speaks (each would cut the reply off);
- CPU: seconds inside the WebRTC module per second of audio (both sides), as a share of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.* when run as a script

RESULTS = ROOT / "benchmarks" / "results" / "echo_bench.json"
REPLIES = (
    "Welcome to the blog writer. We will pick a topic, find your angle, outline the post and draft it together.",
    "A good title promises one clear benefit. Keep it under ten words, and use a number if the post is a list.",
    "Sourdough needs a lively starter. Feed it twice a day for a week, then bake when it doubles in four hours.",
)
RATE = 24_000


def _child() -> dict[str, float]:
    """In the process whose PortAudio reaches the virtual server: play the replies, record the microphone."""
    from local_realtime.vad import VoiceActivityDetector
    from tests.speech_audio import synthesize
    from voice_client.audio import Microphone, Speaker
    from voice_client.echo import EchoCanceller

    class Tap(EchoCanceller):
        """The canceller, keeping the raw microphone beside the cleaned one."""

        raw = bytearray()
        cleaned = bytearray()

        def near_end(self, pcm: bytes, input_delay_s: float = 0.0) -> bytes:
            out = super().near_end(pcm, input_delay_s)
            self.raw.extend(pcm)
            self.cleaned.extend(out)
            return out

    speech = b"".join(synthesize(text, "piper") + bytes(RATE) for text in REPLIES)

    async def run() -> None:
        with Speaker(echo=tap) as speaker, Microphone(echo=tap) as microphone:
            speaker.play(speech)
            seconds = len(speech) / 2 / RATE + 1.0
            async with asyncio.timeout(seconds):
                async for _ in microphone:
                    pass

    tap = Tap()
    with contextlib.suppress(TimeoutError):  # the run ends at its timeout
        asyncio.run(run())
    raw = np.frombuffer(bytes(tap.raw), dtype="<i2").astype(np.float64)
    cleaned = np.frombuffer(bytes(tap.cleaned), dtype="<i2").astype(np.float64)
    size = min(len(raw), len(cleaned))
    raw, cleaned = raw[:size], cleaned[:size]
    windows = raw[: size // 480 * 480].reshape(-1, 480)
    echoing = np.repeat(np.sqrt(np.mean(windows**2, axis=1)) > 100, 480)  # where the echo is audible
    settled = np.arange(len(echoing)) >= 2 * RATE

    def erle(mask: np.ndarray) -> float:
        return float(
            10 * np.log10(np.mean(raw[: len(mask)][mask] ** 2) / (np.mean(cleaned[: len(mask)][mask] ** 2) + 1))
        )

    def turns(pcm: np.ndarray) -> int:
        detector = VoiceActivityDetector()
        events = detector.feed(pcm.astype("<i2").tobytes())
        return sum(event.kind == "speech_started" for event in events)

    audio_s = size / RATE
    return {
        "audio_s": round(audio_s, 1),
        "erle_db_after_2s": round(erle(echoing & settled), 1),
        "erle_db_whole_run": round(erle(echoing), 1),
        "vad_turns_raw_microphone": turns(raw),
        "vad_turns_cleaned_microphone": turns(cleaned),
        "aec_cpu_s_per_audio_s": round(tap.busy_s / audio_s, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child()))
        return
    from tests.virtual_audio import VirtualAudio

    with VirtualAudio() as audio:
        audio.loopback(latency_ms=60, gain=0.5)
        env = {**os.environ, **audio.env, "HF_HUB_OFFLINE": "1"}
        done = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=False, timeout=300
        )
    if done.returncode != 0:
        sys.exit(f"the measuring process failed:\n{done.stderr[-2000:]}")
    measured = json.loads(done.stdout.splitlines()[-1])
    result = {
        "benchmark": "echo_bench",
        "date": datetime.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "path": "piper speech -> voice_client Speaker -> PulseAudio null sink -> module-loopback (60 ms, -6 dB) "
        "-> microphone -> voice_client Microphone with EchoCanceller (livekit WebRTC AEC3, NS, HPF)",
        "summary": measured,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(measured, indent=2))


if __name__ == "__main__":
    main()
