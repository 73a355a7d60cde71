"""The loudness prediction: what the chain will do to a track's loudness and peaks, known before
the first sample (SPEC section 5: the plan is fixed up front, there is no pre-pass).

It adds up, in LU:

* high-pass and tonal EQ: a smooth spectrum through the fingerprint's seven band shares,
  weighted by the K-weighting, with and without the filters' own responses
  (``TonalEQ.response_db``);
* mid/side width: ``stereo_width`` gives the side/mid power ratio, and BS.1770 stereo loudness
  is proportional to M² + S² (``MidSideWidth.power_change_db``);
* expansion: none (the expander has its own loudness make-up), but its peak rise is counted;
* slow compressor: its reduction, which it takes from loudness and peaks alike;
* true-peak limiter: a cost model of the reduction the ceiling demands, shaped by the
  peak-to-loudness ratio (``LIMITER_COST_*``, fitted on the corpus).

``LevelModel.level_for`` then finds the static gain that reaches a target after all of them:
the loudness reached rises strictly with the limiter's reduction, so that relation is inverted
by bisection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from mastering_service.chain.highpass import CUTOFF_HZ as HIGHPASS_CUTOFF_HZ
from mastering_service.chain.highpass import ORDER as HIGHPASS_ORDER
from mastering_service.chain.limiter import SAFETY_MARGIN_DB as LIMITER_SAFETY_MARGIN_DB
from mastering_service.chain.tonal_eq import TonalEQ
from shared.fingerprint import BAND_EDGES_HZ as FINGERPRINT_BAND_EDGES_HZ
from shared.fingerprint import BAND_TOP_HZ, Fingerprint
from shared.loudness import k_weighting_sos

#: The EQ response is evaluated at this nominal rate (shelves far below Nyquist barely differ).
PREDICTION_SAMPLE_RATE = 48_000
#: Frequencies per band of the spectrum the prediction reconstructs from the band shares.
PREDICTION_POINTS_PER_BAND = 32
#: Share given to an empty band when interpolating densities (keeps the logarithm finite).
SHARE_FLOOR = 1e-6
#: Fingerprint bands (SPEC section 4), with the nominal 20 kHz top edge.
BAND_EDGES_HZ = (*FINGERPRINT_BAND_EDGES_HZ, BAND_TOP_HZ)
#: The transient expander keeps the loudness (its own slow make-up: measured −0.07…+0.05 LU at
#: full amount on squashed synthetic mixes, so no loudness change is predicted), but it raises
#: the peaks: by up to its boost (6 dB) × strength, strength = sqrt(amount)
#: (chain.dynamics.TransientExpander); measured 1.7–1.9 dB at amount 0.1, 5.8–6.0 dB at 1.0.
EXPANSION_PEAK_RISE_DB = 6.0
#: Loudness cost of the true-peak limiter for x dB of reduction (x includes the limiter's own
#: safety margin): cost = SLOPE · SPREAD · (softplus((x − onset) / SPREAD) − softplus(−onset /
#: SPREAD)), onset = ONSET_DB + ONSET_PER_PLR · (true peak − L). The cost is ~0 while only the
#: few highest peaks are touched and grows toward SLOPE LU per dB once the reduction reaches the
#: dense body of the peaks; the larger the peak-to-loudness ratio, the later that happens.
#: Fitted to the 21 corpus tracks at 0.5–3 dB (release from each track's tempo): max error
#: 0.22 LU at 1 dB, 0.35 LU at 2 dB in-sample, 0.23 / 0.36 LU leave-one-out. Synthetic mixes
#: (tests.signals.music_like) have far denser peaks than real music and mispredicted the corpus
#: by up to 4 LU, so they were only used to check the shape. SLOPE is the steepest cost seen
#: (0.93 LU/dB at 8 dB), kept below 1 so that pushing harder always gains some loudness.
LIMITER_COST_SLOPE = 0.9
LIMITER_COST_SPREAD_DB = 1.05
LIMITER_COST_ONSET_DB = -1.78
LIMITER_COST_ONSET_PER_PLR = 0.36
#: The slow compressor works on loud passages as a whole: its loudness cost and its peak
#: reduction both equal its gain reduction (measured 0.95–1.07 × on the corpus).
COMPRESSOR_LOUDNESS_PER_DB = 1.0
#: Bisection steps when solving for the gain (the bracket shrinks 2^-60: far below 1e-6 dB).
BISECTION_STEPS = 60


def _db(power_ratio: float) -> float:
    return 10.0 * math.log10(power_ratio)


@dataclass(frozen=True)
class _Grid:
    """Log-spaced analysis frequencies over the seven fingerprint bands, the band of each, and
    the power gains there of what every render applies: the K-weighting (it is what loudness
    hears) and the subsonic high-pass (Butterworth: |H|² = 1 / (1 + (fc/f)^(2·order)))."""

    freqs_hz: NDArray[np.float64]
    bands: NDArray[np.int64]
    k_power: NDArray[np.float64]
    highpass_power: NDArray[np.float64]


@cache
def _grid() -> _Grid:
    edges = np.log2(np.array(BAND_EDGES_HZ))
    freqs = np.concatenate([
        np.exp2(np.linspace(low, high, PREDICTION_POINTS_PER_BAND, endpoint=False))
        for low, high in pairwise(edges)
    ])
    bands = np.repeat(np.arange(edges.size - 1), PREDICTION_POINTS_PER_BAND)
    rate = PREDICTION_SAMPLE_RATE
    _, k_response = signal.sosfreqz(k_weighting_sos(rate), worN=freqs, fs=rate)
    highpass = 1.0 / (1.0 + (HIGHPASS_CUTOFF_HZ / freqs) ** (2 * HIGHPASS_ORDER))
    return _Grid(freqs, bands, np.abs(k_response) ** 2, highpass)


def _spectrum(shares: NDArray[np.float64]) -> NDArray[np.float64]:
    """Power at each grid frequency: the band densities (power per octave) interpolated
    log-linearly between band centres, then scaled so that every band holds exactly its share.
    (A bass band whose neighbour below is strong and above is weak has its power low in the
    band, as a sub-heavy mix does, rather than spread evenly.)"""
    grid = _grid()
    edges = np.log2(np.array(BAND_EDGES_HZ))
    density = np.maximum(shares, SHARE_FLOOR) / np.diff(edges)
    centres = (edges[:-1] + edges[1:]) / 2.0
    power = np.exp(np.interp(np.log2(grid.freqs_hz), centres, np.log(density)))
    totals = np.bincount(grid.bands, weights=power)
    return np.asarray(power * (shares / totals)[grid.bands], dtype=np.float64)


def spectral_loudness_change_db(
    fp: Fingerprint, low_shelf_db: float, high_shelf_db: float
) -> float:
    """Loudness change of the high-pass and the tonal EQ, predicted from the band shares: the
    K-weighted power of ``_spectrum`` with and without the filters' responses."""
    shares = np.array([
        fp.sub_bass_share, fp.bass_share, fp.low_mid_share, fp.mid_share,
        fp.upper_mid_share, fp.presence_share, fp.air_share,
    ])
    if not shares.sum() > 0.0:
        return 0.0
    grid = _grid()
    power = _spectrum(shares) * grid.k_power
    eq = TonalEQ(PREDICTION_SAMPLE_RATE, 1, low_shelf_db, high_shelf_db)
    eq_power = 10.0 ** (eq.response_db(grid.freqs_hz) / 10.0)
    before = float(power.sum())
    after = float(power @ (grid.highpass_power * eq_power))
    if before <= 0.0 or after <= 0.0:
        return 0.0
    return _db(after / before)


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _limiter_onset_db(plr_db: float) -> float:
    return LIMITER_COST_ONSET_DB + LIMITER_COST_ONSET_PER_PLR * plr_db


