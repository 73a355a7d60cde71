"""Rhythm: tempo, rhythm stability and transient density (dims 11–13 of SPEC section 4).

Everything derives from one onset-strength envelope at the STFT frame rate: the half-wave
rectified spectral flux of the log-compressed magnitude spectrum (Müller, "Fundamentals of
Music Processing", section 6.1), averaged over the analysis band; silent frames contribute 0.
The envelope is one float per frame, so it is kept whole and the functions below run once on it
at the end of the track.

Tempo: the envelope is smoothed over about a frame, its mean removed, and its unbiased
autocorrelation normalised to 1 at lag 0. Each candidate lag between 60 and 200 BPM is scored by
the mean of the autocorrelation at the lag and its first multiples (harmonic summation: a true
beat period repeats at 2, 3 and 4 periods, a half-period alias does not), weighted by a
log-normal prior centred on 120 BPM with a one-octave standard deviation (the octave choice
between a period and its double is the prior's). The winning lag is refined by parabolic
interpolation of the peaks at the lag and its multiples (a least-squares fit through the
origin). rhythm_stability is the interpolated autocorrelation peak at the lag.

Transient density: onsets are local maxima of the envelope that stand well above its running
median; their rate per second, divided by 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fingerprint_service.features.frames import SpectralFrames
from fingerprint_service.features.sliding import gaussian_smooth, sliding_max, sliding_median
from shared.fingerprint import TEMPO_RANGE_BPM

FloatArray = NDArray[np.float64]

#: Knee of the onset strength's log compression (−60 dB re a full-scale sine's bin): above it
#: the flux follows the log magnitude, below it fades out, so the noise floor of quiet passages
#: does not flood the flux with its fluctuations.
ONSET_KNEE_POWER = 1e-6

TEMPO_MIN_BPM, TEMPO_MAX_BPM = TEMPO_RANGE_BPM
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

#: Onset picking: a peak of the envelope within ±50 ms that stands at least ONSET_RATIO times
#: above the local baseline (the median over ±250 ms, which neighbouring onsets do not lift)
#: and at least ONSET_MIN_DELTA (mean nats of flux) above it. The ratio makes the test
#: level-independent and ignores stationary noise, whose flux hovers within a few per cent of
#: its own median; the absolute margin ignores the faint ripple of near-silent passages.
ONSET_PEAK_WINDOW_S = 0.05
ONSET_BASELINE_WINDOW_S = 0.25
ONSET_RATIO = 1.5
ONSET_MIN_DELTA = 0.01
#: transient_density = onsets per second / this, clipped to 1.
ONSETS_PER_S_FULL_SCALE = 10.0
#: The rate is taken over at least this long: one onset in a 3 ms file is not 333 per second.
MIN_RATE_DURATION_S = 1.0


@dataclass(frozen=True, slots=True)
class RhythmFeatures:
    tempo_bpm: float
    rhythm_stability: float
    transient_density: float


def onset_log_magnitude(power: NDArray[np.float32]) -> NDArray[np.float32]:
    """½·log(1 + P/P₀) of a ``(frames, bins)`` batch of power spectra, P₀ = ONSET_KNEE_POWER:
    the log magnitude (plus a constant) well above the knee, close to 0 well below it."""
    compressed = power * np.float32(1.0 / ONSET_KNEE_POWER)
    compressed += np.float32(1.0)
    np.log(compressed, out=compressed)
    compressed *= np.float32(0.5)
    return compressed


def spectral_flux(log_mag: NDArray[np.float32], previous: NDArray[np.float32]) -> FloatArray:
    """Half-wave rectified frame-to-frame increase, averaged over bins.

    ``log_mag``: ``(frames, bins)``; ``previous``: the ``(bins,)`` frame before the first one.
    """
    rise = np.empty_like(log_mag)
    np.subtract(log_mag[1:], log_mag[:-1], out=rise[1:])
    np.subtract(log_mag[0], previous, out=rise[0])
    np.maximum(rise, np.float32(0.0), out=rise)
    return np.asarray(rise.mean(axis=1, dtype=np.float64), dtype=np.float64)


class OnsetAccumulator:
    """Builds the onset-strength envelope frame by frame; the frame before the track is silent,
    so a track that starts loud starts with an onset."""

    def __init__(self, bins: int) -> None:
        self._previous = np.zeros(bins, dtype=np.float32)
        self._parts: list[FloatArray] = []

    def update(self, batch: SpectralFrames) -> None:
        if batch.count == 0:
            return
        log_mag = onset_log_magnitude(batch.power)
        # Silent frames carry no onset strength (the rise into the first loud frame still does).
        self._parts.append(np.where(batch.non_silent, spectral_flux(log_mag, self._previous), 0.0))
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
    # Zero-padded to a power of two ≥ 2n: the circular correlation is then the linear one.
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, size)
    full = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, size)[: max_lag + 1]
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
    # Clamped: at the edge of a search window the index need not be a local maximum.
    offset = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
    return index + offset, float(centre - 0.25 * (left - right) * offset)


def tempo_prior(bpm: FloatArray) -> FloatArray:
    """Log-normal weighting toward ``TEMPO_PRIOR_BPM`` (1 there, e^-½ one octave away)."""
    octaves = np.log2(bpm / TEMPO_PRIOR_BPM)
    return np.asarray(np.exp(-0.5 * (octaves / TEMPO_PRIOR_OCTAVES) ** 2), dtype=np.float64)


def estimate_tempo(envelope: FloatArray, frame_rate_hz: float) -> tuple[float, float]:
    """(tempo_bpm, rhythm_stability) of an onset envelope; (0, 0) without any periodicity."""
    min_lag = max(1, math.ceil(60.0 * frame_rate_hz / TEMPO_MAX_BPM))
    max_lag = math.floor(60.0 * frame_rate_hz / TEMPO_MIN_BPM)
    # The unbiased autocorrelation averages over n − lag products: beyond n/2 it rests on too
    # few of them (two isolated onsets would read as a perfect repetition).
    usable_lag = envelope.shape[0] // 2
    max_lag = min(max_lag, usable_lag)
    if max_lag < min_lag:
        return 0.0, 0.0
    smoothed = gaussian_smooth(envelope, TEMPO_SMOOTHING_FRAMES)
    acf = normalised_autocorrelation(smoothed, min(TEMPO_HARMONICS * max_lag + 1, usable_lag))
    if acf.size == 0 or acf[0] == 0.0:
        return 0.0, 0.0
    top = acf.shape[0] - 1
    lags = np.arange(min_lag, max_lag + 1)
    score = np.zeros(lags.shape[0])
    used = np.zeros(lags.shape[0])
    for k in range(1, TEMPO_HARMONICS + 1):
        # The k-th multiple of an integer lag can sit up to k/2 frames from the true one.
        radius = 0 if k == 1 else math.ceil(k / 2)
        spread = sliding_max(acf, 2 * radius + 1, edge="nearest")
        valid = k * lags <= top
        score[valid] += spread[k * lags[valid]]
        used[valid] += 1.0
    score = np.where(used > 0, score / np.maximum(used, 1.0), 0.0)
    weighted = score * tempo_prior(60.0 * frame_rate_hz / lags)
    best = int(np.argmax(weighted))
    if not weighted[best] > 0.0:
        return 0.0, 0.0
    period, stability = _refine_period(acf, int(lags[best]))
    period = max(period, min_lag - 0.5)
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
        centre = round(k * estimate)
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
    """Index of the largest value within ``radius`` of ``centre`` (clamped to the array)."""
    last = int(values.shape[0]) - 1
    low = min(max(0, centre - radius), last)
    high = min(last, max(low, centre + radius))
    return low + int(np.argmax(values[low : high + 1]))


def onset_frames(envelope: FloatArray, frame_rate_hz: float) -> NDArray[np.int64]:
    """Indices of detected onsets: local peaks of the envelope well above its local baseline."""
    if envelope.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    peak_radius = max(1, round(ONSET_PEAK_WINDOW_S * frame_rate_hz))
    baseline_radius = max(1, round(ONSET_BASELINE_WINDOW_S * frame_rate_hz))
    local_max = sliding_max(envelope, 2 * peak_radius + 1, edge="zero")
    baseline = sliding_median(envelope, 2 * baseline_radius + 1, edge="nearest")
    candidate = (
        (envelope >= local_max)
        & (envelope >= ONSET_RATIO * baseline)
        & (envelope >= baseline + ONSET_MIN_DELTA)
    )
    # On a plateau keep only its first frame.
    candidate[1:] &= envelope[1:] > envelope[:-1]
    return np.flatnonzero(candidate).astype(np.int64)


def transient_density(onset_count: int, duration_s: float) -> float:
    """Onsets per second / 10, clipped to 0…1 (the rate over at least one second)."""
    per_s = onset_count / max(duration_s, MIN_RATE_DURATION_S)
    return float(np.clip(per_s / ONSETS_PER_S_FULL_SCALE, 0.0, 1.0))


def rhythm_features(
    envelope: FloatArray, frame_rate_hz: float, duration_s: float
) -> RhythmFeatures:
    """All rhythm dimensions from the onset envelope of a track lasting ``duration_s``."""
    tempo_bpm, stability = estimate_tempo(envelope, frame_rate_hz)
    density = transient_density(int(onset_frames(envelope, frame_rate_hz).shape[0]), duration_s)
    return RhythmFeatures(tempo_bpm, stability, density)
