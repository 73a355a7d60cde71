"""2D LWRP — the Loudness-War Restraint Principle (SPEC section 5): how to master one track.

A pure function of the input's integrated loudness L (LUFS), crest factor C (dB), true peak and
(when there is one) its 25D fingerprint. The category label uses the hard thresholds; every
number is a continuous function of (L, C): the processing owned by a category fades in over one
dB/LU on its own side of each threshold, so −12.01 and −11.99 LUFS get near-identical plans
and no quiet-side boost ever reaches loud material.

The static gain comes from ``prediction``: ``effective target − L − (what the other stages are
predicted to change)``. The corpus tests check the result against ffmpeg on 21 real tracks at
−14 and −23 LUFS. Request parameters arrive validated (``request.validate``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from mastering_service.balance import (
    BUILT_IN_REFERENCE,
    Reference,
    side_gain_db,
    tonal_shelves_db,
    track_reference,
    treble_mid_ratio_db,
)
from mastering_service.blend import clamp, smoothstep
from mastering_service.chain.highpass import CUTOFF_HZ as HIGHPASS_CUTOFF_HZ
from mastering_service.chain.limiter import SAFETY_MARGIN_DB as LIMITER_SAFETY_MARGIN_DB
from mastering_service.chain.width import MidSideWidth
from mastering_service.plan import (
    COMPRESSOR_MAX_REDUCTION_DB,
    Category,
    FallbackReason,
    MasteringPlan,
)
from mastering_service.prediction import (
    COMPRESSOR_LOUDNESS_PER_DB,
    EXPANSION_PEAK_RISE_DB,
    MAX_LIMITING_DB,
    LevelModel,
    spectral_loudness_change_db,
    spectral_peak_change_db,
)
from mastering_service.request import (
    DEFAULT_CEILING_DBTP,
    DEFAULT_INTENSITY,
    DEFAULT_TARGET_LUFS,
    TARGET_LUFS,
)
from shared.fingerprint import Fingerprint, FingerprintSource, TrackInfo
from shared.loudness import ABSOLUTE_GATE_LUFS
from shared.peak_reduction import limiter_release_ms, reductions_db

# --- Categories ----------------------------------------------------------------------------------

#: Above this integrated loudness a track counts as loud (SPEC section 5).
LOUD_THRESHOLD_LUFS = -12.0
#: Below this crest factor loud material counts as squashed.
CREST_THRESHOLD_DB = 13.0
#: Width of the fade of each category's processing, on that category's side of a threshold.
BLEND_WIDTH = 1.0

# --- Expansion (COMPRESSED_LOUD) -----------------------------------------------------------------

#: e = clamp((13 − C) / 10, 0.1, 1.0): full expansion at C ≤ 3 dB, a touch at 12 dB.
EXPANSION_CREST_SPAN_DB = 10.0
EXPANSION_MIN_AMOUNT = 0.1

# --- Raising quiet material (QUIET) --------------------------------------------------------------

#: Peak reduction (compressor + limiter) a boost may ask for, at intensity 1 (SPEC section 5):
#: quiet material that needs no more than this reaches its target.
PEAK_REDUCTION_BUDGET_DB = 6.0
#: The slow compressor's reduction per dB of limiting a boost adds: it evens out the loud
#: passages (quieter passages, under its threshold, are left alone) while the limiter catches
#: the peaks; at most COMPRESSOR_MAX_REDUCTION_DB (1 dB).
COMPRESSOR_PER_LIMITER_DB = 0.5
#: A compressor reduction below this is the rounding left by ``budget − needed`` when the
#: limiter takes the whole budget: no compressor (and an exact 0 in the plan), not 1e-15 of one.
NEGLIGIBLE_REDUCTION_DB = 1e-9
#: The most a DYNAMIC_LOUD track's peaks may be limited (SPEC section 6: its crest within
#: ±1 dB); peaks further over the ceiling turn the track down.
DYNAMIC_MAX_LIMITING_DB = 0.5
#: The most loudness range the limiter may flatten, LU (the corpus renders are held to 3 LU;
#: the margin is for what the EQ and the compressor take besides).
MAX_LRA_LOSS_LU = 2.5
#: How far DYNAMIC_LOUD's peaks may rise above the input's own before the limiter holds them.
DYNAMIC_PEAK_RISE_DB = 0.3
#: DYNAMIC_LOUD's subsonic high-pass: DC and infrasound only. At 20 Hz it took 1.1 dB of RMS out
#: of a corpus master (Hv2: real energy between 10 and 20 Hz), raising its crest by as much; at
#: 10 Hz, 0.25 dB. (The loudness prediction keeps the nominal 20 Hz: K-weighting gives that
#: octave next to no weight.)
DYNAMIC_HIGHPASS_CUTOFF_HZ = 10.0
#: The biggest boost ever applied: a −44 LUFS track still reaches −14.
MAX_BOOST_DB = 30.0
#: Below this loudness a track is (near) silence and is not raised (no noise-floor blow-up);
#: the boost fades in over SILENCE_FADE_LU above it.
SILENCE_LUFS = -65.0
SILENCE_FADE_LU = 10.0
#: Floor for a true peak that is −inf or absurdly low (digital silence).
TRUE_PEAK_FLOOR_DBTP = -200.0

# --- Tonal balance and width (fingerprint only; the decisions are ``balance``'s) ----------------

#: The crest change the tonal EQ may cause on DYNAMIC_LOUD material, predicted from its effect on
#: peaks and on loudness; beyond it both shelves are scaled down. SPEC section 6 allows ±1 dB in
#: all: the other half is left to the high-pass (its phase lifts the peaks of limited masters by
#: up to ~1 dB) and the limiter.
EQ_CREST_CHANGE_MAX_DB = 0.5
#: Bisection steps for that scale (2^-20: far finer than a shelf's 0.1 dB report).
SHELF_SCALE_STEPS = 20


class LevelAnalysis(Protocol):
    """What the fallback plan needs from the service's own quick analysis."""

    @property
    def lufs(self) -> float: ...

    @property
    def crest_db(self) -> float: ...

    @property
    def true_peak_dbtp(self) -> float: ...

    @property
    def limited_loudness_lufs(self) -> Sequence[float]: ...

    @property
    def limited_loudness_range_lu(self) -> Sequence[float]: ...


