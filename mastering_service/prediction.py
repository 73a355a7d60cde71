"""The loudness prediction: what the chain will do to a track's loudness and peaks, known before
the first sample (SPEC section 5: the plan is fixed up front, there is no pre-pass).

It adds up, in LU:

* high-pass and tonal EQ: a smooth spectrum through the fingerprint's seven band shares,
  weighted by the K-weighting, with and without the filters' own responses
  (``TonalEQ.response_db``); the EQ's effect on the peaks from the same spectrum, amplitude-
  weighted (``spectral_peak_change_db``), since a shelf lifts transients more than loudness;
* mid/side width: ``stereo_width`` gives the side/mid power ratio, and BS.1770 stereo loudness
  is proportional to M² + S² (``MidSideWidth.power_change_db``);
* expansion: none (the expander has its own loudness make-up), but its peak rise is counted;
* slow compressor: its reduction, which it takes from loudness and peaks alike;
* true-peak limiter: what the reduction the ceiling demands costs this track, read off its
  measured loudness-versus-peak-reduction curve (``shared.peak_reduction``, computed in the
  fingerprint pass or the fallback analysis).

``LevelModel.level_for`` then finds the static gain that reaches a target after all of them:
the loudness reached rises strictly with the limiter's reduction, so that relation is inverted
by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from mastering_service.chain.highpass import CUTOFF_HZ as HIGHPASS_CUTOFF_HZ
from mastering_service.chain.highpass import ORDER as HIGHPASS_ORDER
from mastering_service.chain.limiter import SAFETY_MARGIN_DB as LIMITER_SAFETY_MARGIN_DB
from mastering_service.chain.tonal_eq import TonalEQ
from shared.fingerprint import BAND_EDGES_HZ as FINGERPRINT_BAND_EDGES_HZ
from shared.fingerprint import BAND_TOP_HZ, Fingerprint
from shared.loudness import k_weighting_sos
from shared.peak_reduction import reductions_db
from shared.sections import sos_response

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
#: A limiting reduction beyond the measured curve (12 dB) continues its last slope, but never
#: costs more than this share of each further dB (so pushing harder always gains loudness and
#: the gain stays solvable).
LIMITER_MAX_COST_PER_DB = 0.95
#: The most limiting the solver considers, dB: far past any budget (6 dB × intensity) plus the
#: limiter's cost on the densest real material.
MAX_LIMITING_DB = 30.0
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
    k_response = sos_response(k_weighting_sos(rate), freqs, rate)
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


def _band_shares(fp: Fingerprint) -> NDArray[np.float64]:
    return np.array([
        fp.sub_bass_share, fp.bass_share, fp.low_mid_share, fp.mid_share,
        fp.upper_mid_share, fp.presence_share, fp.air_share,
    ])


def spectral_loudness_change_db(
    fp: Fingerprint, low_shelf_db: float, high_shelf_db: float
) -> float:
    """Loudness change of the high-pass and the tonal EQ, predicted from the band shares: the
    K-weighted power of ``_spectrum`` with and without the filters' responses."""
    shares = _band_shares(fp)
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


def spectral_peak_change_db(fp: Fingerprint, low_shelf_db: float, high_shelf_db: float) -> float:
    """Change of the true peak the tonal EQ causes, predicted from the band shares, dB.

    A peak is either a crest of the dominant (mostly low) notes, whose components add about
    in proportion to their amplitude per band, or a broadband transient, whose components add
    coherently across every hertz (amplitude per Hz, which weights the wide treble bands far
    more). Whichever the EQ raises more sets the new peak, so the prediction is the larger of
    the two amplitude-weighted gains. Measured on 12 real tracks (corpus and calibration music)
    with ±3 dB on either shelf, 48 renders: mean error +0.07 dB, mean absolute 0.25 dB, worst
    0.96 dB, only one under-prediction beyond 0.5 dB; the power (loudness) weighting assumed
    before was under by more than 0.5 dB on six, by up to 1.4 dB (a +3 dB high shelf lifting
    transients by 1.1 dB while the loudness rose 0.15 LU).
    """
    shares = _band_shares(fp)
    if not shares.sum() > 0.0 or (low_shelf_db == 0.0 and high_shelf_db == 0.0):
        return 0.0
    grid = _grid()
    power = _spectrum(shares)
    octaves_per_point = np.diff(np.log2(np.array(BAND_EDGES_HZ)))[grid.bands] / (
        PREDICTION_POINTS_PER_BAND)
    bandwidth_hz = grid.freqs_hz * math.log(2.0) * octaves_per_point
    eq = TonalEQ(PREDICTION_SAMPLE_RATE, 1, low_shelf_db, high_shelf_db)
    eq_gain = 10.0 ** (eq.response_db(grid.freqs_hz) / 20.0)
    changes = []
    for weights in (np.sqrt(power), np.sqrt(power * bandwidth_hz)):
        changes.append(20.0 * math.log10(float(weights @ eq_gain) / float(weights.sum())))
    return max(changes)


