"""Synthetic test signals and small audio helpers shared by the test suites.

Every generator returns float64 arrays of shape ``(frames, channels)``; levels are given in dBFS
of the sample peak, as EBU Tech 3341/3342 specify their test signals.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from shared.audio import open_audio
from shared.levels import LevelMeter

Signal = NDArray[np.float64]


def db_to_amplitude(level_dbfs: float) -> float:
    return float(10.0 ** (level_dbfs / 20.0))


def sine(
    freq_hz: float,
    level_dbfs: float,
    duration_s: float,
    sample_rate: int = 48_000,
    channels: int = 2,
    phase_rad: float = 0.0,
) -> Signal:
    n = round(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    mono = db_to_amplitude(level_dbfs) * np.sin(2 * np.pi * freq_hz * t + phase_rad)
    return np.repeat(mono[:, None], channels, axis=1)


def sine_sequence(
    segments: list[tuple[float, float]], freq_hz: float = 1000.0, sample_rate: int = 48_000,
    channels: int = 2,
) -> Signal:
    """Concatenated sine segments ``[(level_dbfs, duration_s), …]`` with continuous phase."""
    levels = np.concatenate(
        [np.full(round(d * sample_rate), db_to_amplitude(level)) for level, d in segments]
    )
    t = np.arange(levels.size) / sample_rate
    mono = levels * np.sin(2 * np.pi * freq_hz * t)
    return np.repeat(mono[:, None], channels, axis=1)


def white_noise(
    level_dbfs: float, duration_s: float, sample_rate: int = 44_100, channels: int = 2,
    *, correlated: bool = False, seed: int = 1,
) -> Signal:
    """Uniform white noise whose peak is ``level_dbfs``; independent per channel unless told."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * sample_rate)
    shape = (n, 1) if correlated else (n, channels)
    noise = rng.uniform(-1.0, 1.0, size=shape) * db_to_amplitude(level_dbfs)
    return np.repeat(noise, channels, axis=1) if correlated else noise


def click_track(
    bpm: float, duration_s: float, sample_rate: int = 44_100, channels: int = 2,
    level_dbfs: float = -6.0,
) -> Signal:
    """A kick-like pattern: a decaying 60 Hz thump plus a short noise click on every beat."""
    n = round(duration_s * sample_rate)
    out = np.zeros(n)
    hit_len = int(0.15 * sample_rate)
    t = np.arange(hit_len) / sample_rate
    rng = np.random.default_rng(7)
    thump = np.sin(2 * np.pi * 60.0 * t) * np.exp(-t / 0.04)
    click = rng.uniform(-1, 1, hit_len) * np.exp(-t / 0.004)
    hit = 0.8 * thump + 0.4 * click
    hit /= np.abs(hit).max()
    period_s = 60.0 / bpm
    for k in range(int(duration_s / period_s) + 1):
        start = round(k * period_s * sample_rate)
        if start >= n:
            break
        end = min(n, start + hit_len)
        out[start:end] += hit[: end - start]
    out *= db_to_amplitude(level_dbfs) / max(np.abs(out).max(), 1e-12)
    return np.repeat(out[:, None], channels, axis=1)


def music_like(
    duration_s: float, sample_rate: int = 44_100, *, level_dbfs: float = -6.0,
    crest_shape: float = 1.0, bpm: float = 120.0, seed: int = 3,
) -> Signal:
    """A stereo signal with chords, a bass line and drums: a stand-in for a mixed track.

    ``crest_shape`` below 1 squashes it (tanh saturation, a 'loudness-war' master); above 1 makes
    the drums more prominent (more dynamic).
    """
    rng = np.random.default_rng(seed)
    n = round(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    chord_hz = [220.0, 277.18, 329.63]
    pad = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28)) for f in chord_hz) / 3
    bass = np.sin(2 * np.pi * 55.0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * (bpm / 120.0) * t))
    drums = click_track(bpm, duration_s, sample_rate, 1, 0.0)[:, 0] * crest_shape
    left = 0.35 * pad + 0.3 * bass + 0.5 * drums + 0.02 * rng.standard_normal(n)
    right = 0.3 * pad + 0.3 * bass + 0.5 * drums + 0.02 * rng.standard_normal(n)
    stereo = np.stack([left, right], axis=1)
    if crest_shape < 1.0:
        drive = 1.0 / crest_shape
        stereo = np.tanh(drive * stereo) / np.tanh(drive)
    stereo *= db_to_amplitude(level_dbfs) / np.abs(stereo).max()
    return stereo


def write_wav(path: Path, signal: Signal, sample_rate: int, subtype: str = "PCM_24") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), signal, sample_rate, subtype=subtype)
    return path


@dataclass(frozen=True)
class FfmpegMeasurement:
    integrated_lufs: float
    true_peak_dbtp: float
    loudness_range_lu: float


def crest_db(path: Path) -> float:
    """The crest factor of the file at ``path``, as the fingerprint defines it (shared.levels)."""
    with open_audio(path) as reader:
        meter = LevelMeter(reader.info.sample_rate, reader.info.channels)
        for block in reader.blocks():
            meter.feed(block)
    return meter.crest_db()


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def ffmpeg_ebur128(path: Path) -> FfmpegMeasurement:
    """The independent judge: ffmpeg's ``ebur128=peak=true`` summary for a file."""
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    summary = proc.stderr[proc.stderr.rfind("Summary:"):]
    integrated = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    lra = re.search(r"LRA:\s+(-?[\d.]+) LU", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if not (integrated and lra and peak):
        raise AssertionError(f"cannot parse ffmpeg ebur128 summary:\n{summary}")

    def number(text: str) -> float:
        return float("-inf") if text == "-inf" else float(text)

    return FfmpegMeasurement(number(integrated.group(1)), number(peak.group(1)),
                             number(lra.group(1)))


def to_json(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
