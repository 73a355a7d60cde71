"""Loudness: ITU-R BS.1770-4 and EBU R128 (Tech 3341, Tech 3342), streamed.

The one loudness meter of the project. Feed ``(frames, channels)`` float64 blocks of any size;
the result never depends on how the audio was split. What is kept is one weighted energy per
100 ms of audio (``shared.blocks.FrameAccumulator``), so memory grows by one float per 100 ms
whatever the channel count.

- ``k_weighting_sos``: the K-weighting filter for any rate from 8 to 192 kHz;
- ``channel_weights``: the BS.1770 channel weights;
- ``LoudnessMeter``: integrated loudness (two gates), short-term loudness, loudness range, and
  the true peak (``shared.true_peak``) and sample peak; ``integrated_loudness`` for a whole
  array at once.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from shared.blocks import (
    FRAMES_PER_S,
    FloatArray,
    FrameAccumulator,
    as_block,
    check_sample_rate,
)
from shared.sections import SectionFilter
from shared.true_peak import Interpolator, TruePeakDetector

# --- BS.1770-4 constants -------------------------------------------------------------------------

#: The −0.691 dB offset of the loudness formula (makes a 1 kHz sine read its level in LUFS).
LOUDNESS_OFFSET_DB = -0.691
#: Absolute gate of the integrated loudness and of the loudness range, and the floor of every
#: integrated reading (so also of the fingerprint's ``lufs``).
ABSOLUTE_GATE_LUFS = -70.0
#: Relative gate of the integrated loudness (BS.1770-4) and of the loudness range (Tech 3342).
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
#: Percentiles of the gated short-term distribution whose difference is the LRA (Tech 3342).
LRA_LOW_PERCENTILE = 10.0
LRA_HIGH_PERCENTILE = 95.0
#: Energies are kept per 100 ms "sub-block", BS.1770-4's gating step (the frames of
#: ``shared.blocks.FrameAccumulator``). Gating block = 400 ms = 4 sub-blocks (75 % overlap);
#: short-term window = 3 s = 30 sub-blocks.
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


def _prewarped(corner_hz: float, sample_rate: int) -> float:
    return math.tan(math.pi * corner_hz / sample_rate)


def k_weighting_sos(sample_rate: int) -> FloatArray:
    """K-weighting filter (pre-filter shelf, then RLB high-pass) for ``sample_rate``, as ``(2, 6)``
    second-order sections in ``scipy.signal.sosfilt`` layout.

    Designed from the analog prototypes by the bilinear transform, prewarped at each corner: at
    48 kHz it reproduces BS.1770-4's table, and from 32 kHz up the response stays within 0.02 dB
    of it. Lower rates warp the shelf near Nyquist (up to 0.2 dB at 8 kHz), which is why
    ``LoudnessMeter`` applies it to an oversampled signal there (``k_weighting_oversampling``).
    """
    check_sample_rate(sample_rate)
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
    check_sample_rate(sample_rate)
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


def gated_loudness(block_powers: FloatArray) -> float:
    """Integrated loudness of gating-block powers (BS.1770-4 section 2.8): the −70 LUFS absolute
    gate, then the relative gate 10 LU under the mean of what passed; floored at −70 LUFS."""
    gated = block_powers[block_powers > _lufs_to_power(ABSOLUTE_GATE_LUFS)]
    if gated.size == 0:
        return ABSOLUTE_GATE_LUFS
    relative = float(gated.mean()) * 10.0 ** (RELATIVE_GATE_LU / 10.0)
    gated = gated[gated > relative]
    lufs = float(_power_to_lufs(np.array([gated.mean()]))[0])
    return max(ABSOLUTE_GATE_LUFS, lufs)


def loudness_range(window_powers: FloatArray) -> float:
    """Loudness range of short-term (3 s) window powers (EBU Tech 3342): gated at −70 LUFS and
    −20 LU, 95th minus 10th percentile. 0.0 when fewer than two windows survive the gates."""
    gated = window_powers[window_powers > _lufs_to_power(ABSOLUTE_GATE_LUFS)]
    if gated.size == 0:
        return 0.0
    relative = float(gated.mean()) * 10.0 ** (LRA_RELATIVE_GATE_LU / 10.0)
    gated = gated[gated > relative]
    if gated.size < 2:
        return 0.0
    lufs = _power_to_lufs(gated)
    low, high = np.percentile(lufs, [LRA_LOW_PERCENTILE, LRA_HIGH_PERCENTILE])
    return float(high - low)


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

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        *,
        measure_true_peak: bool = True,
        envelope_per_s: int = 0,
        envelope_range_db: float = 0.0,
    ) -> None:
        """``envelope_per_s`` > 0 also keeps the K-weighted energy and the 4× peak of every
        ``1 / envelope_per_s`` cell (``envelope``), with peaks exact down to
        ``envelope_range_db`` under the running true peak (needs ``measure_true_peak``)."""
        check_sample_rate(sample_rate)
        self.sample_rate = sample_rate
        self.channels = channels
        oversampling = k_weighting_oversampling(sample_rate)
        self._interpolator = Interpolator(oversampling, channels) if oversampling > 1 else None
        self._k_filter = SectionFilter(k_weighting_sos(sample_rate * oversampling), channels)
        self._weights = channel_weights(channels)
        self._energy = FrameAccumulator(sample_rate * oversampling)
        self._frames = 0
        self._sample_peak = 0.0
        self._true_peak_detector = (
            TruePeakDetector(sample_rate, channels) if measure_true_peak else None
        )
        self._true_peak = 0.0
        self._envelope: tuple[FrameAccumulator, FrameAccumulator] | None = None
        self._envelope_floor = 10.0 ** (-envelope_range_db / 20.0)
        if envelope_per_s > 0:
            if self._true_peak_detector is None:
                raise ValueError("an envelope needs measure_true_peak")
            self._envelope = (
                FrameAccumulator(sample_rate * oversampling, 1, 0, envelope_per_s),
                FrameAccumulator(sample_rate, 0, 1, envelope_per_s),
            )

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
        # Channel-major once: the true-peak rows want contiguous channels.
        detector = self._true_peak_detector
        if detector is None:
            planar = np.ascontiguousarray(x.T)
            self._sample_peak = max(self._sample_peak, float(planar.max()), -float(planar.min()))
        else:
            # Exact peaks from envelope_range_db under the loudest so far (all of the first
            # block): a later, louder passage only means more rows were exact than needed.
            frame_floor = None if self._envelope is None else (
                self._true_peak * self._envelope_floor)
            peaks = detector.measure(x, self._true_peak, frame_floor)
            self._true_peak = peaks.true_peak
            self._sample_peak = max(self._sample_peak, peaks.sample_peak)
            planar = peaks.planar
            if self._envelope is not None and peaks.frame_peaks is not None:
                self._envelope[1].add(np.zeros((n, 0)), peaks.frame_peaks[:, None])
        if self._interpolator is not None:
            planar = self._interpolator.process(planar)
        power = self._k_filter.weighted_power(planar, self._weights)[:, None]
        self._energy.add(power)
        if self._envelope is not None:
            self._envelope[0].add(power)

    def _settled(self) -> FrameAccumulator:
        """The sub-block energies, including what the interpolator still holds (if any)."""
        interpolator = self._interpolator
        if interpolator is None:
            return self._energy
        energy = self._energy.copy()
        tail = Interpolator(interpolator.factor, self.channels)
        tail.history = interpolator.history.copy()
        flushed = tail.process(np.zeros((self.channels, tail.delay_frames)))
        energy.add(self._k_filter.copy().weighted_power(flushed, self._weights)[:, None])
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
        return gated_loudness(self.gating_block_powers())

    def envelope(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(K-weighted channel-weighted energy, sample count, 4× peak) of every complete
        envelope cell so far (see ``__init__``); the peak of cell k describes input frames
        ``delay_frames`` earlier than the cell, a shift of 0.2 ms or less."""
        if self._envelope is None:
            raise ValueError("this meter keeps no envelope")
        energy, peaks = self._envelope
        cells = min(energy.complete, peaks.complete)
        return (energy.sums[:cells, 0].copy(), energy.frame_lengths()[:cells].astype(float),
                peaks.maxima[:cells, 0].copy())

    def gating_block_powers(self) -> FloatArray:
        """Mean-square (channel-weighted, K-filtered) power of every 400 ms gating block at
        100 ms steps, ungated: what ``integrated_lufs`` gates (one block of all the audio when
        there is less than 400 ms). Pooling these over tracks gives an album's loudness."""
        energy = self._settled()
        powers = self._window_powers(energy, GATING_BLOCK_SUB_BLOCKS, 1)
        if powers.size == 0 and self.frames > 0:
            powers = np.array([self._overall_power(energy)])
        return powers

    def short_term_lufs(self, hop_s: float = 1.0) -> FloatArray:
        """Short-term loudness (3 s windows) every ``hop_s`` (rounded to whole 100 ms steps).

        Only complete windows count; with less than 3 s of audio there is one value, over all
        of it (none for no audio). Values are floored at −200 LUFS, never −inf.
        """
        hop = max(1, round(hop_s * FRAMES_PER_S))
        energy = self._settled()
        powers = self._window_powers(energy, SHORT_TERM_SUB_BLOCKS, hop)
        if powers.size == 0 and self.frames > 0:
            powers = np.array([self._overall_power(energy)])
        return _power_to_lufs(powers)

    def loudness_range_lu(self) -> float:
        """Loudness range (EBU Tech 3342): 3 s windows at 10 Hz, gated at −70 LUFS and −20 LU,
        95th minus 10th percentile. 0.0 when fewer than two windows survive the gates."""
        return loudness_range(self._window_powers(self._settled(), SHORT_TERM_SUB_BLOCKS, 1))

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
