"""Tonal content: pitch stability, chroma energy and harmonic ratio (dims 18–20 of SPEC section 4).

Chroma: each rfft bin's power goes to the pitch class of its centre frequency (equal
temperament, A4 = 440 Hz) within C3…B7, weighted by 1/f so that every semitone counts the same,
and each pitch class is normalised by its total weight, so white noise reads flat on average.

Harmonic ratio: median-filter harmonic/percussive separation (Fitzgerald, "Harmonic/percussive
separation using median filtering", DAFx 2010) on a reduced-resolution power spectrogram of at
most 60 s of excerpts spread evenly over the track, with soft (Wiener, power 2) masks.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fingerprint_service.features.frames import SpectralFrames, StftConfig
from shared._kernels import running_median

FloatArray = NDArray[np.float64]
Float32Array = NDArray[np.float32]

PITCH_CLASSES = 12
A4_HZ = 440.0
A4_MIDI = 69
#: Chroma range: MIDI 48 (C3, 131 Hz) up to MIDI 107 (B7, 3951 Hz). Below C3 an rfft bin of a
#: 46 ms frame spans several semitones; above B7 there are hardly any fundamentals.
CHROMA_LOW_MIDI = 48
CHROMA_HIGH_MIDI = 107
#: A frame's chroma counts only if it holds at least this much power (a non-silent frame whose
#: energy lies entirely outside the chroma range has no pitch class).
CHROMA_MIN_POWER = 1e-20

#: HPSS budget: at most this much audio, in this many excerpts spread evenly over the track.
HPSS_MAX_EXCERPT_TOTAL_S = 60.0
HPSS_EXCERPTS = 6
#: Reduced resolution of the HPSS spectrogram: frames pooled to about 20 per second, bins pooled
#: to about 40 Hz. Enough to keep partials apart from each other and drum hits short.
HPSS_FRAME_RATE_HZ = 20.0
HPSS_BIN_HZ = 40.0
#: Median kernels: harmonic = along time over ~0.5 s; percussive = along frequency over ~350 Hz.
HPSS_TIME_KERNEL_S = 0.5
HPSS_FREQ_KERNEL_HZ = 350.0


def _midi_to_hz(midi: FloatArray | float) -> FloatArray:
    return np.asarray(A4_HZ * 2.0 ** ((np.asarray(midi, dtype=np.float64) - A4_MIDI) / 12.0))


def chroma_matrix(freqs_hz: FloatArray) -> tuple[Float32Array, slice]:
    """``(12, bins)`` bin → pitch class weights over the bins of ``freqs_hz`` inside the chroma
    range, and the slice of ``freqs_hz`` they correspond to. Row 0 is C.

    Each bin goes to the pitch class of its centre frequency (not split by overlap: a sinusoid
    leaks into the bins around it, and splitting those would smear it over two classes),
    weighted by 1/f: a semitone spans a number of bins proportional to its frequency, so 1/f
    makes every semitone weigh the same (unweighted, B would collect 2^(11/12) ≈ 1.9 times C's
    bins and white noise would lean towards B).
    """
    low_hz = float(_midi_to_hz(CHROMA_LOW_MIDI - 0.5))
    high_hz = float(_midi_to_hz(CHROMA_HIGH_MIDI + 0.5))
    inside = np.flatnonzero((freqs_hz >= low_hz) & (freqs_hz < high_hz))
    if inside.size == 0:
        return np.zeros((PITCH_CLASSES, 0), dtype=np.float32), slice(0, 0)
    cols = slice(int(inside[0]), int(inside[-1]) + 1)
    freqs = freqs_hz[cols]
    midi = np.round(A4_MIDI + 12.0 * np.log2(freqs / A4_HZ)).astype(np.int64)
    matrix = np.zeros((PITCH_CLASSES, freqs.shape[0]))
    matrix[midi % PITCH_CLASSES, np.arange(freqs.shape[0])] = low_hz / freqs
    # Where the bins are coarser than a semitone (the lowest octave) some classes still get
    # more weight than others; normalising each row makes white noise flat on average exactly.
    total = matrix.sum(axis=1, keepdims=True)
    matrix = np.divide(matrix, total, out=np.zeros_like(matrix), where=total > 0)
    return matrix.astype(np.float32), cols


def chroma_energy(mean_squared_sum: float) -> float:
    """(mean Σc² − 1/12) / (11/12) of L1-normalised chroma, clipped: 0 flat, 1 one class."""
    flat = 1.0 / PITCH_CLASSES
    return float(np.clip((mean_squared_sum - flat) / (1.0 - flat), 0.0, 1.0))


class ChromaAccumulator:
    """Σ over frames of Σc² and the dominant-pitch-class transitions of non-silent frames."""

    def __init__(self, config: StftConfig) -> None:
        self._matrix, self._cols = chroma_matrix(config.freqs_hz)
        self.squared_sum = 0.0
        self.frames = 0
        self.pairs = 0
        self.unchanged_pairs = 0
        self._previous_class = -1  # dominant pitch class of the frame before; −1 = none

    def update(self, batch: SpectralFrames) -> None:
        if batch.count == 0:
            return
        chroma = (batch.power[:, self._cols] @ self._matrix.T).astype(np.float64)
        total = chroma.sum(axis=1)
        valid = batch.non_silent & (total > CHROMA_MIN_POWER)
        dominant = np.where(valid, np.argmax(chroma, axis=1), -1)
        if valid.any():
            normalised = chroma[valid] / total[valid, None]
            self.squared_sum += float((normalised * normalised).sum())
            self.frames += int(valid.sum())
        sequence = np.concatenate([[self._previous_class], dominant])
        both = (sequence[:-1] >= 0) & (sequence[1:] >= 0)
        self.pairs += int(both.sum())
        self.unchanged_pairs += int((both & (sequence[:-1] == sequence[1:])).sum())
        self._previous_class = int(dominant[-1])

    def chroma_energy(self) -> float:
        return chroma_energy(self.squared_sum / self.frames) if self.frames else 0.0

    def pitch_stability(self) -> float:
        return self.unchanged_pairs / self.pairs if self.pairs else 0.0


@functools.lru_cache(maxsize=16)
def median_network(size: int) -> tuple[tuple[int, int], ...]:
    """Compare-exchange pairs that leave the median of ``size`` values at index ``size // 2``.

    Batcher's odd-even merge sort (Knuth, TAOCP vol. 3, 5.3.4) for the next power of two, with
    the comparators that touch the (virtual, +inf) padding dropped and then every comparator
    the middle output does not depend on pruned away.
    """
    padded = 1
    while padded < size:
        padded *= 2
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < padded:
        k = p
        while k >= 1:
            for j in range(k % p, padded - k, 2 * k):
                for i in range(min(k, padded - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p) and i + j + k < size:
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    needed = {size // 2}
    kept: list[tuple[int, int]] = []
    for low, high in reversed(pairs):
        if low in needed or high in needed:
            kept.append((low, high))
            needed.update((low, high))
    return tuple(reversed(kept))


@functools.lru_cache(maxsize=16)
def _network_pairs(size: int) -> NDArray[np.int64]:
    return np.array(median_network(size), dtype=np.int64).reshape(-1, 2)


def median_filter_axis(values: Float32Array, size: int, axis: int) -> Float32Array:
    """Running median of odd length ``size`` along ``axis`` of a 2-D array (reflected edges).

    The sorting network of ``median_network``, run on eight columns at a time in registers
    (``shared._kernels.running_median``); several times faster than a per-window selection,
    and than the network as whole-array numpy passes.
    """
    along = np.ascontiguousarray(values if axis == 0 else values.T, dtype=np.float32)
    out = np.empty(along.shape, dtype=np.float32)
    running_median(along, size, _network_pairs(size), out)
    return out if axis == 0 else out.T


def hpss_energies(power: Float32Array, time_kernel: int, freq_kernel: int) -> tuple[float, float]:
    """(harmonic energy, total energy) of a ``(frames, bins)`` power spectrogram.

    Harmonic = median along time, percussive = median along frequency; the harmonic share of
    each cell is H / (H + P) on power (the magnitude Wiener mask with exponent 2).
    """
    total = float(power.sum(dtype=np.float64))
    if power.size == 0 or not total > 0.0:
        return 0.0, 0.0
    harmonic = median_filter_axis(power, time_kernel, axis=0)
    percussive = median_filter_axis(power, freq_kernel, axis=1)
    both = harmonic + percussive
    # A cell that neither filter explains is split evenly.
    mask = np.divide(harmonic, both, out=np.full_like(both, 0.5), where=both > 0)
    return float((mask * power).sum(dtype=np.float64)), total


def _odd(value: float) -> int:
    return 2 * max(0, round(value / 2.0)) + 1


@dataclass(frozen=True, slots=True)
class HpssGeometry:
    """Reduced-resolution HPSS layout at one sample rate."""

    frame_pool: int
    bin_pool: int
    time_kernel: int
    freq_kernel: int

    @classmethod
    def for_config(cls, config: StftConfig) -> HpssGeometry:
        frame_pool = max(1, round(config.frame_rate_hz / HPSS_FRAME_RATE_HZ))
        bin_pool = max(1, round(HPSS_BIN_HZ / config.bin_hz))
        pooled_rate = config.frame_rate_hz / frame_pool
        pooled_bin_hz = config.bin_hz * bin_pool
        return cls(
            frame_pool=frame_pool,
            bin_pool=bin_pool,
            time_kernel=_odd(HPSS_TIME_KERNEL_S * pooled_rate),
            freq_kernel=_odd(HPSS_FREQ_KERNEL_HZ / pooled_bin_hz),
        )


def excerpt_plan(total_frames: int, frame_rate_hz: float) -> list[tuple[int, int]]:
    """Frame ranges ``[start, stop)`` analysed by HPSS: the whole track when it fits in the
    budget, else ``HPSS_EXCERPTS`` equal excerpts spread evenly from start to end."""
    budget = max(1, math.floor(HPSS_MAX_EXCERPT_TOTAL_S * frame_rate_hz))
    if total_frames <= budget:
        return [(0, max(total_frames, 0))]
    length = budget // HPSS_EXCERPTS
    last_start = total_frames - length
    starts = [round(j * last_start / (HPSS_EXCERPTS - 1)) for j in range(HPSS_EXCERPTS)]
    return [(s, s + length) for s in starts]


def pool_bins(power: Float32Array, bin_pool: int) -> Float32Array:
    """Mean power over groups of ``bin_pool`` adjacent bins (a ragged top group is dropped)."""
    frames, bins = power.shape
    usable = bins - bins % bin_pool
    pooled = power[:, :usable].reshape(frames, usable // bin_pool, bin_pool).mean(axis=2)
    return np.asarray(pooled, dtype=np.float32)


def pool_frames(power: Float32Array, frame_pool: int) -> Float32Array:
    """Mean power over groups of ``frame_pool`` consecutive frames (a ragged end is dropped
    unless it is all there is)."""
    frames, bins = power.shape
    usable = frames - frames % frame_pool
    if usable == 0:
        return np.asarray(power.mean(axis=0, keepdims=True), dtype=np.float32)
    pooled = power[:usable].reshape(usable // frame_pool, frame_pool, bins).mean(axis=1)
    return np.asarray(pooled, dtype=np.float32)


class HarmonicAccumulator:
    """Collects the planned excerpts of the spectrogram, separating each as soon as it is
    complete, so at most one excerpt (≤ 60 s at reduced resolution) is held at a time."""

    def __init__(self, config: StftConfig, total_frames: int) -> None:
        self.geometry = HpssGeometry.for_config(config)
        self._plan = excerpt_plan(total_frames, config.frame_rate_hz)
        self._parts: dict[int, list[Float32Array]] = {}
        self._filled: dict[int, int] = {}
        self.harmonic_energy = 0.0
        self.total_energy = 0.0

    def update(self, batch: SpectralFrames) -> None:
        first, stop = batch.first_index, batch.first_index + batch.count
        for number, (start, end) in enumerate(self._plan):
            low, high = max(start, first), min(end, stop)
            if low >= high:
                continue
            rows = batch.power[low - first : high - first]
            self._parts.setdefault(number, []).append(pool_bins(rows, self.geometry.bin_pool))
            self._filled[number] = self._filled.get(number, 0) + high - low
            if self._filled[number] >= end - start:
                self._separate(number)

    def finish(self) -> None:
        """Separate excerpts cut short by an early end of stream."""
        for number in list(self._parts):
            self._separate(number)

    def _separate(self, number: int) -> None:
        parts = self._parts.pop(number, [])
        if not parts:
            return
        g = self.geometry
        power = pool_frames(np.concatenate(parts, axis=0), g.frame_pool)
        harmonic, total = hpss_energies(power, g.time_kernel, g.freq_kernel)
        self.harmonic_energy += harmonic
        self.total_energy += total

    def harmonic_ratio(self) -> float:
        if not self.total_energy > 0.0:
            return 0.0
        return float(np.clip(self.harmonic_energy / self.total_energy, 0.0, 1.0))
