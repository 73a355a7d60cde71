"""Loudness versus peak reduction: what x dB of true-peak limiting would cost a track in loudness.

Measured, not modelled: the pass that meters a track (the fingerprint, or the mastering service's
own quick analysis) keeps a fine envelope — the K-weighted energy and the 4× peak of every 5 ms
cell (``LoudnessMeter(envelope_per_s=…)``). From it, ``loudness_after_limiting`` replays what the
mastering chain's look-ahead limiter does when the track's peaks are pushed x dB over its
threshold, for x on a fixed grid:

1. each cell needs the gain ``min(1, threshold / peak)``;
2. the limiter holds the lowest gain over its hold and look-ahead (one cell either side) and
   recovers exponentially, 90 % of a reduction in ``release_ms`` — in u = −ln(1 − g) that is a
   straight line, so the released gain is a running minimum (as in ``chain.limiter``);
3. each cell's energy is scaled by its gain squared, and the BS.1770 gates are applied to the
   400 ms blocks (100 ms steps) of the scaled envelope.

The curve is the integrated loudness after x dB of limiting, at the track's own level (the
limiter alone, no make-up): ``curve[i]`` for x = i · ``CURVE_STEP_DB``. ``curve[0]`` is the
unlimited loudness. A second curve does the same for the loudness range (3 s windows), so a plan
can see how much of a track's macro-dynamics a given limiting would flatten. A plan that applies
a gain G and a ceiling then reaches ``curve(x) + G`` with x = true peak + G − ceiling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from shared.blocks import FRAMES_PER_S
from shared.loudness import (
    GATING_BLOCK_SUB_BLOCKS,
    SHORT_TERM_SUB_BLOCKS,
    LoudnessMeter,
    gated_loudness,
    loudness_range,
)

FloatArray = NDArray[np.float64]

#: Envelope cells per second (5 ms): fine enough for the limiter's 5 ms hold and look-ahead and
#: its 50–300 ms release, coarse enough that an hour of audio is 0.7 M cells.
ENVELOPE_PER_S = 200
#: The curve's grid: x = 0, 0.5, … 12 dB of peak reduction.
CURVE_STEP_DB = 0.5
CURVE_MAX_DB = 12.0
CURVE_POINTS = round(CURVE_MAX_DB / CURVE_STEP_DB) + 1
#: Peaks are measured exactly this far under the loudest (a little more than the curve needs).
ENVELOPE_RANGE_DB = CURVE_MAX_DB + 1.0
#: Cells of hold plus look-ahead on either side of a peak (the limiter's 5 ms each).
HOLD_CELLS = 1
#: Fraction of a reduction the limiter has recovered ``release_ms`` after the hold.
RELEASE_RECOVERED_FRACTION = 0.9
#: Cells per gating block (400 ms) and per gating step (100 ms).
_BLOCK_CELLS = ENVELOPE_PER_S * GATING_BLOCK_SUB_BLOCKS // FRAMES_PER_S
_STEP_CELLS = ENVELOPE_PER_S // FRAMES_PER_S
#: Cells per short-term window (3 s), for the loudness range.
_SHORT_TERM_CELLS = ENVELOPE_PER_S * SHORT_TERM_SUB_BLOCKS // FRAMES_PER_S
#: u = −ln(1 − g) at which the gain counts as 1 (keeps the logarithm finite).
_U_MAX = 40.0
#: The limiter's release follows the tempo (SPEC section 5): this many beats (a sixteenth note,
#: so the gain is back before the next subdivision), within RELEASE_RANGE_MS; without a tempo
#: (beatless material, or no fingerprint) DEFAULT_RELEASE_MS.
RELEASE_BEATS = 0.25
RELEASE_RANGE_MS = (50.0, 300.0)
DEFAULT_RELEASE_MS = 150.0


def limiter_release_ms(tempo_bpm: float | None) -> float:
    """The limiter release for a track of this tempo (the plan and the curve use the same)."""
    if tempo_bpm is None or not tempo_bpm > 0.0:
        return DEFAULT_RELEASE_MS
    low, high = RELEASE_RANGE_MS
    return min(high, max(low, RELEASE_BEATS * 60_000.0 / tempo_bpm))


def envelope_meter(sample_rate: int, channels: int) -> LoudnessMeter:
    """A loudness meter that also keeps the envelope the curve is computed from."""
    return LoudnessMeter(sample_rate, channels, measure_true_peak=True,
                         envelope_per_s=ENVELOPE_PER_S, envelope_range_db=ENVELOPE_RANGE_DB)


#: Curve points replayed together: the replay keeps several (points, cells) arrays alive at
#: once, about 1 GB for all 25 points over an hour of cells; 4 at a time stay under 200 MB.
_ROWS_PER_PASS = 4


def reductions_db() -> FloatArray:
    """The x grid of the curve, dB."""
    return np.arange(CURVE_POINTS, dtype=np.float64) * CURVE_STEP_DB


def _window_powers(
    energy: FloatArray, samples: FloatArray, window_cells: int, step_cells: int
) -> FloatArray:
    """``(rows, windows)`` mean-square powers of windows of ``window_cells`` cells every
    ``step_cells``, one row per scaled envelope (rows of ``energy``); one window of everything
    when there is less than one window of audio."""
    cells = energy.shape[1]
    if cells < window_cells:
        whole = energy.sum(axis=1, keepdims=True) / max(float(samples.sum()), 1.0)
        return np.asarray(whole, dtype=np.float64)
    zero = np.zeros((energy.shape[0], 1))
    cumulative = np.concatenate([zero, np.cumsum(energy, axis=1)], axis=1)
    counted = np.concatenate([[0.0], np.cumsum(samples)])
    starts = np.arange(0, cells - window_cells + 1, step_cells)
    sums = cumulative[:, starts + window_cells] - cumulative[:, starts]
    lengths = counted[starts + window_cells] - counted[starts]
    return np.asarray(sums / lengths, dtype=np.float64)


def held_headroom(peaks: FloatArray) -> FloatArray:
    """Per cell, 1 / the loudest peak within the hold and look-ahead (``HOLD_CELLS`` either
    side; the track's ends repeat their cell): the gain a threshold of 1 would need there."""
    inverse = 1.0 / np.maximum(peaks, 1e-300)
    held = inverse.copy()
    for shift in range(1, HOLD_CELLS + 1):  # (past an end, the window's cells are all inside)
        np.minimum(held[shift:], inverse[:-shift], out=held[shift:])
        np.minimum(held[:-shift], inverse[shift:], out=held[:-shift])
    return held


def limiter_gains(
    peaks: FloatArray, reductions: FloatArray, release_ms: float,
    headroom: FloatArray | None = None,
) -> FloatArray:
    """``(len(reductions), cells)`` gains the limiter applies when its threshold sits
    ``reductions`` dB under the loudest peak (``headroom``: ``held_headroom(peaks)``, when the
    caller has it)."""
    top = float(peaks.max()) if peaks.size else 0.0
    if top <= 0.0:
        return np.ones((reductions.size, peaks.size))
    if headroom is None:
        headroom = held_headroom(peaks)
    thresholds = top * 10.0 ** (-reductions[:, None] / 20.0)
    # The held gain min(1, threshold / peak) over the hold: the threshold times the held
    # headroom (a positive factor keeps the minimum where it is).
    held = np.minimum(1.0, thresholds * headroom[None, :])
    # Release: 1 − g shrinks by exp(−t/τ), τ = release / ln(1 / (1 − recovered fraction)),
    # a straight line in u = −ln(1 − g). Unity gain is u = _U_MAX; only the cells under it
    # need the logarithm, and only the released cells under _U_MAX the exponential.
    tau_cells = release_ms / 1000.0 * ENVELOPE_PER_S / math.log(
        1.0 / (1.0 - RELEASE_RECOVERED_FRACTION))
    u = np.full(held.shape, _U_MAX)
    limited = held < 1.0
    np.log1p(-held, out=u, where=limited)
    np.negative(u, out=u, where=limited)
    np.minimum(u, _U_MAX, out=u)
    slope = np.arange(peaks.size) / tau_cells
    released = np.minimum.accumulate(u - slope, axis=1) + slope
    np.minimum(released, _U_MAX, out=released)
    gains = np.ones(held.shape)
    recovering = released < _U_MAX
    np.expm1(-released, out=gains, where=recovering)
    np.negative(gains, out=gains, where=recovering)
    return gains


@dataclass(frozen=True, slots=True)
class LimitingCurves:
    """What x dB of limiting (x = 0, CURVE_STEP_DB, … CURVE_MAX_DB) leaves of a track."""

    #: Integrated loudness, LUFS (element 0: the track's own).
    loudness_lufs: tuple[float, ...]
    #: Loudness range (EBU Tech 3342), LU (element 0: the track's own): how much of its
    #: macro-dynamics the limiting would flatten.
    loudness_range_lu: tuple[float, ...]


def limiting_curves(meter: LoudnessMeter, release_ms: float) -> LimitingCurves:
    """The curves (see the module docstring) from a meter made by ``envelope_meter`` that has
    seen the whole track."""
    energy, samples, peaks = meter.envelope()
    return curves_from_envelope(energy, samples, peaks, meter.integrated_lufs(),
                                meter.loudness_range_lu(), release_ms)


def curves_from_envelope(
    energy: FloatArray, samples: FloatArray, peaks: FloatArray, loudness_lufs: float,
    loudness_range_lu: float | None, release_ms: float,
) -> LimitingCurves:
    """The curves from envelope cells (``LoudnessMeter.envelope``, or several excerpts'
    envelopes one after the other), anchored on the track's own ``loudness_lufs`` and
    ``loudness_range_lu``: element 0 is exactly those, and each later point adds the change
    the replay measures. ``loudness_range_lu`` None: the replay's own unlimited range (excerpts
    have no range of their own)."""
    reductions = reductions_db()
    if peaks.size == 0 or not float(peaks.max()) > 0.0:
        flat_range = 0.0 if loudness_range_lu is None else float(loudness_range_lu)
        return LimitingCurves(tuple(float(loudness_lufs) for _ in reductions),
                              tuple(flat_range for _ in reductions))
    replayed_lufs: list[float] = []
    ranges_lu: list[float] = []
    headroom = held_headroom(peaks)
    # Every row is replayed on its own, so a few at a time give the same numbers at a
    # fraction of the memory.
    for first in range(0, reductions.size, _ROWS_PER_PASS):
        part = reductions[first : first + _ROWS_PER_PASS]
        limited = energy[None, :] * limiter_gains(peaks, part, release_ms, headroom) ** 2
        gating = _window_powers(limited, samples, _BLOCK_CELLS, _STEP_CELLS)
        replayed_lufs += [gated_loudness(row) for row in gating]
        short_term = _window_powers(limited, samples, _SHORT_TERM_CELLS, _STEP_CELLS)
        ranges_lu += [loudness_range(row) for row in short_term]
    replayed = np.array(replayed_lufs)
    ranges = np.array(ranges_lu)
    # Limiting never adds loudness: keep the curve non-increasing against rounding.
    loudness = np.minimum.accumulate(loudness_lufs + (replayed - replayed[0]))
    anchor = ranges[0] if loudness_range_lu is None else loudness_range_lu
    return LimitingCurves(tuple(float(v) for v in loudness),
                          tuple(float(v) for v in anchor + (ranges - ranges[0])))