def limiter_useful_reduction_db(plr_db: float, max_marginal_cost: float) -> float:
    """Reduction at which a further dB of limiting costs ``max_marginal_cost`` LU (the cost's
    slope is SLOPE · logistic((x − onset) / SPREAD)), never below 0."""
    share = max_marginal_cost / LIMITER_COST_SLOPE
    x = _limiter_onset_db(plr_db) + LIMITER_COST_SPREAD_DB * math.log(share / (1.0 - share))
    return max(0.0, x - LIMITER_SAFETY_MARGIN_DB)


def limiter_cost_db(reduction_db: float, plr_db: float) -> float:
    """Predicted loudness the true-peak limiter takes away when the peaks exceed the ceiling by
    ``reduction_db`` (see LIMITER_COST_*); 0 when nothing reaches the limiter's threshold."""
    x = reduction_db + LIMITER_SAFETY_MARGIN_DB
    if x <= 0.0:
        return 0.0
    onset = _limiter_onset_db(plr_db)
    spread = LIMITER_COST_SPREAD_DB
    return LIMITER_COST_SLOPE * spread * (
        _softplus((x - onset) / spread) - _softplus(-onset / spread)
    )


@dataclass(frozen=True)
class Level:
    """Static gain before the compressor's make-up, and what the limiter does with it."""

    gain_db: float
    limiter_reduction_db: float
    limiter_cost_db: float


@dataclass(frozen=True)
class LevelModel:
    """What the stages before the static gain do, as the prediction sees it."""

    input_lufs: float
    static_change_db: float  # loudness change of EQ, width, expansion
    peak_before_gain_dbtp: float
    ceiling_dbtp: float
    plr_db: float

    def level_for(self, target_lufs: float) -> Level:
        """Gain reaching ``target_lufs`` after the limiter. ``target_for`` rises strictly with
        the limiter's reduction (each dB costs at most LIMITER_COST_SLOPE < 1 LU), so it is
        inverted by bisection."""
        onset = -LIMITER_SAFETY_MARGIN_DB  # below this the limiter does nothing
        if target_lufs <= self.target_for(onset):
            gain = target_lufs - self.input_lufs - self.static_change_db
            return Level(gain, max(0.0, self.reduction_for(gain)), 0.0)
        low, high = onset, onset + 1.0
        while self.target_for(high) < target_lufs:
            low, high = high, high + 2.0 * (high - onset)
        for _ in range(BISECTION_STEPS):
            middle = 0.5 * (low + high)
            if self.target_for(middle) < target_lufs:
                low = middle
            else:
                high = middle
        reduction = 0.5 * (low + high)
        gain = reduction + self.ceiling_dbtp - self.peak_before_gain_dbtp
        return Level(gain, max(0.0, reduction), limiter_cost_db(reduction, self.plr_db))

    def reduction_for(self, gain_db: float) -> float:
        return self.peak_before_gain_dbtp + gain_db - self.ceiling_dbtp

    def target_for(self, limiter_reduction_db: float) -> float:
        """The loudness reached when the limiter reduces the peaks by exactly this much."""
        gain = limiter_reduction_db + self.ceiling_dbtp - self.peak_before_gain_dbtp
        cost = limiter_cost_db(limiter_reduction_db, self.plr_db)
        return self.input_lufs + self.static_change_db + gain - cost