# --- Small continuous helpers --------------------------------------------------------------------


def _lra_loss_lu(limited_range_lu: Sequence[float], limiting_db: float) -> float:
    """Loudness range the limiter takes at ``limiting_db`` on the curve's grid (0 without a
    measured curve, or without limiting)."""
    if len(limited_range_lu) < 2 or limiting_db <= 0.0:
        return 0.0
    curve = np.asarray(limited_range_lu, dtype=np.float64)
    grid = reductions_db()[: curve.size]
    return float(curve[0] - np.interp(limiting_db, grid, curve))


def _lra_limited_reduction_db(limited_range_lu: Sequence[float]) -> float | None:
    """The limiting (on the curve's x grid, dB) at which the loudness range has lost
    MAX_LRA_LOSS_LU, interpolated; None when no limiting on the grid loses that much (or no
    curve was measured)."""
    if len(limited_range_lu) < 2:
        return None
    loss = limited_range_lu[0] - np.asarray(limited_range_lu, dtype=np.float64)
    over = np.flatnonzero(loss > MAX_LRA_LOSS_LU)
    if over.size == 0:
        return None
    grid = reductions_db()
    i = int(over[0])
    if i == 0:
        return 0.0
    fraction = (MAX_LRA_LOSS_LU - loss[i - 1]) / (loss[i] - loss[i - 1])
    return float(grid[i - 1] + fraction * (grid[i] - grid[i - 1]))


