"""Rhythm: tempo, rhythm stability and transient density (dims 11–13 of SPEC section 4).

Everything derives from one onset-strength envelope at the STFT frame rate: the half-wave
rectified spectral flux of the log-compressed magnitude spectrum (Müller, "Fundamentals of
Music Processing", section 6.1), averaged over the analysis band. The envelope is one float per
frame, so it is kept whole and the functions below run once on it at the end of the track.

Tempo: the unbiased autocorrelation of the mean-removed envelope, normalised to 1 at lag 0. Each
candidate lag between 60 and 200 BPM is scored by the mean of the autocorrelation at the lag and
its first multiples (harmonic summation: a true beat period repeats at 2, 3, 4 periods, a
half-period alias does not), weighted by a log-normal prior centred on 120 BPM with a one-octave
standard deviation. The winning lag is refined with parabolic interpolation of the peaks at the
lag and its multiples (a least-squares fit through the origin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, uniform_filter1d

from fingerprint_service.features.frames import SpectralFrames

FloatArray = NDArray[np.float64]

#: Log compression log(1 + γ·|X|) (|X| = 1 for a full-scale sine): the knee at −60 dB keeps the
#: noise floor of quiet passages from flooding the flux with random fluctuations.
ONSET_LOG_GAIN = 1000.0

TEMPO_MIN_BPM = 60.0
TEMPO_MAX_BPM = 200.0
#: Log-normal tempo prior: centre and standard deviation in octaves.
TEMPO_PRIOR_BPM = 120.0
TEMPO_PRIOR_OCTAVES = 1.0
#: Gaussian smoothing of the envelope before the autocorrelation, in frames: an onset's flux
#: is split between one or two frames depending on where it falls on the frame grid, and this
#: evens the shape out so repetitions of the same hit correlate.
TEMPO_SMOOTHING_FRAMES = 1.0
#: Multiples of a candidate lag averaged in its score.
TEMPO_HARMONICS = 4
#: Multiples of the winning lag used to refine it; a multiple joins the fit only if its peak
#: is at least this share of the first one (weak or missing repetitions would only add noise).
REFINE_HARMONICS = 4
REFINE_MIN_PEAK_SHARE = 0.5

#: Onset picking: a peak of the envelope within ±50 ms, at least DELTA above the mean of the
#: surrounding ±100 ms. DELTA is ONSET_DELTA times the envelope's 99th percentile (so the
#: threshold scales with the material), but never below ONSET_MIN_DELTA (mean nats of flux:
#: fluctuations of a noise floor stay below it).
ONSET_PEAK_WINDOW_S = 0.05
ONSET_MEAN_WINDOW_S = 0.1
ONSET_DELTA = 0.07
ONSET_DELTA_PERCENTILE = 99.0
ONSET_MIN_DELTA = 0.02
#: transient_density = onsets per second / this, clipped to 1.
ONSETS_PER_S_FULL_SCALE = 10.0


@dataclass(frozen=True, slots=True)
class RhythmFeatures:
    tempo_bpm: float
    rhythm_stability: float
    transient_density: float


def log_magnitude(power: NDArray[np.float32]) -> NDArray[np.float32]:
    """log(1 + γ·|X|) of a power spectrum batch."""
    return np.log1p(np.float32(ONSET_LOG_GAIN) * np.sqrt(power))


def spectral_flux(
    log_mag: NDArray[np.float32], previous: NDArray[np.float32]
) -> FloatArray:
    """Half-wave rectified frame-to-frame increase, averaged over bins.

    ``log_mag``: ``(frames, bins)``; ``previous``: the ``(bins,)`` frame before the first one.
    """
    before = np.concatenate([previous[None, :], log_mag[:-1]], axis=0)
    rise = np.maximum(log_mag - before, np.float32(0.0))
    return np.asarray(rise.mean(axis=1, dtype=np.float64), dtype=np.float64)


class OnsetAccumulator:
    """Builds the onset-strength envelope frame by frame; the frame before the track is silent."""

    def __init__(self, bins: int) -> None:
        self._previous = np.zeros(bins, dtype=np.float32)
        self._parts: list[FloatArray] = []

    def update(self, batch: SpectralFrames) -> None:
        if batch.count == 0:
            return
        log_mag = log_magnitude(batch.power)
        self._parts.append(spectral_flux(log_mag, self._previous))
        self._previous = log_mag[-1].copy()

    def envelope(self) -> FloatArray:
        return np.concatenate(self._parts) if self._parts else np.zeros(0)


def normalised_autocorrelation(envelope: FloatArray, max_lag: int) -> FloatArray:
    """Unbiased autocorrelation of the mean-removed envelope for lags 0…max_lag, 1 at lag 0.

    All zeros when the envelope is constant.
    """
    n = envelope.shape[0]
    max_lag = min(max_lag, n - 1)
    if n == 0 or max_lag < 0:
        return np.zeros(0)
    centred = envelope - envelope.mean()
    size = scipy.fft.next_fast_len(2 * n, real=True)
    spectrum = scipy.fft.rfft(centred, size)
    full = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, size)[: max_lag + 1]
    unbiased = full / (n - np.arange(max_lag + 1))
    if not unbiased[0] > 1e-18:
        return np.zeros(max_lag + 1)
    return np.asarray(unbiased / unbiased[0], dtype=np.float64)


def _parabolic_peak(values: FloatArray, index: int) -> tuple[float, float]:
    """Vertex (position, height) of the parabola through ``values[index − 1 … index + 1]``."""
    if index <= 0 or index >= values.shape[0] - 1:
        return float(index), float(values[index])
    left, centre, right = values[index - 1], values[index], values[index + 1]
    curvature = left - 2.0 * centre + right
    if curvature >= 0.0:
        return float(index), float(centre)
    offset = 0.5 * (left - right) / curvature
    return index + offset, float(centre - 0.25 * (left - right) * offset)


def tempo_prior(bpm: FloatArray) -> FloatArray:
    """Log-normal weighting toward ``TEMPO_PRIOR_BPM`` (1 there, e^-½ one octave away)."""
    octaves = np.log2(bpm / TEMPO_PRIOR_BPM)
    return np.asarray(np.exp(-0.5 * (octaves / TEMPO_PRIOR_OCTAVES) ** 2), dtype=np.float64)


def estimate_tempo(envelope: FloatArray, frame_rate_hz: float) -> tuple[float, float]:
    """(tempo_bpm, rhythm_stability) of an onset envelope; (0, 0) without any periodicity."""
    min_lag = max(1, math.ceil(60.0 * frame_rate_hz / TEMPO_MAX_BPM))
    max_lag = math.floor(60.0 * frame_rate_hz / TEMPO_MIN_BPM)
    n = envelope.shape[0]
    # Lags need at least two periods of envelope to be measured at all.
    max_lag = min(max_lag, n // 2)
    if max_lag < min_lag:
        return 0.0, 0.0
    smoothed = gaussian_filter1d(envelope, TEMPO_SMOOTHING_FRAMES, mode="constant")
    acf = normalised_autocorrelation(smoothed, min(TEMPO_HARMONICS * max_lag + 1, n - 1))
    if acf.size == 0 or acf[0] == 0.0:
        return 0.0, 0.0
    top = acf.shape[0] - 1
    lags = np.arange(min_lag, max_lag + 1)
    score = np.zeros(lags.shape[0])
    used = np.zeros(lags.shape[0])
    for k in range(1, TEMPO_HARMONICS + 1):
        # The k-th multiple of an integer lag can sit up to k/2 frames from the true one.
        radius = 0 if k == 1 else math.ceil(k / 2)
        spread = maximum_filter1d(acf, size=2 * radius + 1, mode="nearest")
        valid = k * lags <= top
        score[valid] += spread[k * lags[valid]]
        used[valid] += 1.0
    score = np.where(used > 0, score / np.maximum(used, 1.0), 0.0)
    weighted = score * tempo_prior(60.0 * frame_rate_hz / lags)
    best = int(np.argmax(weighted))
    if not weighted[best] > 0.0:
        return 0.0, 0.0
    period, stability = _refine_period(acf, int(lags[best]))
    bpm = float(np.clip(60.0 * frame_rate_hz / period, TEMPO_MIN_BPM, TEMPO_MAX_BPM))
    return bpm, float(np.clip(stability, 0.0, 1.0))


def _refine_period(acf: FloatArray, lag: int) -> tuple[float, float]:
    """Sub-frame beat period from the peaks near ``lag`` and its multiples, and the
    autocorrelation height of the first peak."""
    top = acf.shape[0] - 1
    first_index = _local_peak(acf, lag, 1)
    first_position, first_height = _parabolic_peak(acf, first_index)
    numerator, denominator = first_position, 1.0
    estimate = first_position
    for k in range(2, REFINE_HARMONICS + 1):
        centre = int(round(k * estimate))
        if centre + 1 > top:
            break
        index = _local_peak(acf, centre, 1)
        position, height = _parabolic_peak(acf, index)
        if height < REFINE_MIN_PEAK_SHARE * first_height:
            continue
        numerator += k * position
        denominator += k * k
        estimate = numerator / denominator
    return estimate, first_height


def _local_peak(values: FloatArray, centre: int, radius: int) -> int:
    low = max(0, centre - radius)
    high = min(values.shape[0], centre + radius + 1)
    return low + int(np.argmax(values[low:high]))


def onset_frames(envelope: FloatArray, frame_rate_hz: float) -> NDArray[np.int64]:
    """Indices of detected onsets: peaks of the envelope above an adaptive threshold."""
    n = envelope.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    peak_radius = max(1, round(ONSET_PEAK_WINDOW_S * frame_rate_hz))
    mean_radius = max(1, round(ONSET_MEAN_WINDOW_S * frame_rate_hz))
    local_max = maximum_filter1d(envelope, size=2 * peak_radius + 1, mode="constant")
    local_mean = uniform_filter1d(envelope, size=2 * mean_radius + 1, mode="constant")
    delta = max(
        ONSET_MIN_DELTA,
        ONSET_DELTA * float(np.percentile(envelope, ONSET_DELTA_PERCENTILE)),
    )
    candidate = (envelope >= local_max) & (envelope >= local_mean + delta)
    # On a plateau keep only its first frame.
    candidate[1:] &= envelope[1:] > envelope[:-1]
    return np.flatnonzero(candidate).astype(np.int64)


def transient_density(onset_count: int, duration_s: float) -> float:
    """Onsets per second / 10, clipped to 0…1."""
    if duration_s <= 0.0:
        return 0.0
    return float(np.clip(onset_count / duration_s / ONSETS_PER_S_FULL_SCALE, 0.0, 1.0))


def rhythm_features(envelope: FloatArray, frame_rate_hz: float, duration_s: float) -> RhythmFeatures:
    tempo_bpm, stability = estimate_tempo(envelope, frame_rate_hz)
    density = transient_density(int(onset_frames(envelope, frame_rate_hz).shape[0]), duration_s)
    return RhythmFeatures(tempo_bpm, stability, density)
