"""LWRP dynamics: upward transient expansion, a gentle compressor, or nothing.

Every envelope here is a linear one-pole filter (or a cascade of them) at the control rate,
and the expander's K-weighting a pair of biquads at the audio rate: all run as second-order
sections (``shared.sections``) with their state carried from block to block, so the output does
not depend on the block size. Channels are linked: one gain,
computed from one detector for all channels, is applied to every channel, so the stereo image
and mono compatibility are untouched.

A one-pole with time constant τ has coefficient ``exp(−1 / (τ · fs))``: its step response reaches
63 % after τ, at any sample rate. The envelope filters and gain laws run at a control rate of
about 3 kHz, on the mean detector power of each group of frames (see ``ControlRate``): envelopes
that move over milliseconds lose nothing, and the costly part of a detector runs on one frame in
fourteen at 44.1 kHz.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from mastering_service.chain.stage import Block, check_channels, check_finite
from shared._kernels import ramp_gain
from shared.blocks import GridBuffer, as_block, channel_mean, columnwise
from shared.loudness import k_weighting_sos
from shared.sections import SectionFilter

#: Power floor of the detectors (−70 dB, the BS.1770 absolute gate): below it nothing is
#: treated as a transient or as over threshold, and silence divides by a finite number.
DETECTOR_FLOOR_POWER = 1e-7


def one_pole_cascade(time_constant_s: float, sample_rate: float, order: int) -> NDArray[np.float64]:
    """``order`` identical one-pole low-passes in series, unity gain at DC, one section each:
    y[n] = (1 − p)·x[n] + p·y[n − 1]."""
    pole = math.exp(-1.0 / (time_constant_s * sample_rate))
    return np.tile([1.0 - pole, 0.0, 0.0, 1.0, -pole, 0.0], (order, 1))


def _envelope(time_constant_s: float, rate_hz: float, order: int, channels: int = 1
              ) -> SectionFilter:
    return SectionFilter(one_pole_cascade(time_constant_s, rate_hz, order), channels)


def _mean_power(x: Block) -> NDArray[np.float64]:
    """Per-frame mean over channels of x² (the linked detector input)."""
    return channel_mean(x * x)


#: Rate at which detector envelopes and gains are computed (about every 0.33 ms).
CONTROL_RATE_HZ = 3000.0


class ControlRate:
    """Per-frame detector power → control-rate group means; control-rate gains → frame gains.

    Frames are grouped by absolute index (group k holds frames kD … kD + D − 1, D ≈ fs / 3 kHz)
    whatever the blocks, so results do not depend on block boundaries. A frame in group k gets
    the gain interpolated linearly from group k − 2's value to group k − 1's: the gain lags its
    detector by one to two groups (under a millisecond), and the audio is not delayed at all.
    """

    def __init__(self, sample_rate: int) -> None:
        self.frames_per_group = max(1, int(sample_rate / CONTROL_RATE_HZ))
        self.rate_hz = sample_rate / self.frames_per_group
        self._ramp = np.arange(1, self.frames_per_group + 1) / self.frames_per_group
        self._groups = GridBuffer(self.frames_per_group)  # detector values, cut into groups
        self._offset = 0  # position, within its group, of the block's first frame
        self._last_gains = np.ones(2)  # gains of the last two completed groups

    def group_means(self, power: NDArray[np.float64]) -> NDArray[np.float64]:
        """Means of the groups these frames complete; the rest waits for the next block."""
        self._offset = self._groups.held
        groups = self._groups.push(power)
        return columnwise(np.add, groups) * (1.0 / self.frames_per_group)

    def apply(self, x: Block, group_gains: NDArray[np.float64]) -> Block:
        """``x`` (the frames given to the last ``group_means`` call) times its per-frame gains:
        interpolated from the gains of the groups those frames complete, in one compiled pass
        (``shared._kernels.ramp_gain``)."""
        points = np.concatenate([self._last_gains, group_gains])
        self._last_gains = points[-2:].copy()
        out = np.empty(x.shape)
        ramp_gain(x, points, self._offset, self._ramp, out)
        return out


# --- Upward transient expander -------------------------------------------------------------------

#: Fast follower: two one-poles of 5 ms in series, so an attack shows within ~10 ms while the
#: ripple a sustained bass note leaves on the power envelope stays inside the dead zone.
FAST_TIME_CONSTANT_S = 0.005
FAST_ORDER = 2
#: Slow follower (150 ms): the "body" level an attack is measured against.
SLOW_TIME_CONSTANT_S = 0.150
#: How far the fast envelope must rise above the slow one before anything is raised; keeps the
#: residual ripple of sustained notes from modulating the gain.
TRANSIENT_DEAD_ZONE_DB = 1.0
#: Make-up: three 1 s one-poles in series (a ~3 s window, like EBU short-term loudness) over the
#: detector power before and after the boost. Three poles make it rise slowly after an attack
#: instead of jumping with it, so it takes back the added loudness without flattening the attack.
MAKEUP_TIME_CONSTANT_S = 1.0
MAKEUP_ORDER = 3
#: The make-up starts as if unboosted audio at this power (−20 dB, the RMS of a loud master) had
#: been playing, so a hit in the first seconds is weighed against that, not against nothing.
MAKEUP_PRIOR_POWER = 0.01


class TransientExpander:
    """Upward transient expansion: raise attacks above the slow envelope, keep the loudness.

    Detector: the K-weighted (BS.1770) power of the mid signal (mean of the channels), so what
    counts as an attack, and what the make-up holds constant, is what the loudness meter hears.
    The mid keeps the detector cheap and linked; attacks panned anywhere still show in it, and
    envelope ratios do not care that a hard-panned hit arrives at half amplitude.

    Where the fast envelope exceeds the slow one by r dB, the gain is ``s · (r − dead zone)``
    dB, at most ``s · max_boost_db``, with strength ``s = sqrt(amount)`` (``amount`` 0…1; the
    square root keeps the small amounts LWRP asks of moderately squashed masters audible: 0.2
    gives 45 % of the full effect). A slow make-up then divides out the boost's share of the
    ~3 s power, so loudness stays put and only the attacks stand out.

    Measured on 34 squashed signals (music_like at crest_shape 0.25–0.6, and 30 s of each
    corpus track driven through tanh: crest 4.8–12.4 dB), integrated loudness (BS.1770) moved by
    −0.14…+0.01 LU (median −0.05) at amount 0.2 and −0.30…+0.07 LU (median −0.13) at amount 1,
    while the crest factor, and with it the sample peak, rose by a median 2.1 dB (0.05–2.7) at
    amount 0.2, 3.5 dB (0.5–4.3) at 0.5 and 5.1 dB (1.0–6.1) at 1. The sustained
    level moves by the make-up only (a fraction of a dB). Silence stays silence (gain exactly 1).
    """

    def __init__(
        self, sample_rate: int, channels: int, amount: float, max_boost_db: float = 6.0
    ) -> None:
        self.channels = check_channels(channels)
        self.amount = min(max(check_finite("amount", amount), 0.0), 1.0)
        self.max_boost_db = check_finite("max_boost_db", max_boost_db)
        if self.max_boost_db < 0.0:
            raise ValueError(f"max_boost_db must be ≥ 0, got {max_boost_db}")
        self.latency_frames = 0
        self._strength = math.sqrt(self.amount)
        # The boost as a power ratio: (ratio · dead-zone factor) ** strength, clipped to [1, cap].
        self._dead_zone_factor = 10.0 ** (-TRANSIENT_DEAD_ZONE_DB / 10.0)
        self._max_boost_power = 10.0 ** (self._strength * self.max_boost_db / 10.0)
        self._k_filter = SectionFilter(k_weighting_sos(sample_rate), 1)
        self._control = ControlRate(sample_rate)
        rate = self._control.rate_hz
        self._fast = _envelope(FAST_TIME_CONSTANT_S, rate, FAST_ORDER)
        self._slow = _envelope(SLOW_TIME_CONSTANT_S, rate, 1)
        # Column 0: boosted power, column 1: plain power; both start in the prior's steady state.
        self._makeup = _envelope(MAKEUP_TIME_CONSTANT_S, rate, MAKEUP_ORDER, channels=2)
        self._makeup.settle(MAKEUP_PRIOR_POWER)

    @property
    def is_neutral(self) -> bool:
        return self._strength == 0.0 or self.max_boost_db == 0.0

    def process(self, block: Block) -> Block:
        x = as_block(block, self.channels)
        if self.is_neutral or x.shape[0] == 0:
            return x.copy()
        weighted = self._k_filter.process(channel_mean(x)[:, None])[:, 0]
        power = self._control.group_means(weighted * weighted)
        gains = self._group_gains(power) if power.size else power
        return self._control.apply(x, gains)

    def _group_gains(self, power: NDArray[np.float64]) -> NDArray[np.float64]:
        fast = self._fast.process(power[:, None])[:, 0]
        slow = self._slow.process(power[:, None])[:, 0]
        ratio = (fast + DETECTOR_FLOOR_POWER) / (slow + DETECTOR_FLOOR_POWER)
        boost = np.clip(
            (ratio * self._dead_zone_factor) ** self._strength, 1.0, self._max_boost_power
        )
        smoothed = self._makeup.process(np.stack([boost * power, power], axis=1))
        makeup = (smoothed[:, 1] + DETECTOR_FLOOR_POWER) / (smoothed[:, 0] + DETECTOR_FLOOR_POWER)
        return np.asarray(np.sqrt(boost * makeup), dtype=np.float64)


# --- Gentle compressor ---------------------------------------------------------------------------

#: Soft-knee width: the ratio fades in over ±3 dB around the threshold (quadratic knee of
#: D. Giannoulis, M. Massberg, J. D. Reiss, "Digital Dynamic Range Compressor Design — A Tutorial
#: and Analysis", JAES 2012).
KNEE_WIDTH_DB = 6.0


class GentleCompressor:
    """Slow RMS compressor with linked channels and a hard cap on the gain reduction.

    Level: ``10·log10`` of the mean over channels of x², averaged by two one-poles — attack
    ``attack_ms`` and release ``release_ms`` — of which the larger is taken. A rise therefore
    registers at the attack speed; after a fall the level decays at the release speed, from
    wherever the slow average had got to (a short burst lets go sooner than a long passage).
    On that scale a full-scale square wave is 0 dB and a full-scale sine −3.01 dB.

    Gain reduction: ``(1 − 1/ratio) · (level − threshold_dbfs)`` above the threshold (soft knee,
    ``KNEE_WIDTH_DB``), never more than ``max_reduction_db``. The gain is never above unity.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        threshold_dbfs: float,
        ratio: float,
        attack_ms: float,
        release_ms: float,
        max_reduction_db: float,
    ) -> None:
        self.channels = check_channels(channels)
        self.threshold_dbfs = check_finite("threshold_dbfs", threshold_dbfs)
        self.ratio = check_finite("ratio", ratio)
        self.attack_ms = check_finite("attack_ms", attack_ms)
        self.release_ms = check_finite("release_ms", release_ms)
        self.max_reduction_db = check_finite("max_reduction_db", max_reduction_db)
        if self.ratio < 1.0:
            raise ValueError(f"ratio must be ≥ 1, got {ratio}")
        if self.attack_ms <= 0.0 or self.release_ms <= 0.0:
            raise ValueError("attack_ms and release_ms must be positive")
        if self.max_reduction_db < 0.0:
            raise ValueError(f"max_reduction_db must be ≥ 0, got {max_reduction_db}")
        self.latency_frames = 0
        self._slope = 1.0 - 1.0 / self.ratio
        self._control = ControlRate(sample_rate)
        rate = self._control.rate_hz
        self._attack = _envelope(self.attack_ms / 1000.0, rate, 1)
        self._release = _envelope(self.release_ms / 1000.0, rate, 1)

    @property
    def is_neutral(self) -> bool:
        return self._slope == 0.0 or self.max_reduction_db == 0.0

    def process(self, block: Block) -> Block:
        x = as_block(block, self.channels)
        if self.is_neutral or x.shape[0] == 0:
            return x.copy()
        power = self._control.group_means(_mean_power(x))
        gains = self._group_gains(power) if power.size else power
        return self._control.apply(x, gains)

    def _group_gains(self, power: NDArray[np.float64]) -> NDArray[np.float64]:
        fast = self._attack.process(power[:, None])[:, 0]
        slow = self._release.process(power[:, None])[:, 0]
        level_db = 10.0 * np.log10(np.maximum(fast, slow) + DETECTOR_FLOOR_POWER)
        over_db = level_db - self.threshold_dbfs
        knee = np.clip(over_db + KNEE_WIDTH_DB / 2.0, 0.0, KNEE_WIDTH_DB)
        reduction_db = self._slope * (
            knee * knee / (2.0 * KNEE_WIDTH_DB) + np.maximum(over_db - KNEE_WIDTH_DB / 2.0, 0.0)
        )
        return np.asarray(10.0 ** (-np.minimum(reduction_db, self.max_reduction_db) / 20.0))
