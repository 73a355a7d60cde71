"""Loudness and true peak: ITU-R BS.1770-4 and EBU R128 (Tech 3341, Tech 3342), streamed.

The one loudness meter of the project. Feed ``(frames, channels)`` float64 blocks of any size;
the result never depends on how the audio was split. What is kept is one weighted energy per
100 ms of audio, so memory grows by one float per 100 ms whatever the channel count.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import signal

FloatArray = NDArray[np.float64]

# --- BS.1770-4 constants -------------------------------------------------------------------------

#: The −0.691 dB offset of the loudness formula (makes a 1 kHz sine read its level in LUFS).
LOUDNESS_OFFSET_DB = -0.691
#: Absolute gate of the integrated loudness and of the loudness range.
ABSOLUTE_GATE_LUFS = -70.0
#: Relative gate of the integrated loudness (BS.1770-4) and of the loudness range (Tech 3342).
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
#: Percentiles of the gated short-term distribution whose difference is the LRA (Tech 3342).
LRA_LOW_PERCENTILE = 10.0
LRA_HIGH_PERCENTILE = 95.0
#: Energies are kept per 100 ms "sub-block": the gating block step of BS.1770-4.
SUB_BLOCKS_PER_S = 10
#: Gating block = 400 ms = 4 sub-blocks (75 % overlap); short-term window = 3 s = 30 sub-blocks.
GATING_BLOCK_SUB_BLOCKS = 4
SHORT_TERM_SUB_BLOCKS = 30
#: Floor of every level this module reports that is not gated: finite, far below anything real.
LEVEL_FLOOR_DB = -200.0

# K-weighting as analog prototypes, fitted to the 48 kHz coefficients printed in BS.1770-4
# (stage 1: b = 1.53512485958697, −2.69169618940638, 1.19839281085285 /
#  a = 1, −1.69065929318241, 0.73248077421585; stage 2: b = 1, −2, 1 /
#  a = 1, −1.99004745483398, 0.99007225036621). Bilinear transform prewarped at each corner
# frequency reproduces those numbers at 48 kHz and the same analog response at any other rate.
SHELF_CORNER_HZ = 1681.974450955533
SHELF_GAIN_DB = 3.999843853973347
SHELF_Q = 0.7071752369554196
#: The shelf's mid-band gain is Vh ** this (a hair under the geometric mean of 1 and Vh).
SHELF_MID_GAIN_EXPONENT = 0.4996667741545416
HIGH_PASS_CORNER_HZ = 38.13547087602444
HIGH_PASS_Q = 0.5003270373238773
#: BS.1770 prints the 48 kHz high-pass numerator as exactly (1, −2, 1), i.e. with the bilinear
#: a0 of 48 kHz left in as a gain; the analog prototype keeps that gain at every rate.
_REFERENCE_RATE_HZ = 48_000

#: BS.1770-4 channel weights: 1.0 for front channels, 1.41 (+1.5 dB) for surrounds, 0 for LFE.
SURROUND_WEIGHT = 1.41

MIN_SAMPLE_RATE_HZ = 8_000
MAX_SAMPLE_RATE_HZ = 192_000


def _check_rate(sample_rate: int) -> None:
    if not MIN_SAMPLE_RATE_HZ <= sample_rate <= MAX_SAMPLE_RATE_HZ:
        raise ValueError(
            f"sample_rate must be {MIN_SAMPLE_RATE_HZ}…{MAX_SAMPLE_RATE_HZ} Hz, got {sample_rate}"
        )


def _prewarped(corner_hz: float, sample_rate: int) -> float:
    return math.tan(math.pi * corner_hz / sample_rate)


def k_weighting_sos(sample_rate: int) -> FloatArray:
    """K-weighting filter (pre-filter shelf, then RLB high-pass) for ``sample_rate``, as ``(2, 6)``
    second-order sections for :func:`scipy.signal.sosfilt`.

    Designed from the analog prototypes by the bilinear transform, prewarped at each corner, so
    the response is the same at 8 kHz as at 192 kHz; at 48 kHz it reproduces BS.1770-4's table.
    """
    _check_rate(sample_rate)
    # Stage 1: high shelf H(s) = (Vh s² + Vb (w0/Q) s + w0²) / (s² + (w0/Q) s + w0²).
    k = _prewarped(SHELF_CORNER_HZ, sample_rate)
    vh = 10.0 ** (SHELF_GAIN_DB / 20.0)
    vb = vh**SHELF_MID_GAIN_EXPONENT
    a0 = 1.0 + k / SHELF_Q + k * k
    shelf = [
        (vh + vb * k / SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / SHELF_Q + k * k) / a0,
    ]
    # Stage 2: high-pass H(s) = g s² / (s² + (w0/Q) s + w0²), g = the 48 kHz bilinear a0.
    k = _prewarped(HIGH_PASS_CORNER_HZ, sample_rate)
    a0 = 1.0 + k / HIGH_PASS_Q + k * k
    k_ref = _prewarped(HIGH_PASS_CORNER_HZ, _REFERENCE_RATE_HZ)
    gain = (1.0 + k_ref / HIGH_PASS_Q + k_ref * k_ref) / a0
    high_pass = [
        gain,
        -2.0 * gain,
        gain,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / HIGH_PASS_Q + k * k) / a0,
    ]
    return np.array([shelf, high_pass], dtype=np.float64)


def channel_weights(channels: int) -> FloatArray:
    """BS.1770-4 weights G_i for ``channels`` in WAV/SMPTE order.

    6 channels are 5.1 (L R C LFE Ls Rs: the LFE is excluded); 5 channels are 5.0 (L R C Ls Rs);
    every other layout weighs each channel 1.0.
    """
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, SURROUND_WEIGHT, SURROUND_WEIGHT])
    if channels == 5:
        return np.array([1.0, 1.0, 1.0, SURROUND_WEIGHT, SURROUND_WEIGHT])
    return np.ones(channels)


def _power_to_lufs(power: FloatArray) -> FloatArray:
    """Mean-square (channel-weighted) power → loudness, floored at LEVEL_FLOOR_DB."""
    floor_power = 10.0 ** ((LEVEL_FLOOR_DB - LOUDNESS_OFFSET_DB) / 10.0)
    return np.asarray(
        LOUDNESS_OFFSET_DB + 10.0 * np.log10(np.maximum(power, floor_power)), dtype=np.float64
    )


def _lufs_to_power(lufs: float) -> float:
    return float(10.0 ** ((lufs - LOUDNESS_OFFSET_DB) / 10.0))


def _amplitude_to_db(amplitude: float) -> float:
    floor = 10.0 ** (LEVEL_FLOOR_DB / 20.0)
    return 20.0 * math.log10(max(amplitude, floor))


def _as_block(block: NDArray[np.float64], channels: int) -> FloatArray:
    array = np.asarray(block, dtype=np.float64)
    if array.ndim == 1 and channels == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != channels:
        raise ValueError(f"expected a (frames, {channels}) block, got shape {array.shape}")
    return array


# --- True peak -----------------------------------------------------------------------------------

#: Oversampling factor. BS.1770-4 Annex 2 asks for ≥ 4× at 48 kHz. The worst under-read of a
#: sine at frequency f is 1 − cos(π f / (factor · fs)): it depends only on f / fs, so 4× gives the
#: same guarantee at every rate (≤ 0.69 dB at Nyquist, ≤ 0.1 dB up to 0.19 fs) and is kept
#: everywhere, including 96–192 kHz where the limiter still needs it.
TRUE_PEAK_FACTOR = 4
#: Half-length of the interpolation filter in input frames: each phase has 2 × this many taps.
TRUE_PEAK_HALF_TAPS = 8
#: Kaiser window shape of the windowed-sinc interpolator.
TRUE_PEAK_KAISER_BETA = 6.0


def _interpolation_matrix(factor: int, half_taps: int, beta: float) -> FloatArray:
    """Polyphase windowed-sinc interpolator as a ``(2·half_taps + 1, factor)`` matrix G.

    With x the input, ``y[m, p] = Σ_k G[k, p] · x[m − k]`` is the band-limited signal at time
    ``m − half_taps + p / factor`` (in input frames). Phase 0 is exactly x delayed.
    """
    length = 2 * half_taps * factor + 1
    n = np.arange(length)
    prototype = np.sinc((n - half_taps * factor) / factor) * np.kaiser(length, beta)
    matrix = np.zeros((2 * half_taps + 1, factor))
    for phase in range(factor):
        taps = prototype[phase::factor]
        matrix[: taps.size, phase] = taps / taps.sum()
    return matrix


class TruePeakDetector:
    """Streaming 4× oversampled peak detector (BS.1770-4 Annex 2). State carried across blocks.

    ``process`` returns, per input frame, the largest |x| over channels and over the oversampled
    points of that frame interval, ``delay_frames`` late: ``output[i]`` describes input frame
    ``i − delay_frames`` (the first ``delay_frames`` outputs describe the interval just before
    the start, where the reconstruction of an abrupt onset already rings). ``flush`` returns
    the last ``delay_frames`` values. The output does not depend on how the input is split.
    """

    def __init__(
        self, sample_rate: int, channels: int, *, factor: int = TRUE_PEAK_FACTOR
    ) -> None:
        _check_rate(sample_rate)
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        if factor < 1:
            raise ValueError(f"factor must be at least 1, got {factor}")
        self.sample_rate = sample_rate
        self.channels = channels
        self.factor = factor
        self.delay_frames = TRUE_PEAK_HALF_TAPS if factor > 1 else 0
        matrix = _interpolation_matrix(factor, TRUE_PEAK_HALF_TAPS, TRUE_PEAK_KAISER_BETA)
        # Reversed so that a window ext[j : j + taps] (oldest first) multiplies it directly;
        # phase 0 is the delayed input itself and needs no arithmetic.
        self._taps = np.ascontiguousarray(matrix[::-1, 1:]) if factor > 1 else matrix[:0, 1:]
        self._history = np.zeros((2 * self.delay_frames, channels))

    def reset(self) -> None:
        self._history[:] = 0.0

    def process(self, block: NDArray[np.float64]) -> FloatArray:
        x = _as_block(block, self.channels)
        n = x.shape[0]
        if n == 0:
            return np.zeros(0)
        extended = np.concatenate([self._history, x]) if self.delay_frames else x
        out = self._peaks(extended, n)
        if self.delay_frames:
            self._history = extended[-2 * self.delay_frames :].copy()
        return out

    def flush(self) -> FloatArray:
        """The last ``delay_frames`` values (as if zeros followed); the detector is then reset."""
        out = self.process(np.zeros((self.delay_frames, self.channels)))
        self.reset()
        return out

    def _peaks(self, extended: FloatArray, n: int) -> FloatArray:
        """Per-frame peaks for the n windows of ``extended`` (history + block)."""
        d = self.delay_frames
        centre = np.abs(extended[d : d + n]).max(axis=1)
        if not d:
            return centre
        taps = self._taps.shape[0]
        windows = np.lib.stride_tricks.sliding_window_view(extended, taps, axis=0)
        # windows: (n, channels, taps) → (n·channels, taps) @ (taps, factor − 1)
        between = np.abs(windows.reshape(-1, taps) @ self._taps)
        return np.asarray(
            np.maximum(centre, between.reshape(n, -1).max(axis=1)), dtype=np.float64
        )


# --- Loudness meter ------------------------------------------------------------------------------


class LoudnessMeter:
    """Streaming BS.1770-4 / EBU R128 meter: feed blocks, then read the results at any time.

    Keeps the channel-weighted K-filtered energy of every complete 100 ms sub-block (frame
    boundaries at ``floor(k · fs / 10)``), the running partial sub-block, the sample peak and the
    true peak: memory is O(duration / 100 ms) floats.
    """

    def __init__(
        self, sample_rate: int, channels: int, *, measure_true_peak: bool = True
    ) -> None:
        _check_rate(sample_rate)
        self.sample_rate = sample_rate
        self.channels = channels
        self._sos = k_weighting_sos(sample_rate)
        self._zi = np.zeros((self._sos.shape[0], 2, channels))
        self._weights = channel_weights(channels)
        self._energies = np.zeros(1024)
        self._complete = 0
        self._partial_energy = 0.0
        self._frames = 0
        self._sample_peak = 0.0
        self._true_peak_detector = (
            TruePeakDetector(sample_rate, channels) if measure_true_peak else None
        )
        self._true_peak = 0.0

    # feeding ----------------------------------------------------------------------------------

    def feed(self, block: NDArray[np.float64]) -> None:
        x = _as_block(block, self.channels)
        n = x.shape[0]
        if n == 0:
            return
        self._sample_peak = max(self._sample_peak, float(np.abs(x).max()))
        if self._true_peak_detector is not None:
            self._true_peak = max(self._true_peak, float(self._true_peak_detector.process(x).max()))
        filtered, self._zi = signal.sosfilt(self._sos, x, axis=0, zi=self._zi)
        energy = (filtered * filtered) @ self._weights
        self._add_energy(energy)

    def _sub_block_start(self, index: NDArray[np.int64] | int) -> NDArray[np.int64] | int:
        return index * self.sample_rate // SUB_BLOCKS_PER_S

    def _add_energy(self, energy: FloatArray) -> None:
        start, n = self._frames, energy.size
        end = start + n
        # Sub-blocks completed by this block: those whose end boundary lies in (start, end].
        completed_total = (SUB_BLOCKS_PER_S * end + SUB_BLOCKS_PER_S - 1) // self.sample_rate
        boundaries = (
            np.arange(self._complete + 1, completed_total + 1, dtype=np.int64)
            * self.sample_rate
            // SUB_BLOCKS_PER_S
            - start
        )
        self._frames = end
        if boundaries.size == 0:
            self._partial_energy += float(energy.sum())
            return
        starts = np.concatenate([[0], boundaries[boundaries < n]])
        sums = np.add.reduceat(energy, starts)
        sums[0] += self._partial_energy
        done = boundaries.size
        self._append(sums[:done])
        self._partial_energy = float(sums[done]) if sums.size > done else 0.0

    def _append(self, values: FloatArray) -> None:
        needed = self._complete + values.size
        if needed > self._energies.size:
            grown = np.zeros(max(needed, 2 * self._energies.size))
            grown[: self._complete] = self._energies[: self._complete]
            self._energies = grown
        self._energies[self._complete : needed] = values
        self._complete = needed

    # reading ----------------------------------------------------------------------------------

    def _window_powers(self, sub_blocks: int, hop: int) -> FloatArray:
        """Mean-square power of every complete window of ``sub_blocks`` sub-blocks at ``hop``."""
        if self._complete < sub_blocks:
            return np.zeros(0)
        energies = self._energies[: self._complete]
        starts = np.arange(0, self._complete - sub_blocks + 1, hop, dtype=np.int64)
        sums = np.lib.stride_tricks.sliding_window_view(energies, sub_blocks)[starts].sum(axis=1)
        frames = (
            (starts + sub_blocks) * self.sample_rate // SUB_BLOCKS_PER_S
            - starts * self.sample_rate // SUB_BLOCKS_PER_S
        )
        return np.asarray(sums / frames, dtype=np.float64)

    def _overall_power(self) -> float:
        if self._frames == 0:
            return 0.0
        total = float(self._energies[: self._complete].sum()) + self._partial_energy
        return total / self._frames

    def integrated_lufs(self) -> float:
        """Gated integrated loudness (BS.1770-4), floored at −70 LUFS; always finite."""
        powers = self._window_powers(GATING_BLOCK_SUB_BLOCKS, 1)
        if powers.size == 0:
            powers = np.array([self._overall_power()])
        gated = powers[powers > _lufs_to_power(ABSOLUTE_GATE_LUFS)]
        if gated.size == 0:
            return ABSOLUTE_GATE_LUFS
        relative = float(gated.mean()) * 10.0 ** (RELATIVE_GATE_LU / 10.0)
        gated = gated[gated > relative]
        lufs = float(_power_to_lufs(np.array([gated.mean()]))[0])
        return max(ABSOLUTE_GATE_LUFS, lufs)

    def short_term_lufs(self, hop_s: float = 1.0) -> FloatArray:
        """Short-term loudness (3 s windows) every ``hop_s`` (rounded to whole 100 ms steps).

        Only complete windows count; with less than 3 s of audio there is one value, over all
        of it (none for no audio). Values are floored at −200 LUFS, never −inf.
        """
        hop = max(1, round(hop_s * SUB_BLOCKS_PER_S))
        powers = self._window_powers(SHORT_TERM_SUB_BLOCKS, hop)
        if powers.size == 0 and self._frames > 0:
            powers = np.array([self._overall_power()])
        return _power_to_lufs(powers)

    def loudness_range_lu(self) -> float:
        """Loudness range (EBU Tech 3342): 3 s windows at 10 Hz, gated at −70 LUFS and −20 LU,
        95th minus 10th percentile. 0.0 when fewer than two windows survive the gates."""
        powers = self._window_powers(SHORT_TERM_SUB_BLOCKS, 1)
        gated = powers[powers > _lufs_to_power(ABSOLUTE_GATE_LUFS)]
        if gated.size == 0:
            return 0.0
        relative = float(gated.mean()) * 10.0 ** (LRA_RELATIVE_GATE_LU / 10.0)
        gated = gated[gated > relative]
        if gated.size < 2:
            return 0.0
        lufs = _power_to_lufs(gated)
        low, high = np.percentile(lufs, [LRA_LOW_PERCENTILE, LRA_HIGH_PERCENTILE])
        return float(high - low)

    def true_peak_dbtp(self) -> float:
        """Highest 4× oversampled peak so far in dBTP (−200 for digital silence).

        Includes the tail the interpolator still holds, without disturbing further feeding.
        Without true-peak measurement, the sample peak.
        """
        detector = self._true_peak_detector
        if detector is None:
            return self.sample_peak_dbfs()
        tail = detector._peaks(
            np.concatenate([detector._history, np.zeros((detector.delay_frames, self.channels))]),
            detector.delay_frames,
        )
        peak = max(self._true_peak, float(tail.max()) if tail.size else 0.0)
        return _amplitude_to_db(peak)

    def sample_peak_dbfs(self) -> float:
        return _amplitude_to_db(self._sample_peak)


def integrated_loudness(samples: NDArray[np.float64], sample_rate: int) -> float:
    """Integrated loudness of a whole signal (``(frames,)`` mono or ``(frames, channels)``)."""
    array = np.asarray(samples, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    meter = LoudnessMeter(sample_rate, array.shape[1], measure_true_peak=False)
    meter.feed(array)
    return meter.integrated_lufs()
