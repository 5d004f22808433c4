"""WAV files as the client's format: `read_wav` converts rate and channels without aliasing, and says why a
file it cannot use is refused."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from voice_client.audio import read_wav
from voice_client.audio_format import SAMPLE_RATE_HZ


def _write(path: Path, samples: np.ndarray, rate: int, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path


def _tone(freq_hz: float, rate: int, seconds: float = 1.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (level * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype("<i2")


def _level_at(pcm: bytes, freq_hz: float) -> float:
    """Amplitude (0..1 of full scale) of the `freq_hz` component of PCM16 mono 24 kHz bytes."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) / (len(samples) / 4)
    bins = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE_HZ)
    near = np.abs(bins - freq_hz) < 50
    return float(spectrum[near].max())


def test_a_44_1_khz_file_is_resampled_without_folding_high_tones_into_the_voice_band(tmp_path: Path) -> None:
    speech_band, too_high = 1000.0, 15000.0  # 15 kHz is above 24 kHz audio's 12 kHz Nyquist limit
    mixed = (_tone(speech_band, 44100).astype(np.int32) + _tone(too_high, 44100)).clip(-32768, 32767)
    pcm = read_wav(_write(tmp_path / "cd.wav", mixed.astype("<i2"), 44100))
    assert abs(len(pcm) // 2 - SAMPLE_RATE_HZ) <= 2  # one second
    assert _level_at(pcm, speech_band) > 0.4
    alias = SAMPLE_RATE_HZ - too_high  # where plain interpolation folds 15 kHz: 9 kHz
    assert _level_at(pcm, alias) < 0.01


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    left, right = _tone(440, SAMPLE_RATE_HZ, level=0.4), np.zeros(SAMPLE_RATE_HZ, dtype="<i2")
    stereo = np.stack([left, right], axis=1).reshape(-1)
    pcm = read_wav(_write(tmp_path / "stereo.wav", stereo, SAMPLE_RATE_HZ, channels=2))
    assert len(pcm) == 2 * SAMPLE_RATE_HZ
    assert 0.15 < _level_at(pcm, 440) < 0.25


def test_an_8_bit_file_is_refused_with_the_command_that_converts_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "old.wav", np.full(800, 128, dtype=np.uint8), 8000, width=1)
    with pytest.raises(ValueError, match="-b 16 -r 24000 -c 1"):
        read_wav(path)
