"""Acoustic echo cancellation between the speaker and the microphone (WebRTC audio processing).

On loudspeakers the assistant's voice comes back into its own microphone; without cancellation the
server hears it as the user speaking, cuts the reply off and answers itself. `EchoCanceller` wraps
`livekit.rtc.AudioProcessingModule` (WebRTC's AEC3, noise suppression and high-pass filter; a prebuilt
wheel, offline): the speaker hands it exactly what it plays (`far_end`), in step with playback, and the
microphone passes every captured block through `near_end`, which returns it with the echo removed.

All audio is PCM16 mono 24 kHz little-endian bytes, processed in 10 ms frames (480 bytes); the two
sides are called from the two PortAudio callback threads, so every call into the module holds a lock.
"""

from __future__ import annotations

import logging
import threading
import time

from livekit import rtc

from voice_client.audio_format import SAMPLE_BYTES, SAMPLE_RATE_HZ

logger = logging.getLogger(__name__)

FRAME_SAMPLES = SAMPLE_RATE_HZ // 100
"""WebRTC processes 10 ms frames."""
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_BYTES
MAX_DELAY_MS = 500
"""The longest playback-to-capture delay WebRTC accepts as a hint (it refuses more)."""


class EchoCanceller:
    """Removes the speaker's sound from the microphone's; one per speaker/microphone pair.

    Args:
        noise_suppression: also suppress steady background noise (fans, hum) in the microphone.

    Attributes:
        busy_s: seconds spent inside the WebRTC module so far (both sides), for the CPU cost.
    """

    def __init__(self, noise_suppression: bool = True) -> None:
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=True, noise_suppression=noise_suppression, high_pass_filter=True
        )
        self._lock = threading.Lock()
        self._far = bytearray()
        self._near = bytearray()
        self._output_delay_s = 0.0
        self.busy_s = 0.0

    def far_end(self, pcm: bytes, output_delay_s: float = 0.0) -> None:
        """What the speaker plays now, silence included (the reference the echo is predicted from).

        Args:
            pcm: PCM16 mono 24 kHz bytes just handed to the output device, any length (whole 10 ms
                frames are processed, the rest waits for the next call).
            output_delay_s: how long until that audio leaves the loudspeaker (PortAudio's
                `outputBufferDacTime - currentTime`), or 0 if unknown.
        """
        with self._lock:
            self._output_delay_s = max(output_delay_s, 0.0)
            self._far.extend(pcm)
            started = time.perf_counter()
            while len(self._far) >= FRAME_BYTES:
                frame = rtc.AudioFrame(bytes(self._far[:FRAME_BYTES]), SAMPLE_RATE_HZ, 1, FRAME_SAMPLES)
                del self._far[:FRAME_BYTES]
                self._apm.process_reverse_stream(frame)
            self.busy_s += time.perf_counter() - started

    def near_end(self, pcm: bytes, input_delay_s: float = 0.0) -> bytes:
        """The microphone's audio with the speaker's echo (and steady noise) removed.

        Args:
            pcm: PCM16 mono 24 kHz bytes just captured, any length.
            input_delay_s: how long ago that audio entered the microphone (PortAudio's
                `currentTime - inputBufferAdcTime`), or 0 if unknown.

        Returns:
            PCM16 mono 24 kHz bytes, whole 10 ms frames only: a partial frame is held for the next
            call, so the output lags the input by less than 10 ms and has the same total length.

        Raises:
            RuntimeError: the WebRTC module refused a frame (the caller should pass the audio on as it is).
        """
        with self._lock:
            delay_ms = min(int((self._output_delay_s + max(input_delay_s, 0.0)) * 1000), MAX_DELAY_MS)
            self._near.extend(pcm)
            cleaned = bytearray()
            started = time.perf_counter()
            if delay_ms > 0:
                self._apm.set_stream_delay_ms(delay_ms)
            while len(self._near) >= FRAME_BYTES:
                frame = rtc.AudioFrame(bytes(self._near[:FRAME_BYTES]), SAMPLE_RATE_HZ, 1, FRAME_SAMPLES)
                del self._near[:FRAME_BYTES]
                self._apm.process_stream(frame)
                cleaned.extend(frame.data.tobytes())
            self.busy_s += time.perf_counter() - started
            return bytes(cleaned)
