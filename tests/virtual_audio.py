"""A sound card for machines without one: a private PulseAudio server with a virtual speaker and microphone.

`VirtualAudio` starts its own `pulseaudio` (its socket in a temp folder, so a desktop's sound server is
never touched), with two null sinks: `speaker`, the default output, and `micfeed`, whose monitor is
remapped as the source `mic`, the default input. A program started with `VirtualAudio.env` (PortAudio
through ALSA's pulse plugin, so `sounddevice` opens its ordinary default devices) then plays into
`speaker` and records from `mic`. `Probe` is the other side: one duplex stream that plays requests
into `micfeed` and records `speaker.monitor`, on one sample clock. Recipe: ../shared/notes/virtual-audio.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SAMPLE_RATE_HZ = 24_000
PACKAGES = "pulseaudio pulseaudio-utils libasound2-plugins"


DEVICES = (
    ("load-module", "module-null-sink", "sink_name=speaker", f"rate={SAMPLE_RATE_HZ}", "channels=1"),
    ("load-module", "module-null-sink", "sink_name=micfeed", f"rate={SAMPLE_RATE_HZ}", "channels=1"),
    ("load-module", "module-remap-source", "source_name=mic", "master=micfeed.monitor"),
    ("set-default-sink", "speaker"),
    ("set-default-source", "mic"),
)
"""pactl commands that give the server a speaker and a microphone (the monitor of the `micfeed` sink)."""


class AudioUnavailable(RuntimeError):
    """PulseAudio is not installed or would not start; the message says what to install."""


class VirtualAudio:
    """A private PulseAudio server with a virtual `speaker` and `mic`; use as a context manager.

    Args:
        root: folder for the server's socket and state (a temp folder by default).
        devices: False starts the server with no speaker or microphone (a sound server whose devices are
            listed by ALSA's pulse plugin but will not open).

    Raises (on enter):
        AudioUnavailable: `pulseaudio`/`pactl` are missing or the server did not answer within 10 s.
    """

    def __init__(self, root: Path | None = None, devices: bool = True) -> None:
        self._devices = devices
        self._tmp = None if root is not None else tempfile.TemporaryDirectory(prefix="vaudio-")
        self.root = Path(root or self._tmp.name)  # type: ignore[union-attr]
        self.socket = self.root / "native"
        self._server: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point a child process (its PortAudio, paplay, pactl) at this server."""
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_RUNTIME_PATH": str(self.root)}

    def __enter__(self) -> VirtualAudio:
        for program in ("pulseaudio", "pactl"):
            if shutil.which(program) is None:
                raise AudioUnavailable(f"{program} is not installed: apt-get install {PACKAGES} (make system-deps)")
        env = {**os.environ, **self.env, "HOME": str(self.root)}
        self._server = subprocess.Popen(
            [
                "pulseaudio",
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while self._pactl("info", check=False).returncode != 0:
            if self._server.poll() is not None or time.monotonic() > deadline:
                error = self._server.stderr.read().decode(errors="replace") if self._server.poll() is not None else ""
                self.__exit__(None, None, None)
                raise AudioUnavailable(f"pulseaudio did not start: {error.strip()[-300:] or 'no answer in 10 s'}")
            time.sleep(0.05)
        for command in DEVICES if self._devices else ():
            self._pactl(*command)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.terminate()
            try:
                self._server.wait(5)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
            if self._server.stderr is not None:
                self._server.stderr.close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()

    def _pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["pactl", *args], env={**os.environ, **self.env}, capture_output=True, check=check)

    def loopback(self, latency_ms: int = 60, gain: float = 0.5) -> None:
        """Play the speaker back into the microphone, as a laptop's loudspeaker reaches its own microphone:
        `latency_ms` late (about 100 ms end to end with the streams' own latency) and scaled by `gain`
        (0.5: −6 dB). Stays until the server stops."""
        before = set(self._pactl("list", "short", "sink-inputs").stdout.splitlines())
        self._pactl(
            "load-module", "module-loopback", "source=speaker.monitor", "sink=micfeed", f"latency_msec={latency_ms}"
        )
        (added,) = set(self._pactl("list", "short", "sink-inputs").stdout.splitlines()) - before
        self._pactl("set-sink-input-volume", added.split()[0].decode(), str(gain))

    @contextmanager
    def probe(self) -> Iterator[Probe]:
        """A `Probe` on this server, running until the block ends."""
        probe = Probe(self)
        try:
            probe.start()
            yield probe
        finally:
            probe.stop()


class Probe:
    """The test's mouth and ears: speaks requests into `micfeed` and records `speaker.monitor`.

    A helper process (`tests/audio_probe.py`) owns the two PortAudio streams. Times are
    `time.monotonic()` seconds, the same clock in every process on this machine, so they compare
    with what the program under test reports.
    """

    def __init__(self, audio: VirtualAudio) -> None:
        self._audio = audio
        self._folder = Path(tempfile.mkdtemp(prefix="probe-", dir=audio.root))
        self._recording = self._folder / "speaker.raw"
        self._process: subprocess.Popen[str] | None = None
        self._events: dict[str, float] = {}
        self._changed = threading.Condition()
        self._requests = 0

    def start(self) -> None:
        """Start the helper; returns once it records. Raises AudioUnavailable if it cannot."""
        env = {**os.environ, **self._audio.env, "PULSE_SINK": "micfeed", "PULSE_SOURCE": "speaker.monitor"}
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("audio_probe.py")), str(self._recording)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if self._wait("recording", 10) is None:
            self.stop()
            raise AudioUnavailable("the audio probe could not open the virtual devices")

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            kind, *rest = line.split()
            with self._changed:
                self._events[kind if kind == "recording" else rest[0]] = float(rest[-1])
                self._changed.notify_all()

    def _wait(self, key: str, timeout_s: float) -> float | None:
        with self._changed:
            self._changed.wait_for(lambda: key in self._events, timeout_s)
            return self._events.get(key)

    def say(self, pcm: bytes, timeout_s: float = 30) -> float:
        """Speak PCM16 mono 24 kHz bytes into the microphone after whatever is still playing.

        Returns:
            `time.monotonic()` at which its first sample left the probe's speaker stream.

        Raises:
            TimeoutError: if it did not start playing within `timeout_s`.
        """
        assert self._process is not None and self._process.stdin is not None
        self._requests += 1
        path = self._folder / f"request{self._requests}.raw"
        path.write_bytes(pcm)
        self._process.stdin.write(f"{path}\n")
        self._process.stdin.flush()
        started = self._wait(str(path), timeout_s)
        if started is None:
            raise TimeoutError(f"the probe did not play request {self._requests} within {timeout_s} s")
        return started

    def recording(self) -> tuple[float, np.ndarray]:
        """(`time.monotonic()` of the first sample, the speaker's sound so far as float32 in [-1, 1])."""
        data = self._recording.read_bytes() if self._recording.exists() else b""
        samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        return self._events.get("recording", 0.0), samples

    def stop(self) -> None:
        """Stop the helper (it is ours: started by `start`)."""
        if self._process is not None:
            if self._process.stdin is not None:
                self._process.stdin.close()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None


def first_sound(samples: np.ndarray, after_s: float, rms: float = 0.01, window_ms: int = 50) -> float | None:
    """Seconds (from the start of `samples`, float32 at 24 kHz) of the first `window_ms` window after
    `after_s` whose RMS exceeds `rms`; None if there is none."""
    size = SAMPLE_RATE_HZ * window_ms // 1000
    start = int(after_s * SAMPLE_RATE_HZ)
    usable = samples[start : start + (len(samples) - start) // size * size]
    if not len(usable):
        return None
    levels = np.sqrt(np.mean(usable.reshape(-1, size) ** 2, axis=1))
    loud = np.flatnonzero(levels > rms)
    return after_s + int(loud[0]) * window_ms / 1000 if len(loud) else None


def speech_end_s(pcm: bytes, rms: float = 0.01, window_ms: int = 20) -> float:
    """Where speech in PCM16 mono 24 kHz bytes ends: the end of its last window above `rms`, in seconds."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    size = SAMPLE_RATE_HZ * window_ms // 1000
    usable = samples[: len(samples) // size * size]
    levels = np.sqrt(np.mean(usable.reshape(-1, size) ** 2, axis=1))
    loud = np.flatnonzero(levels > rms)
    return (int(loud[-1]) + 1) * window_ms / 1000 if len(loud) else 0.0
