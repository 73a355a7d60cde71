"""Spectral balance: band shares, bass/mid ratio, centroid, rolloff and flatness (dims 1–7,
10, 15–17 of SPEC section 4).

The pure functions take the averaged power spectrum (mean over non-silent frames) or a batch of
per-frame power spectra, both restricted to the analysis band 20 Hz … min(20 kHz, Nyquist), and
the bin centre frequencies in Hz. ``SpectrumAccumulator`` collects what they need from the
streamed frames: the running sum of the power spectrum and of the per-frame flatness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fingerprint_service.features.frames import SpectralFrames, StftConfig
from shared.fingerprint import BAND_EDGES_HZ

FloatArray = NDArray[np.float64]

#: bass_mid_ratio_db compares 20–250 Hz with 250–4000 Hz.
BASS_RANGE_HZ = (20.0, 250.0)
MID_RANGE_HZ = (250.0, 4_000.0)
BASS_MID_LIMIT_DB = 60.0
#: spectral_rolloff_hz: the frequency below which this share of the power lies.
ROLLOFF_FRACTION = 0.85


@dataclass(frozen=True, slots=True)
class SpectralFeatures:
    band_shares: tuple[float, float, float, float, float, float, float]
    bass_mid_ratio_db: float
    spectral_centroid_hz: float
    spectral_rolloff_hz: float
    spectral_flatness: float


def band_shares(
    mean_power: FloatArray, freqs_hz: FloatArray
) -> tuple[float, float, float, float, float, float, float]:
    """Share of the averaged power in each of the seven bands of ``BAND_EDGES_HZ``.

    The shares sum to 1; all are 0 when there is no power (silence).
    """
    band_index = np.searchsorted(np.asarray(BAND_EDGES_HZ[1:]), freqs_hz, side="right")
    sums = np.bincount(band_index, weights=mean_power, minlength=len(BAND_EDGES_HZ))
    total = float(sums.sum())
    if not total > 0.0:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    s = [float(v) for v in sums / total]
    return (s[0], s[1], s[2], s[3], s[4], s[5], s[6])


def _range_power(mean_power: FloatArray, freqs_hz: FloatArray, low: float, high: float) -> float:
    return float(mean_power[(freqs_hz >= low) & (freqs_hz < high)].sum())


def bass_mid_ratio_db(mean_power: FloatArray, freqs_hz: FloatArray) -> float:
    """10·log10(power 20–250 Hz / power 250–4000 Hz), clipped to ±60 dB; 0 for silence."""
    bass = _range_power(mean_power, freqs_hz, *BASS_RANGE_HZ)
    mid = _range_power(mean_power, freqs_hz, *MID_RANGE_HZ)
    if bass <= 0.0 and mid <= 0.0:
        return 0.0
    if bass <= 0.0:
        return -BASS_MID_LIMIT_DB
    if mid <= 0.0:
        return BASS_MID_LIMIT_DB
    ratio_db = 10.0 * float(np.log10(bass / mid))
    return float(np.clip(ratio_db, -BASS_MID_LIMIT_DB, BASS_MID_LIMIT_DB))


def spectral_centroid_hz(mean_power: FloatArray, freqs_hz: FloatArray) -> float:
    """Power-weighted mean frequency in Hz; 0 for silence."""
    total = float(mean_power.sum())
    if not total > 0.0:
        return 0.0
    return float(np.dot(mean_power, freqs_hz) / total)


def spectral_rolloff_hz(
    mean_power: FloatArray, freqs_hz: FloatArray, fraction: float = ROLLOFF_FRACTION
) -> float:
    """Centre frequency of the first bin at which the cumulative power reaches ``fraction``
    of the total; 0 for silence."""
    cumulative = np.cumsum(mean_power)
    total = float(cumulative[-1]) if cumulative.size else 0.0
    if not total > 0.0:
        return 0.0
    index = int(np.searchsorted(cumulative, fraction * total, side="left"))
    return float(freqs_hz[min(index, freqs_hz.size - 1)])


def frame_flatness(power: NDArray[np.float32], log_power: NDArray[np.float32]) -> FloatArray:
    """Per-frame spectral flatness: geometric / arithmetic mean of the power, 0…1.

    ``power`` and its floored natural log ``log_power``: ``(frames, bins)``. A frame with no
    power reads 0.
    """
    if power.shape[0] == 0 or power.shape[1] == 0:
        return np.zeros(power.shape[0])
    geometric = np.exp(log_power.mean(axis=1, dtype=np.float64))
    arithmetic = power.mean(axis=1, dtype=np.float64)
    flatness = np.divide(
        geometric, arithmetic, out=np.zeros_like(geometric), where=arithmetic > 0.0
    )
    return np.asarray(np.clip(flatness, 0.0, 1.0), dtype=np.float64)


class SpectrumAccumulator:
    """Running sums over non-silent frames: power spectrum, flatness, frame count."""

    def __init__(self, config: StftConfig) -> None:
        self.config = config
        self.power_sum = np.zeros(config.freqs_hz.shape[0], dtype=np.float64)
        self.flatness_sum = 0.0
        self.frames = 0

    def update(self, batch: SpectralFrames) -> None:
        loud = batch.non_silent
        count = int(loud.sum())
        if count == 0:
            return
        if count == batch.count:
            power, logs = batch.power, batch.log_power
        else:
            power, logs = batch.power[loud], batch.log_power[loud]
        self.power_sum += power.sum(axis=0, dtype=np.float64)
        self.flatness_sum += float(frame_flatness(power, logs).sum())
        self.frames += count

    def mean_power(self) -> FloatArray:
        if self.frames == 0:
            return np.zeros_like(self.power_sum)
        return self.power_sum / self.frames

    def features(self) -> SpectralFeatures:
        return spectral_features(
            self.mean_power(),
            self.config.freqs_hz,
            self.flatness_sum / self.frames if self.frames else 0.0,
        )


def spectral_features(
    mean_power: FloatArray, freqs_hz: FloatArray, mean_flatness: float
) -> SpectralFeatures:
    """All spectral-balance dimensions from the averaged spectrum and the mean frame flatness."""
    return SpectralFeatures(
        band_shares=band_shares(mean_power, freqs_hz),
        bass_mid_ratio_db=bass_mid_ratio_db(mean_power, freqs_hz),
        spectral_centroid_hz=spectral_centroid_hz(mean_power, freqs_hz),
        spectral_rolloff_hz=spectral_rolloff_hz(mean_power, freqs_hz),
        spectral_flatness=float(np.clip(mean_flatness, 0.0, 1.0)),
    )