def _finite(value: float, fallback: float) -> float:
    number = float(value)
    return number if math.isfinite(number) else fallback


# --- Tonal and width decisions ------------------------------------------------------------------


@dataclass(frozen=True)
class _Shaping:
    """The tonal EQ and width stage for one plan, and what they are predicted to do."""

    low_shelf_db: float = 0.0
    high_shelf_db: float = 0.0
    side_gain_db: float = 0.0
    loudness_change_db: float = 0.0  # EQ and high-pass, LU
    peak_change_db: float = 0.0  # the EQ's effect on the true peak, dB
    width_change_db: float = 0.0
    reasons: tuple[str, ...] = ()


def _shaping(
    fp: Fingerprint | None, reference: Reference, *, tonal_amount: float, width_amount: float,
    dynamic_weight: float,
) -> _Shaping:
    """Shelves and side gain toward ``reference``, scaled by their amounts; for DYNAMIC_LOUD
    material (``dynamic_weight``) the shelves are scaled down until the predicted crest change
    is within EQ_CREST_CHANGE_MAX_DB."""
    if fp is None:
        return _Shaping()
    low, high = tonal_shelves_db(fp, reference)
    low, high = tonal_amount * low, tonal_amount * high
    side = width_amount * side_gain_db(fp, reference)
    reasons: list[str] = []

    def crest_change(scale: float) -> float:
        return (spectral_peak_change_db(fp, scale * low, scale * high)
                - spectral_loudness_change_db(fp, scale * low, scale * high)
                + spectral_loudness_change_db(fp, 0.0, 0.0))

    bound = EQ_CREST_CHANGE_MAX_DB / dynamic_weight if dynamic_weight > 0.0 else math.inf
    if (low or high) and abs(crest_change(1.0)) > bound:
        kept, dropped = 0.0, 1.0
        for _ in range(SHELF_SCALE_STEPS):
            middle = 0.5 * (kept + dropped)
            kept, dropped = (middle, dropped) if abs(crest_change(middle)) <= bound else (
                kept, middle)
        reasons.append(f"tonal correction scaled to {kept:.0%}: the EQ would change the crest "
                       f"by {crest_change(1.0):+.1f} dB")
        low, high = kept * low, kept * high
    reasons[:0] = _tonal_reasons(fp, reference, low, high, side)
    return _Shaping(
        low_shelf_db=low, high_shelf_db=high, side_gain_db=side,
        loudness_change_db=spectral_loudness_change_db(fp, low, high),
        peak_change_db=spectral_peak_change_db(fp, low, high),
        width_change_db=MidSideWidth.power_change_db(fp.stereo_width, side),
        reasons=tuple(reasons),
    )


def _resolved_target(target_lufs: float | None, reference: Fingerprint | None
                     ) -> tuple[float, str | None]:
    """The requested target; absent, the reference track's loudness (within the request's
    bounds), else the default."""
    if target_lufs is not None:
        return float(target_lufs), None
    if reference is not None and math.isfinite(reference.lufs):
        target = clamp(reference.lufs, TARGET_LUFS.low, TARGET_LUFS.high)
        return target, f"target {target:.1f} LUFS: the reference track's loudness"
    return DEFAULT_TARGET_LUFS, None


# --- The plan ------------------------------------------------------------------------------------


def categorize(input_lufs: float, input_crest_db: float) -> Category:
    """The reported label: hard thresholds (SPEC section 5)."""
    if input_lufs > LOUD_THRESHOLD_LUFS:
        if input_crest_db < CREST_THRESHOLD_DB:
            return Category.COMPRESSED_LOUD
        return Category.DYNAMIC_LOUD
    return Category.QUIET


