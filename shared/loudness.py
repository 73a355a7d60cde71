"""Loudness and true peak: ITU-R BS.1770-4 and EBU R128 (Tech 3341, Tech 3342), streamed.

The one loudness meter of the project. Feed ``(frames, channels)`` float64 blocks of any size;
the result never depends on how the audio was split. What is kept is one weighted energy per
100 ms of audio, so memory grows by one float per 100 ms whatever the channel count.

- ``k_weighting_sos``: the K-weighting filter for any rate from 8 to 192 kHz;
- ``TruePeakDetector``: 4× oversampled per-frame peaks (BS.1770-4 Annex 2), for meters and the
  limiter;
- ``LoudnessMeter``: integrated loudness, short-term loudness, loudness range, true and sample
  peak; ``integrated_loudness`` for a whole array at once;
- ``FrameAccumulator``: the 100 ms framing shared with ``shared.levels``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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

    Designed from the analog prototypes by the bilinear transform, prewarped at each corner: at
    48 kHz it reproduces BS.1770-4's table, and from 32 kHz up the response stays within 0.02 dB
    of it. Lower rates warp the shelf near Nyquist (up to 0.2 dB at 8 kHz), which is why
    ``LoudnessMeter`` applies it to an oversampled signal there (``k_weighting_oversampling``).
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


#: Below this rate the bilinear transform visibly warps the shelf (at 8 kHz a 1 kHz tone would read
#: 0.2 dB low): the meter then K-weights the signal interpolated by an integer factor to at least
#: this rate, where the same design is within 0.002 dB of 48 kHz's.
K_WEIGHTING_MIN_RATE_HZ = 40_000


def k_weighting_oversampling(sample_rate: int) -> int:
    """Integer factor the meter interpolates by before K-weighting (1 from 40 kHz up)."""
    _check_rate(sample_rate)
    return max(1, math.ceil(K_WEIGHTING_MIN_RATE_HZ / sample_rate))


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


def channel_abs_max(x: FloatArray) -> FloatArray:
    """max |x| over the channels of a ``(frames, channels)`` block, per frame.

    A loop over channels: numpy reduces a short last axis an order of magnitude slower.
    """
    peak = np.abs(x[:, 0])
    for c in range(1, x.shape[1]):
        np.maximum(peak, np.abs(x[:, c]), out=peak)
    return peak


def weighted_power(channels: Sequence[FloatArray], weights: FloatArray) -> FloatArray:
    """Σ_c weights[c] · channels[c]² per frame, from one 1-D array per channel (weight-0
    channels are skipped)."""
    power = np.zeros(channels[0].shape[0])
    for column, weight in zip(channels, weights.tolist(), strict=True):
        if weight == 0.0:
            continue
        power += column * column if weight == 1.0 else weight * (column * column)
    return power


def as_block(block: NDArray[np.float64], channels: int) -> FloatArray:
    """``block`` as a float64 ``(frames, channels)`` array (a 1-D array is a mono block)."""
    array = np.asarray(block, dtype=np.float64)
    if array.ndim == 1 and channels == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != channels:
        raise ValueError(f"expected a (frames, {channels}) block, got shape {array.shape}")
    return array


# --- True peak -----------------------------------------------------------------------------------

#: Oversampling factor. BS.1770-4 Annex 2 asks for at least 4× at 48 kHz. The under-read of a sine
#: at frequency f sampled on a 4× grid is at most 1 − cos(π f / (4 fs)): it depends only on f / fs,
#: so 4× gives the same guarantee at every rate (≤ 0.1 dB up to 0.19 fs, ≤ 0.43 dB at 0.4 fs) and
#: is kept everywhere, 96–192 kHz included, because the limiter relies on it.
TRUE_PEAK_FACTOR = 4
#: Interpolator half-length in input frames: each phase has 2 × this many taps.
TRUE_PEAK_HALF_TAPS = 8
#: Band (as a fraction of fs) over which each phase is a least-squares fractional delay; with 16
#: taps the error is below 0.9 % (0.07 dB) of the amplitude up to 0.4 fs.
TRUE_PEAK_BAND = 0.42
#: OpenBLAS splits a product over threads from M·N·K = 2¹⁸ on; its thread pool oversubscribes a
#: host that already runs one stream per core, so every product here stays below that.
_BLAS_SINGLE_THREAD_MNK = 1 << 18
#: Rows per true-peak product: 160 · 48 · 32 < 2¹⁸.
_GEMM_ROWS = 160


def _interpolation_matrix(factor: int, half_taps: int, band: float) -> FloatArray:
    """Polyphase interpolator as a ``(2·half_taps + 1, factor)`` matrix G.

    ``y[m, p] = Σ_k G[k, p] · x[m − k]`` estimates the band-limited signal at time
    ``m − half_taps + p / factor`` (in input frames). Phase 0 is exactly the delayed input; each
    other phase is the least-squares fractional-delay filter over ``|f| ≤ band · fs`` (the
    classic closed form: a symmetric Toeplitz system of sinc terms).
    """
    taps = 2 * half_taps
    omega = 2.0 * math.pi * band
    k = np.arange(taps)
    gram = (omega / math.pi) * np.sinc(omega * (k[:, None] - k[None, :]) / math.pi)
    matrix = np.zeros((taps + 1, factor))
    matrix[half_taps, 0] = 1.0
    for phase in range(1, factor):
        delay = half_taps - phase / factor
        target = (omega / math.pi) * np.sinc(omega * (delay - k) / math.pi)
        matrix[:taps, phase] = np.linalg.solve(gram, target)
    return matrix


class TruePeakDetector:
    """Streaming 4× oversampled peak detector (BS.1770-4 Annex 2). State carried across blocks.

    ``process`` returns, per input frame, the largest |x| over channels and over the ``factor``
    points of that frame's interval (the sample itself and the interpolated points after it),
    ``delay_frames`` late: ``output[i]`` describes input frame ``i − delay_frames``. The first
    ``delay_frames`` outputs describe the interval just before the start (an abrupt onset rings
    there too); ``flush`` returns the last ``delay_frames`` values.

    Outputs are computed in rows of R = 2·delay_frames frames aligned to the start of the stream,
    each row with the same small matrix product (a Toeplitz form of the polyphase FIR), so
    every output is the same arithmetic whatever the block sizes: any split of the input gives a
    bit-identical concatenated output. Phases p and factor − p are evaluated as their half-sum A
    and half-difference B, because max(|A + B|, |A − B|) = |A| + |B|.
    """

    def __init__(self, sample_rate: int, channels: int, *, factor: int = TRUE_PEAK_FACTOR) -> None:
        _check_rate(sample_rate)
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        if factor < 1:
            raise ValueError(f"factor must be at least 1, got {factor}")
        self.sample_rate = sample_rate
        self.channels = channels
        self.factor = factor
        self.delay_frames = TRUE_PEAK_HALF_TAPS if factor > 1 else 0
        self._row = max(1, 2 * self.delay_frames)
        self._pairs = (factor - 1) // 2
        self._has_middle = factor > 1 and factor % 2 == 0
        self._matrix = np.zeros((0, 0))
        self._gain_bound = 1.0
        if factor > 1:
            matrix = _interpolation_matrix(factor, TRUE_PEAK_HALF_TAPS, TRUE_PEAK_BAND)
            self._matrix = self._toeplitz(matrix)
            # Largest possible |output| per unit input peak: the bound used to skip quiet rows.
            self._gain_bound = float(np.abs(matrix).sum(axis=0).max())
        self.reset()

    def _toeplitz(self, matrix: FloatArray) -> FloatArray:
        """Row matrix ``(2R, columns · R)``: the outputs of a row of R frames are (that row of the
        extended input and the next one) @ it. Columns: [A of each phase pair, B of each pair,
        middle phase], R each."""
        factor, d, row = self.factor, self.delay_frames, self._row
        pairs = range(1, self._pairs + 1)
        columns = [0.5 * (matrix[:, p] + matrix[:, factor - p]) for p in pairs]
        columns += [0.5 * (matrix[:, p] - matrix[:, factor - p]) for p in pairs]
        if self._has_middle:
            columns.append(matrix[:, factor // 2])
        banded = np.zeros((2 * row, len(columns), row))
        for j in range(row):
            # Output j of a row reads extended inputs j … j + 2D (newest last): tap k → j + 2D − k.
            for c, taps in enumerate(columns):
                banded[j : j + 2 * d + 1, c, j] = taps[::-1]
        return banded.reshape(2 * row, len(columns) * row)

    def reset(self) -> None:
        """Back to the state of a fresh detector (silence before the next block)."""
        # Extended input from the start of the current row: `phase` frames already output in
        # it, then the 2D frames their successors still need.
        self._phase = 0
        self._history = np.zeros((self.channels, 2 * self.delay_frames))

    def process(self, block: NDArray[np.float64]) -> FloatArray:
        return self._frame_peaks(*self._extend(as_block(block, self.channels)))

    def max_peak(self, block: NDArray[np.float64], floor: float = 0.0) -> float:
        """``max(floor, process(block).max())``, with the same effect on the state, but rows
        of frames that provably cannot exceed the running maximum are not interpolated."""
        return self._block_peaks(*self._extend(as_block(block, self.channels)), floor)[0]

    def flush(self) -> FloatArray:
        """The last ``delay_frames`` values (as if zeros followed); the detector is then reset."""
        out = self.process(np.zeros((self.delay_frames, self.channels)))
        self.reset()
        return out

    def pending_max(self) -> float:
        """The largest value ``flush`` would return, without changing the state."""
        if not self.delay_frames:
            return 0.0
        phase, history = self._phase, self._history
        silence = np.zeros((self.delay_frames, self.channels))
        peak = self._block_peaks(*self._extend(silence), 0.0)[0]
        self._phase, self._history = phase, history
        return peak

    # internals (channel-major "planar" arrays, shape (channels, frames)) -----------------------

    def _extend(self, frames: FloatArray) -> tuple[FloatArray, int, int]:
        """The extended input (channel-major) from the start of the current row, zero-padded to
        whole rows plus one, and the first and past-the-last positions of this block's outputs.

        Output j of the buffer (row-relative) reads buffer[:, j : j + 2D + 1]; its centre sample
        is buffer[:, j + D]; the block itself is buffer[:, first + 2D : end + 2D]. Keeps the
        history for the next block.
        """
        n, keep, row = frames.shape[0], 2 * self.delay_frames, self._row
        first = self._phase
        end = first + n
        width = (-(-end // row) + 1) * row
        buffer = np.empty((self.channels, width))
        buffer[:, : first + keep] = self._history
        buffer[:, first + keep : end + keep] = frames.T
        buffer[:, end + keep :] = 0.0
        self._phase = end % row
        self._history = buffer[:, end - self._phase : end + keep].copy()
        return buffer, first, end

    def _frame_peaks(self, buffer: FloatArray, first: int, end: int) -> FloatArray:
        d = self.delay_frames
        centre = np.abs(buffer[0, first + d : end + d])
        for c in range(1, self.channels):
            np.maximum(centre, np.abs(buffer[c, first + d : end + d]), out=centre)
        if not d or end == first:
            return centre
        between = self._row_peaks(buffer, -(-end // self._row)).ravel()[first:end]
        return np.maximum(centre, between, out=centre)

    def _block_peaks(
        self, buffer: FloatArray, first: int, end: int, floor: float
    ) -> tuple[float, float]:
        """(max(floor, largest output of the block), sample peak of the block's own frames)."""
        d, row = self.delay_frames, self._row
        if end == first:
            return floor, 0.0
        magnitude = np.abs(buffer[0])
        for c in range(1, self.channels):
            np.maximum(magnitude, np.abs(buffer[c]), out=magnitude)
        sample_peak = float(magnitude[first + 2 * d : end + 2 * d].max())
        best = max(floor, float(magnitude[first + d : end + d].max()))
        if not d:
            return best, sample_peak
        # Row r reads buffer rows r and r + 1; none of its outputs can exceed gain_bound times
        # the largest |sample| there.
        row_max = magnitude.reshape(-1, row).max(axis=1)
        reach = np.maximum(row_max[:-1], row_max[1:])
        candidates = np.flatnonzero(reach * self._gain_bound > best)
        if candidates.size:
            peaks = self._row_peaks(buffer, candidates)
            # Only this block's outputs count: not those of an earlier block sharing the first
            # row, nor the ones after it that the next block decides.
            if candidates[0] == 0:
                peaks[0, :first] = 0.0
            last = reach.size - 1
            if candidates[-1] == last:
                peaks[-1, end - last * row :] = 0.0
            best = max(best, float(peaks.max()))
        return best, sample_peak

    def _row_peaks(self, buffer: FloatArray, rows: NDArray[np.intp] | int) -> FloatArray:
        """Largest interpolated |value| of each frame of the given rows, ``(rows, R)``: either
        the first ``rows`` rows, or the rows listed."""
        row, channels = self._row, self.channels
        channel_stride, frame_stride = buffer.strides
        # Window r = buffer rows r and r + 1: everything the outputs of row r read.
        windows = np.lib.stride_tricks.as_strided(
            buffer,
            shape=(channels, buffer.shape[1] // row - 1, 2 * row),
            strides=(channel_stride, row * frame_stride, frame_stride),
            writeable=False,
        )
        count = rows if isinstance(rows, int) else rows.size
        chosen = windows[:, :count] if isinstance(rows, int) else windows[:, rows]
        peaks = np.empty((channels, count, row))
        pairs, columns = self._pairs, self._matrix.shape[1] // row
        # Every product has the same shape (_GEMM_ROWS rows, the tail padded): BLAS picks its
        # kernel by shape, and one kernel means one summation order for every output.
        work = np.zeros((_GEMM_ROWS, 2 * row))
        for c in range(channels):
            for start in range(0, count, _GEMM_ROWS):
                stop = min(start + _GEMM_ROWS, count)
                work[: stop - start] = chosen[c, start:stop]
                values = (work @ self._matrix)[: stop - start]
                np.abs(values, out=values)
                phases = values.reshape(stop - start, columns, row)
                # max(|A + B|, |A − B|) = |A| + |B| for each pair of mirrored phases.
                best = peaks[c, start:stop]
                if self._has_middle:
                    best[:] = phases[:, 2 * pairs]
                else:
                    best[:] = 0.0
                for pair in range(pairs):
                    np.maximum(best, phases[:, pair] + phases[:, pairs + pair], out=best)
        result: FloatArray = peaks[0]
        for c in range(1, channels):
            np.maximum(result, peaks[c], out=result)
        return result


class Interpolator:
    """Streaming band-limited interpolation by an integer factor, with the true-peak phases.

    ``process`` turns ``(channels, n)`` channel-major frames into ``(channels, n · factor)``,
    ``delay_frames`` input frames late (the first outputs describe the time before the start).
    """

    def __init__(self, factor: int, channels: int) -> None:
        if factor < 2:
            raise ValueError(f"factor must be at least 2, got {factor}")
        self.factor = factor
        self.delay_frames = TRUE_PEAK_HALF_TAPS
        matrix = _interpolation_matrix(factor, TRUE_PEAK_HALF_TAPS, TRUE_PEAK_BAND)
        # Reversed so that a window of the input, oldest first, times it gives the phases.
        self._taps = np.ascontiguousarray(matrix[::-1])
        self._chunk = _BLAS_SINGLE_THREAD_MNK // self._taps.size
        self.history = np.zeros((channels, 2 * TRUE_PEAK_HALF_TAPS))

    def process(self, planar: FloatArray) -> FloatArray:
        channels, n = planar.shape
        taps = self._taps.shape[0]
        extended = np.concatenate([self.history, planar], axis=1)
        self.history = extended[:, n:].copy()
        out = np.empty((channels, n, self.factor))
        for c in range(channels):
            windows = np.lib.stride_tricks.sliding_window_view(extended[c], taps)
            for start in range(0, n, self._chunk):
                stop = min(start + self._chunk, n)
                np.matmul(windows[start:stop], self._taps, out=out[c, start:stop])
        return out.reshape(channels, n * self.factor)


# --- 100 ms framing -----------------------------------------------------------------------------


class FrameAccumulator:
    """Per-sample values reduced over 100 ms frames, across any split of the stream.

    Frame k covers samples ``floor(k·fs/10)`` to ``floor((k+1)·fs/10) − 1``, exact at every
    integer rate. Each ``add`` takes ``(n, sum_columns)`` values to sum and ``(n, max_columns)``
    values to take the maximum of; complete frames land in compact growing arrays, the frame in
    progress is carried to the next call, so the result never depends on the block sizes.
    """

    def __init__(self, sample_rate: int, sum_columns: int = 1, max_columns: int = 0) -> None:
        self.sample_rate = sample_rate
        self.frames = 0  # samples seen
        self.complete = 0  # complete frames
        self._sums = np.zeros((_INITIAL_FRAMES, sum_columns))
        self._maxima = np.zeros((_INITIAL_FRAMES, max_columns))
        self.partial_sums = np.zeros(sum_columns)
        self.partial_maxima = np.zeros(max_columns)

    def copy(self) -> FrameAccumulator:
        twin = FrameAccumulator(self.sample_rate, self._sums.shape[1], self._maxima.shape[1])
        twin.frames, twin.complete = self.frames, self.complete
        twin._sums, twin._maxima = self.sums.copy(), self.maxima.copy()
        twin.partial_sums, twin.partial_maxima = (
            self.partial_sums.copy(),
            self.partial_maxima.copy(),
        )
        return twin

    def frame_start(self, index: NDArray[np.int64]) -> NDArray[np.int64]:
        """First sample of each frame index: floor(k · fs / 10)."""
        return index * self.sample_rate // SUB_BLOCKS_PER_S

    @property
    def sums(self) -> FloatArray:
        """``(complete, sum_columns)`` sums of the complete frames (a view)."""
        return self._sums[: self.complete]

    @property
    def maxima(self) -> FloatArray:
        """``(complete, max_columns)`` maxima of the complete frames (a view)."""
        return self._maxima[: self.complete]

    @property
    def partial_frames(self) -> int:
        """Samples in the frame in progress."""
        return self.frames - self.complete * self.sample_rate // SUB_BLOCKS_PER_S

    def frame_lengths(self) -> NDArray[np.int64]:
        index = np.arange(self.complete + 1, dtype=np.int64)
        return np.diff(self.frame_start(index))

    def add(self, to_sum: FloatArray, to_max: FloatArray | None = None) -> None:
        n = to_sum.shape[0]
        if n == 0:
            return
        start, end = self.frames, self.frames + n
        # Frames completed by this block: those whose end boundary lies in (start, end].
        completed_total = (SUB_BLOCKS_PER_S * end + SUB_BLOCKS_PER_S - 1) // self.sample_rate
        ends = self.frame_start(np.arange(self.complete + 1, completed_total + 1, dtype=np.int64))
        self.frames = end
        cuts = np.concatenate([[0], ends[ends < end] - start])
        sums = np.add.reduceat(to_sum, cuts, axis=0)
        sums[0] += self.partial_sums
        maxima = np.zeros((cuts.size, self.partial_maxima.size))
        if to_max is not None and self.partial_maxima.size:
            maxima = np.maximum.reduceat(to_max, cuts, axis=0)
            maxima[0] = np.maximum(maxima[0], self.partial_maxima)
        done = ends.size
        self._append(sums[:done], maxima[:done])
        carried = cuts.size > done
        self.partial_sums = sums[done].copy() if carried else np.zeros_like(self.partial_sums)
        self.partial_maxima = maxima[done].copy() if carried else np.zeros_like(self.partial_maxima)

    def _append(self, sums: FloatArray, maxima: FloatArray) -> None:
        needed = self.complete + sums.shape[0]
        if needed > self._sums.shape[0]:
            capacity = max(needed, 2 * self._sums.shape[0])
            self._sums = _grown(self._sums, capacity, self.complete)
            self._maxima = _grown(self._maxima, capacity, self.complete)
        self._sums[self.complete : needed] = sums
        self._maxima[self.complete : needed] = maxima
        self.complete = needed


#: Initial capacity of the per-frame arrays (~100 s); they double as needed.
_INITIAL_FRAMES = 1024


def _grown(array: FloatArray, capacity: int, used: int) -> FloatArray:
    grown = np.zeros((capacity, array.shape[1]))
    grown[:used] = array[:used]
    return grown


# --- Loudness meter ------------------------------------------------------------------------------


class LoudnessMeter:
    """Streaming BS.1770-4 / EBU R128 meter: feed blocks, then read the results at any time.

    Keeps the channel-weighted K-filtered energy of every complete 100 ms sub-block, the running
    partial sub-block, the sample peak and the true peak: memory is O(duration / 100 ms) floats.
    Gating blocks (400 ms) and short-term windows (3 s) are sums of consecutive sub-blocks.
    Below 40 kHz the K-weighting runs on the signal interpolated to ``k_weighting_oversampling``
    times the rate; readings then include the interpolator's last few frames as if silence
    followed, without disturbing further feeding.
    """

    def __init__(self, sample_rate: int, channels: int, *, measure_true_peak: bool = True) -> None:
        _check_rate(sample_rate)
        self.sample_rate = sample_rate
        self.channels = channels
        oversampling = k_weighting_oversampling(sample_rate)
        self._interpolator = Interpolator(oversampling, channels) if oversampling > 1 else None
        self._sos = k_weighting_sos(sample_rate * oversampling)
        self._zi = np.zeros((self._sos.shape[0], channels, 2))
        self._weights = channel_weights(channels)
        self._energy = FrameAccumulator(sample_rate * oversampling)
        self._frames = 0
        self._sample_peak = 0.0
        self._true_peak_detector = (
            TruePeakDetector(sample_rate, channels) if measure_true_peak else None
        )
        self._true_peak = 0.0

    @property
    def frames(self) -> int:
        """Frames fed so far."""
        return self._frames

    def feed(self, block: NDArray[np.float64]) -> None:
        x = as_block(block, self.channels)
        n = x.shape[0]
        if n == 0:
            return
        self._frames += n
        # Channel-major once: sosfilt and the true-peak rows both want contiguous channels.
        detector = self._true_peak_detector
        if detector is None:
            planar = np.ascontiguousarray(x.T)
            self._sample_peak = max(self._sample_peak, float(planar.max()), -float(planar.min()))
        else:
            buffer, first, end = detector._extend(x)
            self._true_peak, block_peak = detector._block_peaks(buffer, first, end, self._true_peak)
            self._sample_peak = max(self._sample_peak, block_peak)
            keep = 2 * detector.delay_frames
            planar = buffer[:, first + keep : end + keep]
        if self._interpolator is not None:
            planar = self._interpolator.process(planar)
        filtered, self._zi = signal.sosfilt(self._sos, planar, axis=1, zi=self._zi)
        self._energy.add(self._weighted_squares(filtered))

    def _weighted_squares(self, filtered: FloatArray) -> FloatArray:
        """Σ_c G_c · y_c² per frame of a fresh channel-major array (squared in place)."""
        np.multiply(filtered, filtered, out=filtered)
        power = np.zeros(filtered.shape[1])
        for squares, weight in zip(filtered, self._weights.tolist(), strict=True):
            if weight == 1.0:
                power += squares
            elif weight != 0.0:
                power += weight * squares
        return power[:, None]

    def _settled(self) -> FrameAccumulator:
        """The sub-block energies, including what the interpolator still holds (if any)."""
        interpolator = self._interpolator
        if interpolator is None:
            return self._energy
        energy = self._energy.copy()
        tail = Interpolator(interpolator.factor, self.channels)
        tail.history = interpolator.history.copy()
        flushed = tail.process(np.zeros((self.channels, tail.delay_frames)))
        filtered, _ = signal.sosfilt(self._sos, flushed, axis=1, zi=self._zi)
        energy.add(self._weighted_squares(filtered))
        return energy

    # reading ----------------------------------------------------------------------------------

    @staticmethod
    def _window_powers(acc: FrameAccumulator, sub_blocks: int, hop: int) -> FloatArray:
        """Mean-square power of every complete window of ``sub_blocks`` sub-blocks at ``hop``."""
        if acc.complete < sub_blocks:
            return np.zeros(0)
        starts = np.arange(0, acc.complete - sub_blocks + 1, hop, dtype=np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(acc.sums[:, 0], sub_blocks)
        sums = windows[starts].sum(axis=1)
        frames = acc.frame_start(starts + sub_blocks) - acc.frame_start(starts)
        return np.asarray(sums / frames, dtype=np.float64)

    @staticmethod
    def _overall_power(acc: FrameAccumulator) -> float:
        if acc.frames == 0:
            return 0.0
        return (float(acc.sums.sum()) + float(acc.partial_sums[0])) / acc.frames

    def integrated_lufs(self) -> float:
        """Gated integrated loudness (BS.1770-4), floored at −70 LUFS; always finite."""
        energy = self._settled()
        powers = self._window_powers(energy, GATING_BLOCK_SUB_BLOCKS, 1)
        if powers.size == 0:
            powers = np.array([self._overall_power(energy)])
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
        energy = self._settled()
        powers = self._window_powers(energy, SHORT_TERM_SUB_BLOCKS, hop)
        if powers.size == 0 and self.frames > 0:
            powers = np.array([self._overall_power(energy)])
        return _power_to_lufs(powers)

    def loudness_range_lu(self) -> float:
        """Loudness range (EBU Tech 3342): 3 s windows at 10 Hz, gated at −70 LUFS and −20 LU,
        95th minus 10th percentile. 0.0 when fewer than two windows survive the gates."""
        powers = self._window_powers(self._settled(), SHORT_TERM_SUB_BLOCKS, 1)
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
        return _amplitude_to_db(max(self._true_peak, detector.pending_max()))

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