def limiter_cost_db(reduction_db: float, limited_lufs: Sequence[float]) -> float:
    """Loudness the true-peak limiter takes away when the peaks exceed its ceiling by
    ``reduction_db``: read off the track's measured curve (``shared.peak_reduction``), the
    limiter's own safety margin included; 0 when nothing reaches its threshold or when no curve
    was measured."""
    x = reduction_db + LIMITER_SAFETY_MARGIN_DB
    if x <= 0.0 or len(limited_lufs) < 2:
        return 0.0
    curve = np.asarray(limited_lufs, dtype=np.float64)
    grid = reductions_db()[: curve.size]
    if x <= grid[-1]:
        return float(curve[0] - np.interp(x, grid, curve))
    last_slope = (curve[-2] - curve[-1]) / (grid[-1] - grid[-2])
    slope = min(LIMITER_MAX_COST_PER_DB, max(0.0, float(last_slope)))
    return float(curve[0] - curve[-1]) + slope * (x - float(grid[-1]))


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
    #: The track's measured loudness after x dB of limiting (``TrackInfo.limited_loudness_lufs``).
    limited_lufs: Sequence[float] = ()
    #: How far the expander lifts the highest transients above the input's peaks. The limiter
    #: takes that lift back first, and on short transients at next to no loudness cost, so the
    #: curve (measured on the input) applies to the reduction beyond it.
    expansion_rise_db: float = 0.0

    def level_for(self, target_lufs: float) -> Level:
        """Gain reaching ``target_lufs`` after the limiter, or the nearest to it within
        MAX_LIMITING_DB. ``target_for`` never falls as the limiter's reduction grows (limiting x
        dB never costs more than x LU), so it is inverted by bisection."""
        onset = -LIMITER_SAFETY_MARGIN_DB  # below this the limiter does nothing
        if target_lufs <= self.target_for(onset):
            gain = target_lufs - self.input_lufs - self.static_change_db
            return Level(gain, max(0.0, self.reduction_for(gain)), 0.0)
        low, high = onset, MAX_LIMITING_DB
        for _ in range(BISECTION_STEPS):
            middle = 0.5 * (low + high)
            if self.target_for(middle) < target_lufs:
                low = middle
            else:
                high = middle
        reduction = 0.5 * (low + high)
        gain = reduction + self.ceiling_dbtp - self.peak_before_gain_dbtp
        return Level(gain, max(0.0, reduction), self.cost_for(reduction))

    def cost_for(self, limiter_reduction_db: float) -> float:
        """Loudness the limiter takes away at this reduction (see ``expansion_rise_db``)."""
        return limiter_cost_db(limiter_reduction_db - self.expansion_rise_db, self.limited_lufs)

    def reduction_for(self, gain_db: float) -> float:
        return self.peak_before_gain_dbtp + gain_db - self.ceiling_dbtp

    def target_for(self, limiter_reduction_db: float) -> float:
        """The loudness reached when the limiter reduces the peaks by exactly this much."""
        gain = limiter_reduction_db + self.ceiling_dbtp - self.peak_before_gain_dbtp
        cost = self.cost_for(limiter_reduction_db)
        return self.input_lufs + self.static_change_db + gain - cost