def plan_mastering(
    *,
    input_lufs: float,
    input_crest_db: float,
    input_true_peak_dbtp: float,
    fingerprint: Fingerprint | None,
    target_lufs: float | None = None,
    true_peak_ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    intensity: float = DEFAULT_INTENSITY,
    fingerprint_source: FingerprintSource = FingerprintSource.COMPUTED,
    tonal_amount: float | None = None,
    width_amount: float | None = None,
    dynamics_amount: float | None = None,
    reference: Fingerprint | None = None,
    limited_loudness_lufs: Sequence[float] = (),
    limited_loudness_range_lu: Sequence[float] = (),
) -> MasteringPlan:
    """Decide how to master a track (SPEC sections 5 and 12), for request parameters already
    checked against their ranges (``request.validate``).

    ``limited_loudness_lufs``: the track's measured loudness after x dB of true-peak limiting
    (``shared.peak_reduction``); without it the limiter is predicted to cost no loudness.

    ``target_lufs`` None: the reference track's loudness when there is one, else the default.
    Each per-aspect amount (tonal EQ, width, dynamics: expander and compressor) defaults to
    ``intensity``; at 0 its stage is neutral. ``reference``: a reference track's fingerprint,
    which the tonal balance and width move toward instead of the built-in reference.
    """
    target_value, target_reason = _resolved_target(target_lufs, reference)
    target, ceiling, amount = target_value, float(true_peak_ceiling_dbtp), float(intensity)
    tonal = amount if tonal_amount is None else float(tonal_amount)
    width = amount if width_amount is None else float(width_amount)
    dynamics = amount if dynamics_amount is None else float(dynamics_amount)
    lufs = clamp(_finite(input_lufs, ABSOLUTE_GATE_LUFS), ABSOLUTE_GATE_LUFS, 20.0)
    crest = max(0.0, _finite(input_crest_db, 0.0))
    true_peak = max(TRUE_PEAK_FLOOR_DBTP, _finite(input_true_peak_dbtp, TRUE_PEAK_FLOOR_DBTP))
    category = categorize(lufs, crest)
    reasons: list[str] = []

    # Each category's processing fades in on its own side of the thresholds.
    loud_weight = smoothstep(LOUD_THRESHOLD_LUFS, LOUD_THRESHOLD_LUFS + BLEND_WIDTH, lufs)
    quiet_weight = 1.0 - smoothstep(LOUD_THRESHOLD_LUFS - BLEND_WIDTH, LOUD_THRESHOLD_LUFS, lufs)
    squashed_weight = 1.0 - smoothstep(
        CREST_THRESHOLD_DB - BLEND_WIDTH, CREST_THRESHOLD_DB, crest
    )
    content_weight = smoothstep(SILENCE_LUFS, SILENCE_LUFS + SILENCE_FADE_LU, lufs)
    reasons.append(_category_reason(category, lufs, crest))
    if target_reason is not None:
        reasons.append(target_reason)

    # Expansion: only squashed loud material.
    expansion = dynamics * loud_weight * squashed_weight * clamp(
        (CREST_THRESHOLD_DB - crest) / EXPANSION_CREST_SPAN_DB, EXPANSION_MIN_AMOUNT, 1.0
    )
    if expansion > 0.0:
        reasons.append(f"upward transient expansion {expansion:.2f} to restore punch")

    # Tonal and width corrections: fingerprint only, toward the reference track if any.
    shaping = _shaping(
        fingerprint, BUILT_IN_REFERENCE if reference is None else track_reference(reference),
        tonal_amount=tonal * content_weight, width_amount=width * content_weight,
        # The crest guard belongs to DYNAMIC_LOUD: full wherever that label holds, fading out
        # on the QUIET and COMPRESSED_LOUD sides of the thresholds.
        dynamic_weight=(1.0 - quiet_weight) * (1.0 - squashed_weight),
    )
    low_shelf, high_shelf = shaping.low_shelf_db, shaping.high_shelf_db
    side_gain = shaping.side_gain_db
    reasons.extend(shaping.reasons)
    release_ms = limiter_release_ms(None if fingerprint is None else fingerprint.tempo_bpm)
    if fingerprint is not None and fingerprint.tempo_bpm > 0.0:
        reasons.append(
            f"limiter release {release_ms:.0f} ms from tempo {fingerprint.tempo_bpm:.0f} BPM"
        )

    # Predicted loudness and peak changes of every stage before the static gain.
    tonal_change, width_change = shaping.loudness_change_db, shaping.width_change_db
    # The EQ moves the peaks by its amplitude-weighted gain (``spectral_peak_change_db``), width
    # with the loudness; expansion raises them.
    expansion_rise = EXPANSION_PEAK_RISE_DB * math.sqrt(expansion)
    model = LevelModel(
        input_lufs=lufs,
        static_change_db=tonal_change + width_change,
        peak_before_gain_dbtp=true_peak + shaping.peak_change_db + width_change + expansion_rise,
        ceiling_dbtp=ceiling,
        limited_lufs=limited_loudness_lufs,
        expansion_rise_db=expansion_rise,
    )

    # Level: only ever down for loud material; quiet material is raised toward the target.
    level_target = min(target, lufs)
    # DYNAMIC_LOUD is respected: the ceiling may take at most DYNAMIC_MAX_LIMITING_DB off its
    # peaks (its crest is what respect means); peaks further over the ceiling turn the track
    # down instead of being limited (blended across the thresholds like everything else).
    # (Turning down is the category's own processing: it fades in on the loud side, so QUIET
    # material is never held under a target it is owed.)
    respect = loud_weight * (1.0 - squashed_weight)
    # Holding the peaks and the gentler high-pass cost no loudness a target is owed, so they
    # fade in on the quiet side instead: every track labelled DYNAMIC_LOUD has them in full.
    peak_respect = smoothstep(LOUD_THRESHOLD_LUFS - BLEND_WIDTH, LOUD_THRESHOLD_LUFS, lufs) * (
        1.0 - squashed_weight)
    # (The limiter holds its safety margin under the ceiling: that much of its reduction is
    # limiting too.)
    respected_target = model.target_for(DYNAMIC_MAX_LIMITING_DB - LIMITER_SAFETY_MARGIN_DB)
    if respect > 0.0 and respected_target < level_target:
        level_target -= respect * (level_target - respected_target)
        over_db = model.reduction_for(-model.static_change_db)
        reasons.append(f"target lowered to {level_target:.1f} LUFS: peaks {over_db:.1f} dB over "
                       f"the ceiling, and limiting them more than "
                       f"{DYNAMIC_MAX_LIMITING_DB:g} dB would cost the crest")
    boost = quiet_weight * content_weight * min(MAX_BOOST_DB, max(0.0, target - lufs))
    wanted = level_target + boost
    # Peak reduction the level alone forces (peaks already over the ceiling), before any
    # make-up for what that limiting costs: it is done whatever the budget.
    forced = max(0.0, model.reduction_for(level_target - lufs - model.static_change_db))
    # The budget: a boost may ask for peak reduction up to 6 dB × intensity, counted as the
    # input's own peaks would need it (true peak + boost − ceiling); the measured curve then
    # says how much limiting that really takes (a little more: limiting costs loudness too).
    budget = PEAK_REDUCTION_BUDGET_DB * amount
    budget_target = lufs + budget + ceiling - true_peak
    effective_target = min(wanted, max(level_target, budget_target),
                           model.target_for(MAX_LIMITING_DB))
    # Whatever the budget allows, the limiter never flattens more than MAX_LRA_LOSS_LU of the
    # track's loudness range (the measured curve says how much each dB would take): beyond
    # that the track is turned down instead — consistent loudness without crushing the music.
    lra_limit_db = _lra_limited_reduction_db(limited_loudness_range_lu)
    if lra_limit_db is not None:
        lra_reduction = lra_limit_db - LIMITER_SAFETY_MARGIN_DB + expansion_rise
        lra_target = model.target_for(lra_reduction)
        if lra_target < effective_target:
            effective_target = lra_target
            reasons.append(f"more than {lra_reduction:.1f} dB of limiting would flatten over "
                           f"{MAX_LRA_LOSS_LU:g} LU of the loudness range: target "
                           f"{effective_target:.1f} LUFS")
    level = model.level_for(effective_target)
    # The slow compressor evens out the loud passages the boost pushes into the limiter: half a
    # dB per dB of limiting the boost adds, at most COMPRESSOR_MAX_REDUCTION_DB × intensity, and
    # only from the budget the boost leaves unused. It lowers loud passages and their peaks
    # alike, so the make-up gain restores both and the limiter's work is unchanged: it smooths,
    # it does not buy headroom, which is why the limiter gets the budget first and a track
    # that needs all of it gets no compression.
    unboosted = model.level_for(min(level_target, effective_target))
    boost_limiting = max(0.0, level.limiter_reduction_db - unboosted.limiter_reduction_db)
    needed = max(forced, true_peak + (effective_target - lufs) - ceiling)
    # It also narrows the loudness range by about its reduction: it shares the range allowance
    # with the limiter (whose share the measured range curve gives).
    range_left = MAX_LRA_LOSS_LU - _lra_loss_lu(
        limited_loudness_range_lu,
        level.limiter_reduction_db + LIMITER_SAFETY_MARGIN_DB - expansion_rise)
    compressor_reduction = max(0.0, min(COMPRESSOR_MAX_REDUCTION_DB * amount,
                                        COMPRESSOR_PER_LIMITER_DB * boost_limiting,
                                        budget - needed, range_left))
    if compressor_reduction < NEGLIGIBLE_REDUCTION_DB:
        compressor_reduction = 0.0
    # dynamics_amount scales the compressor as intensity does (0 = no compressor).
    compressor_reduction *= dynamics / amount if amount > 0.0 else 0.0
    compression = compressor_reduction / COMPRESSOR_MAX_REDUCTION_DB
    gain = level.gain_db + COMPRESSOR_LOUDNESS_PER_DB * compressor_reduction
    # DYNAMIC_LOUD's peaks stay where the gain and the EQ put the input's own: the high-pass's
    # phase shift un-flattens clipped or bass-heavy peaks (+1.9 dB of crest on a corpus master
    # at -23 LUFS), and the limiter takes that back (at next to no loudness) instead of letting
    # the crest rise. The limiter aims its safety margin under its ceiling, hence the margin.
    limiter_ceiling = None
    own_peaks_dbtp = (true_peak + shaping.peak_change_db + width_change + gain
                      + LIMITER_SAFETY_MARGIN_DB + DYNAMIC_PEAK_RISE_DB)
    if peak_respect > 0.0 and own_peaks_dbtp < ceiling:
        limiter_ceiling = ceiling + peak_respect * (own_peaks_dbtp - ceiling)

    if boost > 0.0:
        reasons.append(f"raise toward {target:.1f} LUFS")
    if effective_target < wanted - 0.05:
        reasons.append(
            f"reaching {wanted:.1f} LUFS needs more than the {budget:.1f} dB peak-reduction "
            f"budget: target lowered to {effective_target:.1f} LUFS rather than crushing the track"
        )
    if forced > 0.05:
        reasons.append(f"peaks {forced:.1f} dB over the ceiling even at this level")
    if target - lufs > MAX_BOOST_DB and content_weight > 0.0:
        reasons.append(f"boost capped at {MAX_BOOST_DB:.0f} dB")
    if content_weight < 1.0:
        reasons.append("near-silent input: not raised")
    if target > lufs and category is not Category.QUIET:
        reasons.append("loud material is never raised: effective target = input loudness")
    if level.limiter_reduction_db > 0.05:
        reasons.append(
            f"peaks reduced {level.limiter_reduction_db + compressor_reduction:.1f} dB to the "
            f"{ceiling:.1f} dBTP ceiling: {compressor_reduction:.1f} dB slow compressor, "
            f"{level.limiter_reduction_db:.1f} dB true-peak limiter"
        )
    reasons.append(
        f"predicted loudness changes: tonal {tonal_change:+.2f} LU, width "
        f"{width_change:+.2f} LU, compressor "
        f"{-compressor_reduction:+.2f} LU, limiter {-level.limiter_cost_db:+.2f} LU"
    )

    return MasteringPlan(
        category=category,
        fingerprint_source=FingerprintSource(fingerprint_source),
        fallback_reason=FallbackReason.NONE,
        input_lufs=lufs,
        input_crest_db=crest,
        input_true_peak_dbtp=true_peak,
        target_lufs=target,
        effective_target_lufs=effective_target,
        gain_db=gain,
        expansion_amount=expansion,
        compression_amount=compression,
        low_shelf_gain_db=low_shelf,
        high_shelf_gain_db=high_shelf,
        side_gain_db=side_gain,
        true_peak_ceiling_dbtp=ceiling,
        limiter_release_ms=release_ms,
        intensity=amount,
        reasons=tuple(reasons),
        tonal_amount=tonal,
        width_amount=width,
        dynamics_amount=dynamics,
        reference_lufs=None if reference is None else reference.lufs,
        limiter_ceiling_dbtp=limiter_ceiling,
        highpass_cutoff_hz=HIGHPASS_CUTOFF_HZ - peak_respect * (HIGHPASS_CUTOFF_HZ
                                                         - DYNAMIC_HIGHPASS_CUTOFF_HZ),
    )


