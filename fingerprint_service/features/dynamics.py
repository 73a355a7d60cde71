"""Dynamics: crest, silence, crest variation, loudness variation, peak consistency (dims 9, 14,
21–23 of SPEC section 4).

Inputs are what the project's meters keep anyway: per-100 ms RMS (dBFS, power mean over the
channels: the level crest_db is measured against) and sample peaks (over all channels) from
``shared.levels.LevelMeter``, and the short-term loudness series of
``shared.loudness.LoudnessMeter``; crest_db and silence_ratio are the level meter's own.

Seconds are groups of ten consecutive 100 ms frames from the start of the track; a trailing
group shorter than half a second is left out of the per-second statistics (its crest and peak
would describe a fragment, not a second).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from shared.blocks import FRAMES_PER_S
from shared.levels import SILENCE_DBFS
from shared.loudness import ABSOLUTE_GATE_LUFS

FloatArray = NDArray[np.float64]

#: A trailing second counts from half a second of 100 ms frames.
MIN_FRAMES_IN_LAST_SECOND = FRAMES_PER_S // 2
#: dynamic_range_variation = s / (s + this), s = std of per-second crest in dB.
CREST_VARIATION_HALF_DB = 6.0
#: loudness_variation_db: short-term windows more than this far below the loudest are left out.
LOUDNESS_WINDOW_RANGE_LU = 20.0


@dataclass(frozen=True, slots=True)
class DynamicsFeatures:
    crest_db: float
    silence_ratio: float
    dynamic_range_variation: float
    loudness_variation_db: float
    peak_consistency: float


def per_second(frame_rms_db: FloatArray, frame_peak: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean-square power and sample peak of each second, from per-100 ms RMS (dB) and peaks."""
    n = min(frame_rms_db.shape[0], frame_peak.shape[0])
    seconds = n // FRAMES_PER_S
    if n - seconds * FRAMES_PER_S >= MIN_FRAMES_IN_LAST_SECOND:
        seconds += 1
    if seconds == 0:
        return np.zeros(0), np.zeros(0)
    starts = np.arange(seconds) * FRAMES_PER_S
    power = 10.0 ** (frame_rms_db[:n] / 10.0)
    counts = np.minimum(FRAMES_PER_S, n - starts)
    second_power = np.add.reduceat(power, starts) / counts
    second_peak = np.maximum.reduceat(frame_peak[:n], starts)
    return np.asarray(second_power), np.asarray(second_peak, dtype=np.float64)


def dynamic_range_variation(frame_rms_db: FloatArray, frame_peak: FloatArray) -> float:
    """s / (s + 6), s = std (dB) of per-second crest over non-silent seconds; 0…1."""
    power, peak = per_second(frame_rms_db, frame_peak)
    loud = (power >= 10.0 ** (SILENCE_DBFS / 10.0)) & (peak > 0.0)
    if int(loud.sum()) < 2:
        return 0.0
    crest_db = 20.0 * np.log10(peak[loud]) - 10.0 * np.log10(power[loud])
    spread = float(np.std(crest_db))
    return spread / (spread + CREST_VARIATION_HALF_DB)


def loudness_variation_db(short_term_lufs: FloatArray) -> float:
    """Std (LU) of short-term loudness over windows above −70 LUFS and within 20 LU of the
    loudest; 0 when there is no such window."""
    levels = short_term_lufs[short_term_lufs > ABSOLUTE_GATE_LUFS]
    if levels.size == 0:
        return 0.0
    levels = levels[levels >= levels.max() - LOUDNESS_WINDOW_RANGE_LU]
    return float(np.std(levels))


def peak_consistency(frame_rms_db: FloatArray, frame_peak: FloatArray) -> float:
    """1 − coefficient of variation of the per-second sample peaks, clipped to 0…1;
    0 for silence."""
    _, peak = per_second(frame_rms_db, frame_peak)
    if peak.size == 0:
        return 0.0
    mean = float(peak.mean())
    if not mean > 0.0:
        return 0.0
    return float(np.clip(1.0 - float(np.std(peak)) / mean, 0.0, 1.0))


def dynamics_features(
    crest_db: float,
    silence_ratio: float,
    frame_rms_db: FloatArray,
    frame_peak: FloatArray,
    short_term_lufs: FloatArray,
) -> DynamicsFeatures:
    """All dynamics dimensions; crest and silence ratio come straight from the level meter."""
    return DynamicsFeatures(
        crest_db=float(max(crest_db, 0.0)),
        silence_ratio=float(np.clip(silence_ratio, 0.0, 1.0)),
        dynamic_range_variation=dynamic_range_variation(frame_rms_db, frame_peak),
        loudness_variation_db=loudness_variation_db(short_term_lufs),
        peak_consistency=peak_consistency(frame_rms_db, frame_peak),
    )
