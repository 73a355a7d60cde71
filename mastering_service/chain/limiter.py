"""Look-ahead true-peak limiter: the last float stage, the one that keeps every output under the
ceiling.

Detection runs on the 4× oversampled signal of ``shared.true_peak.TruePeakDetector`` (the
project's one oversampler), channels linked. The gain is computed on short groups of frames
(``GROUP_PERIOD_S``, about 0.13 ms): each group requires ``r = min(1, target / peak)`` for the
largest oversampled peak among its frames, and that goes through three vectorised steps:

1. **Release** — instant attack, exponential recovery: ``1 − g`` shrinks by ``exp(−1/τ)`` per
   step. In the domain ``u = −ln(1 − g)`` that recovery is a straight line of slope 1/τ, so the
   released gain is ``u_out[n] = min over k ≤ n of (u[k] + (n − k)/τ)``: a running minimum
   (``np.minimum.accumulate``) of ``u[k] − k/τ``, plus ``n/τ``. ``τ`` is chosen so the gain has
   recovered 90 % of any reduction ``release_ms`` after the hold.
2. **Hold and look-ahead** — a running minimum over the groups from ``HOLD_MS`` before to the
   look-ahead after, plus one group either side.
3. **Attack** — a moving average of that minimum over the look-ahead. Every value averaged is a
   minimum over a window that contains the group being output, so the smoothed gain is never
   above the gain that group requires: the attack is a ramp that cannot overshoot.

Frames then get the gain interpolated linearly from their group's value to the next group's;
both ends are below what the frame requires (that is what the extra group either side is for),
so the interpolated gain is too.

Everything between the detector and the interpolation is integer arithmetic (gains in units
of 2⁻³², the release line in units of 2⁻³² of u), and groups are aligned to absolute frame
numbers, so the output is bit-identical however the track is cut into blocks. The audio is
delayed by ``latency_frames`` (detector delay + look-ahead + three groups − 1 frame) to meet its
gain.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from mastering_service.chain.stage import Block, check_channels, check_finite
from shared._kernels import delayed_gain, ramp_gain
from shared.blocks import GridBuffer, as_block, columnwise
from shared.true_peak import TruePeakDetector

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: Detected peaks are held this far under the ceiling. On programme material the 4× detector
#: reads within ~0.1 dB of ffmpeg's ebur128 and of an 8× resample_poly; on full-band noise (energy
#: up to Nyquist, where its short interpolator rolls off and its points lie a quarter sample
#: apart) it reads up to 0.8 dB lower. The margin covers that worst case, measured on clipped and
#: uniform white noise, full-scale squares, DC and impulses at +12 dB, 8–192 kHz. A final clip at
#: the ceiling only guards against rounding.
SAFETY_MARGIN_DB = 0.8
#: Default look-ahead: the length of the attack ramp (and most of the latency).
DEFAULT_LOOKAHEAD_MS = 5.0
#: After a peak the gain stays down this long before it starts to recover, so a low bass note
#: between two peaks is not modulated at its own frequency.
HOLD_MS = 5.0
#: Gain resolution in time: one gain value per group of frames this long (1 frame at 8 kHz,
#: 5 at 44.1 kHz, 24 at 192 kHz); frames in between are interpolated.
GROUP_PERIOD_S = 1.0 / 8000.0
#: Groups either side of a group whose peaks also constrain its gain (covers the interpolation).
EDGE_GROUPS = 1
#: Fixed-point scale of gains (exact integer running minima and moving sums).
GAIN_SCALE = 2**32
#: Fixed-point scale of the release domain u = −ln(1 − g).
U_SCALE = 2**32
#: u at and above which the gain counts as exactly 1 (g within 2⁻³² of unity).
U_MAX = int(32 * math.log(2.0) * U_SCALE)
#: Fraction of a reduction that is recovered ``release_ms`` after the hold.
RELEASE_RECOVERED_FRACTION = 0.9


class TruePeakLimiter:
    """Brick-wall limiter keeping the 4× oversampled peak at ``ceiling_dbtp`` minus a margin.

    ``release_ms``: time after the hold for the gain to recover 90 % of a reduction (exponential).
    ``lookahead_ms``: attack ramp length. The output lags the input by exactly
    ``latency_frames = D + (ceil(lookahead / G) + 3) · G − 1`` frames, with D the detector's
    delay (8) and G the frames per gain group (e.g. 247 frames, 5.6 ms, at 44.1 kHz).
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        ceiling_dbtp: float,
        release_ms: float,
        lookahead_ms: float = DEFAULT_LOOKAHEAD_MS,
    ) -> None:
        self.channels = check_channels(channels)
        self.ceiling_dbtp = check_finite("ceiling_dbtp", ceiling_dbtp)
        self.release_ms = check_finite("release_ms", release_ms)
        self.lookahead_ms = check_finite("lookahead_ms", lookahead_ms)
        if self.release_ms <= 0.0 or self.lookahead_ms < 0.0:
            raise ValueError("release_ms must be positive and lookahead_ms non-negative")
        self._detector = TruePeakDetector(sample_rate, channels)
        self._target_peak = 10.0 ** ((self.ceiling_dbtp - SAFETY_MARGIN_DB) / 20.0)
        self._output_limit = 10.0 ** (self.ceiling_dbtp / 20.0)

        group = max(1, int(sample_rate * GROUP_PERIOD_S))
        lookahead = math.ceil(self.lookahead_ms * sample_rate / 1000.0 / group)
        hold = math.ceil(HOLD_MS * sample_rate / 1000.0 / group)
        self._group = group
        self._min_window = hold + lookahead + 2 * EDGE_GROUPS + 1
        self._average_window = lookahead + 1
        # A frame's gain needs its group's and the next group's smoothed gains, which need the
        # peaks up to ``lookahead + EDGE_GROUPS`` groups beyond that.
        gain_delay = (lookahead + EDGE_GROUPS + 2) * group - 1
        self.latency_frames = self._detector.delay_frames + gain_delay
        recovery_time_constants = -math.log(1.0 - RELEASE_RECOVERED_FRACTION)
        time_constant_groups = self.release_ms / 1000.0 * sample_rate / group
        time_constant_groups /= recovery_time_constants
        self._release_step = max(1, round(U_SCALE / time_constant_groups))
        self._ramp = np.arange(group) / group

        unity = np.int64(GAIN_SCALE)
        # Detector output, cut into gain groups aligned to absolute frame numbers.
        self._groups = GridBuffer(group)
        self._release_u = np.int64(U_MAX)
        self._min_history = np.full(self._min_window - 1, unity, dtype=np.int64)
        self._average_history = np.full(self._average_window - 1, unity, dtype=np.int64)
        self._last_group_gain = 1.0
        # True while every carried state says "unity gain", so a quiet stretch skips the work.
        self._at_rest = True
        # Per-frame gains computed but not yet applied. The groups before the track count as
        # unity; the first group completed yields the gains of the frames ``gain_delay`` before
        # the start, so ``group − 1`` unity gains come first.
        self._gains = np.ones(group - 1)
        self._delay = np.zeros((self.latency_frames, channels))
        #: Deepest gain reduction applied to the last block processed, dB (a read-out only).
        self.last_reduction_db = 0.0

    @property
    def peak_target_dbtp(self) -> float:
        """The level the detected (4×) true peak is held to: the ceiling minus the margin."""
        return self.ceiling_dbtp - SAFETY_MARGIN_DB

    def process(self, block: Block) -> Block:
        x = as_block(block, self.channels)
        n = x.shape[0]
        if n == 0:
            return x.copy()
        if not math.isfinite(float(x.sum())):
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        # Frames that provably stay under the target get a lower bound, not their exact
        # peak: the gains only ask whether a peak is over the target, and by how much.
        peaks = self._detector.measure(x, 0.0, frame_floor=self._target_peak).frame_peaks
        assert peaks is not None  # asked for with frame_floor
        self._add_gains(peaks)
        gains, self._gains = self._gains[:n], self._gains[n:]
        # x delayed by latency_frames (the held frames, then the start of x, whose end is held
        # for the next block), times the gains and clipped at the ceiling, in one compiled pass;
        # a block that needs no reduction passes unchanged.
        y = np.empty((n, self.channels))
        lowest = delayed_gain(x, self._delay, np.ascontiguousarray(gains), self._output_limit, y)
        self.last_reduction_db = -20.0 * math.log10(lowest) if lowest > 0.0 else math.inf
        return y

    def _add_gains(self, peaks: FloatArray) -> None:
        """Append the per-frame gains that the groups completed by these peaks make known."""
        groups = self._groups.push(peaks)
        if groups.shape[0] == 0:
            return
        if self._at_rest and bool(groups.max() <= self._target_peak):
            # Nothing to reduce and nothing being released: every gain is exactly 1.
            self._gains = np.concatenate([self._gains, np.ones(groups.size)])
            return
        group_peaks = columnwise(np.maximum, groups)
        released = self._release(self._required_u(group_peaks))
        smoothed = self._moving_average(self._running_min(self._u_to_gain(released)))
        points = np.concatenate([[self._last_group_gain], smoothed])
        self._last_group_gain = float(points[-1])
        # Each frame's gain, start + step · ramp between its group's point and the next: the
        # compressor's interpolating kernel applied to ones (a product by 1 is exact).
        frames = np.empty((smoothed.size * self._group, 1))
        ramp_gain(np.broadcast_to(1.0, frames.shape), points, 0, self._ramp, frames)
        self._gains = np.concatenate([self._gains, frames[:, 0]])
        self._at_rest = bool(
            self._release_u >= U_MAX
            and self._last_group_gain == 1.0
            and np.all(self._min_history == GAIN_SCALE)
            and np.all(self._average_history == GAIN_SCALE)
        )

    def _required_u(self, peaks: FloatArray) -> IntArray:
        """u = −ln(1 − r) of the required gain r, fixed point, floored (never a larger gain)."""
        u = np.full(peaks.size, U_MAX, dtype=np.int64)
        over = ~(peaks <= self._target_peak)  # NaN counts as over: silence it rather than pass
        if over.any():
            required = self._target_peak / peaks[over]
            u_over = -np.log1p(-np.nan_to_num(required, nan=0.0))
            u[over] = np.floor(np.minimum(u_over * U_SCALE, U_MAX)).astype(np.int64)
        return u

    def _release(self, u: IntArray) -> IntArray:
        """Instant attack, linear rise of u (exponential recovery of the gain), state carried."""
        step = np.int64(self._release_step)
        ramp = np.arange(u.size, dtype=np.int64) * step
        released = np.asarray(np.minimum.accumulate(u - ramp) + ramp, dtype=np.int64)
        np.minimum(released, self._release_u + step + ramp, out=released)
        np.minimum(released, U_MAX, out=released)
        self._release_u = released[-1]
        return released

    @staticmethod
    def _u_to_gain(u: IntArray) -> IntArray:
        gain = np.full(u.size, GAIN_SCALE, dtype=np.int64)
        reduced = u < U_MAX
        if reduced.any():
            linear = -np.expm1(-u[reduced] / U_SCALE)
            gain[reduced] = np.floor(linear * GAIN_SCALE).astype(np.int64)
        return gain

    def _running_min(self, gain: IntArray) -> IntArray:
        """Minimum over the hold + look-ahead window ending at each new value."""
        window = self._min_window
        extended = np.concatenate([self._min_history, gain])
        self._min_history = extended[-(window - 1) :].copy() if window > 1 else extended[:0]
        return window_minima(extended, window)

    def _moving_average(self, held: IntArray) -> FloatArray:
        """Mean over the look-ahead window ending at each new value, as a float gain."""
        window = self._average_window
        extended = np.concatenate([self._average_history, held])
        if window > 1:
            self._average_history = extended[-(window - 1) :].copy()
        sums = np.cumsum(extended)
        totals = sums[window - 1 :].copy()
        totals[1:] -= sums[:-window]
        return np.asarray(totals / float(window * GAIN_SCALE), dtype=np.float64)


def window_minima(values: IntArray, window: int) -> IntArray:
    """``out[j] = min(values[j : j + window])`` for every whole window (van Herk / Gil–Werman:
    the window spans at most two blocks of ``window`` values, so it is the smaller of a suffix
    minimum of the one and a prefix minimum of the other; three passes whatever the window)."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    count = values.shape[0] - window + 1
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    if window == 1:
        return np.array(values, dtype=np.int64)
    blocks = -(-values.shape[0] // window)
    padded = np.full(blocks * window, np.iinfo(np.int64).max, dtype=np.int64)
    padded[: values.shape[0]] = values
    cells = padded.reshape(blocks, window)
    prefix = np.minimum.accumulate(cells, axis=1).reshape(-1)
    suffix = np.minimum.accumulate(cells[:, ::-1], axis=1)[:, ::-1].reshape(-1)
    return np.minimum(suffix[:count], prefix[window - 1 : window - 1 + count])