def fingerprint_plan(
    fingerprint: Fingerprint,
    info: TrackInfo,
    *,
    target_lufs: float | None = None,
    true_peak_ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    intensity: float = DEFAULT_INTENSITY,
    fingerprint_source: FingerprintSource = FingerprintSource.COMPUTED,
    **options: Any,
) -> MasteringPlan:
    """The plan for a fingerprinted track: L and C from the fingerprint, the true peak from
    its track info. ``options``: ``plan_mastering``'s per-aspect amounts and ``reference``."""
    return plan_mastering(
        input_lufs=fingerprint.lufs,
        input_crest_db=fingerprint.crest_db,
        input_true_peak_dbtp=info.true_peak_dbtp,
        fingerprint=fingerprint,
        limited_loudness_lufs=info.limited_loudness_lufs,
        limited_loudness_range_lu=info.limited_loudness_range_lu,
        target_lufs=target_lufs,
        true_peak_ceiling_dbtp=true_peak_ceiling_dbtp,
        intensity=intensity,
        fingerprint_source=fingerprint_source,
        **options,
    )


def fallback_plan(
    analysis: LevelAnalysis,
    *,
    target_lufs: float | None = None,
    true_peak_ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    intensity: float = DEFAULT_INTENSITY,
    reason: FallbackReason,
    **options: Any,
) -> MasteringPlan:
    """The hybrid plan when no fingerprint arrived: the same LWRP rule on the service's own
    L, C and true peak, tonal and width stages neutral. ``options`` as for
    ``fingerprint_plan`` (a reference's fingerprint still gives the target its loudness)."""
    reason = FallbackReason(reason)
    if reason is FallbackReason.NONE:
        raise ValueError("a fallback plan needs the reason there was no fingerprint")
    plan = plan_mastering(
        input_lufs=analysis.lufs,
        input_crest_db=analysis.crest_db,
        input_true_peak_dbtp=analysis.true_peak_dbtp,
        fingerprint=None,
        limited_loudness_lufs=analysis.limited_loudness_lufs,
        limited_loudness_range_lu=analysis.limited_loudness_range_lu,
        target_lufs=target_lufs,
        true_peak_ceiling_dbtp=true_peak_ceiling_dbtp,
        intensity=intensity,
        fingerprint_source=FingerprintSource.FALLBACK,
        **options,
    )
    return replace(plan, fallback_reason=reason,
                   reasons=(f"no fingerprint ({reason.value}): plan from the quick local analysis",
                            *plan.reasons))


# --- ALBUM mode ----------------------------------------------------------------------------------


def album_track_target_lufs(track_lufs: float, album_lufs: float,
                            target_lufs: float | None) -> float:
    """ALBUM mode: the loudness one track of an album is aimed at, so that every track gets the
    same static gain, from the album's loudness to the target (``target_lufs`` None: the
    default), and the loudness differences between the tracks are kept. The LWRP rule then
    plans the track for it as usual: its own limiter and ceiling, and loud material never
    raised."""
    target = DEFAULT_TARGET_LUFS if target_lufs is None else float(target_lufs)
    return float(track_lufs) + (target - float(album_lufs))


def with_album(plan: MasteringPlan, album_lufs: float, target_lufs: float | None
               ) -> MasteringPlan:
    """``plan``, made for ``album_track_target_lufs``, reporting ALBUM mode: the album
    loudness used and the requested target (not the per-track aim)."""
    target = DEFAULT_TARGET_LUFS if target_lufs is None else float(target_lufs)
    gain = target - album_lufs
    return replace(plan, album_lufs=album_lufs, target_lufs=target, reasons=(
        *plan.reasons,
        f"ALBUM mode: album at {album_lufs:.1f} LUFS, {gain:+.1f} dB for every track toward "
        f"{target:.1f} LUFS: this track aimed at {plan.input_lufs + gain:.1f} LUFS",
    ))


def album_fallback(plan: MasteringPlan, why: str) -> MasteringPlan:
    """``plan`` (a TRACK-mode plan) saying ALBUM mode was asked and why it fell back."""
    return replace(plan, reasons=(*plan.reasons, f"ALBUM mode fell back to TRACK: {why}"))


# --- Reasons -------------------------------------------------------------------------------------


def _category_reason(category: Category, lufs: float, crest: float) -> str:
    if category is Category.COMPRESSED_LOUD:
        return (f"COMPRESSED_LOUD: {lufs:.1f} LUFS > {LOUD_THRESHOLD_LUFS:g} and crest "
                f"{crest:.1f} dB < {CREST_THRESHOLD_DB:g}")
    if category is Category.DYNAMIC_LOUD:
        return (f"DYNAMIC_LOUD: {lufs:.1f} LUFS > {LOUD_THRESHOLD_LUFS:g} and crest "
                f"{crest:.1f} dB ≥ {CREST_THRESHOLD_DB:g}: dynamics respected")
    return f"QUIET: {lufs:.1f} LUFS ≤ {LOUD_THRESHOLD_LUFS:g}"


def _tonal_reasons(fp: Fingerprint, reference: Reference, low: float, high: float,
                   side: float) -> list[str]:
    reasons = []
    if low != 0.0:
        reasons.append(f"bass/mid balance {fp.bass_mid_ratio_db:+.1f} dB vs {reference.name} "
                       f"{reference.bass_mid_ratio_db:+.1f}: low shelf {low:+.1f} dB")
    treble, reference_treble = treble_mid_ratio_db(fp), reference.treble_mid_ratio_db
    if high != 0.0 and treble is not None and reference_treble is not None:
        reasons.append(f"treble/mid balance {treble:+.1f} dB vs {reference.name} "
                       f"{reference_treble:+.1f}: high shelf {high:+.1f} dB")
    if side != 0.0:
        target = ("the healthy band" if reference.width is None
                  else f"{reference.name} {reference.width:.2f}")
        reasons.append(f"stereo width {fp.stereo_width:.2f} vs {target}, correlation "
                       f"{fp.phase_correlation:+.2f}: side gain {side:+.1f} dB")
    return reasons
