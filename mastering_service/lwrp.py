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
from dataclasses import replace
from typing import Protocol

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
    LevelModel,
    limiter_useful_reduction_db,
    spectral_loudness_change_db,
)
from mastering_service.request import (
    DEFAULT_CEILING_DBTP,
    DEFAULT_INTENSITY,
    DEFAULT_TARGET_LUFS,
)
from shared.fingerprint import Fingerprint, FingerprintSource, TrackInfo
from shared.loudness import ABSOLUTE_GATE_LUFS

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

#: Peak reduction (compressor + limiter) a boost may ask for, at intensity 1: the ceiling the
#: spec sets (SPEC section 5). The plan stays well inside it (at most 3 dB), because of
#: LIMITER_BOOST_MAX_DB.
PEAK_REDUCTION_BUDGET_DB = 6.0
#: Most true-peak limiting a boost may ask for, at intensity 1. The loudness a limiter takes
#: away depends on how densely the loud passages' peaks crowd the maximum, which no fingerprint
#: dimension measures:
#: on the 21 corpus tracks, 4 dB of limiting cost 0.09–1.31 LU between tracks of similar
#: peak-to-loudness ratio, 2 dB cost 0.01–0.50 LU and is predicted within ±0.36 LU
#: (leave-one-out). Beyond this the effective target is lowered instead: the loudness promise
#: (±0.5 LU) holds, and the track is not crushed.
LIMITER_BOOST_MAX_DB = 2.0
#: A boost never pushes the limiter past the point where a further dB of limiting gains less
#: than half a LU (dense, already squashed peaks): that is crushing, not raising.
LIMITER_MAX_MARGINAL_COST = 0.5
#: The slow compressor's reduction per dB of boost limiting (0.5): it evens out the loud
#: passages (quieter passages, under its threshold, are left alone) while the limiter catches
#: the peaks; at most COMPRESSOR_MAX_REDUCTION_DB (1 dB) for the 2 dB of boost limiting.
COMPRESSOR_PER_LIMITER_DB = COMPRESSOR_MAX_REDUCTION_DB / LIMITER_BOOST_MAX_DB
#: The biggest boost ever applied: a −44 LUFS track still reaches −14.
MAX_BOOST_DB = 30.0
#: Below this loudness a track is (near) silence and is not raised (no noise-floor blow-up);
#: the boost fades in over SILENCE_FADE_LU above it.
SILENCE_LUFS = -65.0
SILENCE_FADE_LU = 10.0
#: Floor for a true peak that is −inf or absurdly low (digital silence).
TRUE_PEAK_FLOOR_DBTP = -200.0

# --- Tonal correction (fingerprint only) ---------------------------------------------------------

#: Reference balance: 10·log10(P(20–250 Hz) / P(250–4000 Hz)). Pink noise gives −0.4 dB and a
#: −4.5 dB/octave tilt (a common mix-reference slope) gives +5.3 dB; +3 dB sits between them,
#: a full but not boomy low end.
REFERENCE_BASS_MID_RATIO_DB = 3.0
#: Reference 10·log10(P(4 kHz–top) / P(250–4000 Hz)): −2.4 dB for pink noise, −7.3 dB for the
#: −4.5 dB/octave tilt; −6 dB keeps presence and air audible without harshness.
REFERENCE_TREBLE_MID_RATIO_DB = -6.0
#: No correction while the balance is within this distance of the reference (SPEC section 5).
TONAL_DEAD_ZONE_DB = 2.0
#: Share of the distance beyond the dead zone that the shelf corrects: gentle, not a match EQ.
TONAL_CORRECTION_RATIO = 0.75
TONAL_MAX_DB = 3.0

# --- Width (fingerprint only) --------------------------------------------------------------------

#: Healthy stereo_width band: S about 15 dB under M (0.15) up to S about 3.5 dB under M (0.40).
HEALTHY_WIDTH_LOW = 0.15
HEALTHY_WIDTH_HIGH = 0.40
#: Material narrower than this is near-mono and is never widened (fade over the next step).
NEAR_MONO_WIDTH = 0.03
NEAR_MONO_FADE = 0.03
#: Never widen when L/R correlate less than this (widening would expose phase problems).
WIDEN_MIN_CORRELATION = 0.3
WIDEN_CORRELATION_FADE = 0.1
#: Anti-phase material (correlation below 0) is narrowed, fully at this correlation.
ANTI_PHASE_FULL_CORRELATION = -0.5
WIDTH_CORRECTION_RATIO = 0.5
WIDTH_MAX_DB = 3.0

# --- Limiter release -----------------------------------------------------------------------------

#: Release = this many beats (a sixteenth note): the gain is back before the next subdivision.
RELEASE_BEATS = 0.25
RELEASE_RANGE_MS = (50.0, 300.0)
#: Without a tempo (fallback plan, beatless material).
DEFAULT_RELEASE_MS = 150.0

class LevelAnalysis(Protocol):
    """What the fallback plan needs from the service's own quick analysis."""

    @property
    def lufs(self) -> float: ...

    @property
    def crest_db(self) -> float: ...

    @property
    def true_peak_dbtp(self) -> float: ...


# --- Small continuous helpers --------------------------------------------------------------------


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _smoothstep(edge0: float, edge1: float, x: float) -> float:
    """0 below edge0, 1 above edge1, a C¹ S-curve in between."""
    t = _clamp((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _beyond_dead_zone(deviation: float, dead_zone: float) -> float:
    """Signed distance outside ``±dead_zone`` (0 inside): continuous at the edges."""
    return math.copysign(max(0.0, abs(deviation) - dead_zone), deviation)


def _db(power_ratio: float) -> float:
    return 10.0 * math.log10(power_ratio)


def _amplitude_db(ratio: float) -> float:
    return 20.0 * math.log10(ratio)


def _finite(value: float, fallback: float) -> float:
    number = float(value)
    return number if math.isfinite(number) else fallback


# --- Tonal, width, release decisions -------------------------------------------------------------


def _treble_mid_ratio_db(fp: Fingerprint) -> float | None:
    mids = fp.low_mid_share + fp.mid_share + fp.upper_mid_share
    treble = fp.presence_share + fp.air_share
    if mids <= 0.0 or treble <= 0.0:
        return None
    return _db(treble / mids)


def _tonal_shelves_db(fp: Fingerprint) -> tuple[float, float]:
    """(low shelf, high shelf) gains at intensity 1: toward the reference balance."""
    bass_excess = _beyond_dead_zone(
        fp.bass_mid_ratio_db - REFERENCE_BASS_MID_RATIO_DB, TONAL_DEAD_ZONE_DB
    )
    low = _clamp(-TONAL_CORRECTION_RATIO * bass_excess, -TONAL_MAX_DB, TONAL_MAX_DB)
    treble_ratio = _treble_mid_ratio_db(fp)
    high = 0.0
    if treble_ratio is not None:
        treble_excess = _beyond_dead_zone(
            treble_ratio - REFERENCE_TREBLE_MID_RATIO_DB, TONAL_DEAD_ZONE_DB
        )
        high = _clamp(-TONAL_CORRECTION_RATIO * treble_excess, -TONAL_MAX_DB, TONAL_MAX_DB)
    return low, high


def _side_mid_ratio(width: float) -> float:
    """rms(S) / rms(M) from stereo_width = rms(S) / (rms(M) + rms(S))."""
    w = _clamp(width, 0.0, 0.999)
    return w / (1.0 - w)


def _side_gain_db(fp: Fingerprint) -> float:
    """Side gain at intensity 1: widen narrow-but-correlated material, narrow very wide or
    anti-phase material; never widen near-mono material or when the correlation is low."""
    ratio = _side_mid_ratio(fp.stereo_width)
    low_ratio = _side_mid_ratio(HEALTHY_WIDTH_LOW)
    high_ratio = _side_mid_ratio(HEALTHY_WIDTH_HIGH)
    widen_allowed = _smoothstep(
        NEAR_MONO_WIDTH, NEAR_MONO_WIDTH + NEAR_MONO_FADE, fp.stereo_width
    ) * _smoothstep(
        WIDEN_MIN_CORRELATION, WIDEN_MIN_CORRELATION + WIDEN_CORRELATION_FADE, fp.phase_correlation
    )
    widen = 0.0
    if widen_allowed > 0.0:
        widen = widen_allowed * WIDTH_CORRECTION_RATIO * max(0.0, _amplitude_db(low_ratio / ratio))
    narrow_wide = WIDTH_CORRECTION_RATIO * max(0.0, _amplitude_db(max(ratio, 1e-9) / high_ratio))
    narrow_anti_phase = WIDTH_MAX_DB * _smoothstep(
        0.0, -ANTI_PHASE_FULL_CORRELATION, -fp.phase_correlation
    )
    narrow = max(narrow_wide, narrow_anti_phase)
    return _clamp(min(widen, WIDTH_MAX_DB) - narrow, -WIDTH_MAX_DB, WIDTH_MAX_DB)


def _release_ms(fp: Fingerprint | None) -> float:
    if fp is None or fp.tempo_bpm <= 0.0:
        return DEFAULT_RELEASE_MS
    return _clamp(RELEASE_BEATS * 60_000.0 / fp.tempo_bpm, *RELEASE_RANGE_MS)


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
    target_lufs: float = DEFAULT_TARGET_LUFS,
    true_peak_ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    intensity: float = DEFAULT_INTENSITY,
    fingerprint_source: FingerprintSource = FingerprintSource.COMPUTED,
) -> MasteringPlan:
    """Decide how to master a track (SPEC section 5), for request parameters already checked
    against their ranges (``request.validate``)."""
    target, ceiling, amount = float(target_lufs), float(true_peak_ceiling_dbtp), float(intensity)
    lufs = _clamp(_finite(input_lufs, ABSOLUTE_GATE_LUFS), ABSOLUTE_GATE_LUFS, 20.0)
    crest = max(0.0, _finite(input_crest_db, 0.0))
    true_peak = max(TRUE_PEAK_FLOOR_DBTP, _finite(input_true_peak_dbtp, TRUE_PEAK_FLOOR_DBTP))
    category = categorize(lufs, crest)
    reasons: list[str] = []

    # Each category's processing fades in on its own side of the thresholds.
    loud_weight = _smoothstep(LOUD_THRESHOLD_LUFS, LOUD_THRESHOLD_LUFS + BLEND_WIDTH, lufs)
    quiet_weight = 1.0 - _smoothstep(LOUD_THRESHOLD_LUFS - BLEND_WIDTH, LOUD_THRESHOLD_LUFS, lufs)
    squashed_weight = 1.0 - _smoothstep(
        CREST_THRESHOLD_DB - BLEND_WIDTH, CREST_THRESHOLD_DB, crest
    )
    content_weight = _smoothstep(SILENCE_LUFS, SILENCE_LUFS + SILENCE_FADE_LU, lufs)
    reasons.append(_category_reason(category, lufs, crest))

    # Expansion: only squashed loud material.
    expansion = amount * loud_weight * squashed_weight * _clamp(
        (CREST_THRESHOLD_DB - crest) / EXPANSION_CREST_SPAN_DB, EXPANSION_MIN_AMOUNT, 1.0
    )
    if expansion > 0.0:
        reasons.append(f"upward transient expansion {expansion:.2f} to restore punch")

    # Tonal and width corrections: fingerprint only.
    low_shelf = high_shelf = side_gain = 0.0
    if fingerprint is not None:
        low, high = _tonal_shelves_db(fingerprint)
        low_shelf = amount * content_weight * low
        high_shelf = amount * content_weight * high
        side_gain = amount * content_weight * _side_gain_db(fingerprint)
        reasons.extend(_tonal_reasons(fingerprint, low_shelf, high_shelf, side_gain))
    release_ms = _release_ms(fingerprint)
    if fingerprint is not None and fingerprint.tempo_bpm > 0.0:
        reasons.append(
            f"limiter release {release_ms:.0f} ms from tempo {fingerprint.tempo_bpm:.0f} BPM"
        )

    # Predicted loudness and peak changes of every stage before the static gain.
    tonal_change = 0.0
    width_change = 0.0
    if fingerprint is not None:
        tonal_change = spectral_loudness_change_db(fingerprint, low_shelf, high_shelf)
        width_change = MidSideWidth.power_change_db(fingerprint.stereo_width, side_gain)
    # Gentle shelving and width keep the crest: the peak moves with the loudness; expansion
    # raises it.
    model = LevelModel(
        input_lufs=lufs,
        static_change_db=tonal_change + width_change,
        peak_before_gain_dbtp=(true_peak + tonal_change + width_change
                               + EXPANSION_PEAK_RISE_DB * math.sqrt(expansion)),
        ceiling_dbtp=ceiling,
        plr_db=true_peak - lufs,
    )

    # Level: only ever down for loud material; quiet material is raised toward the target.
    level_target = min(target, lufs)
    boost = quiet_weight * content_weight * min(MAX_BOOST_DB, max(0.0, target - lufs))
    wanted = level_target + boost
    # Peak reduction the level alone forces (peaks already over the ceiling), before any
    # make-up for what that limiting costs: it is done whatever the budget, but never pushed.
    forced = max(0.0, model.reduction_for(level_target - lufs - model.static_change_db))
    # The boost may add limiting up to its (intensity-scaled) share, as long as it is useful.
    boost_limit = min(LIMITER_BOOST_MAX_DB * amount, limiter_useful_reduction_db(
        model.plr_db, LIMITER_MAX_MARGINAL_COST))
    allowed = max(forced, boost_limit)
    effective_target = min(wanted, model.target_for(allowed))
    level = model.level_for(effective_target)
    # The compressor evens out the loud passages in proportion to the limiting the boost added;
    # it lowers loudness and peaks alike, so the gain makes it up and the limiter's work is
    # unchanged. Total peak reduction ≤ (1 + 0.5) · 2 dB · intensity, inside the 6 dB budget.
    unboosted = model.level_for(min(level_target, effective_target))
    compressor_reduction = min(COMPRESSOR_MAX_REDUCTION_DB, COMPRESSOR_PER_LIMITER_DB * max(
        0.0, level.limiter_reduction_db - unboosted.limiter_reduction_db
    ))
    compression = compressor_reduction / COMPRESSOR_MAX_REDUCTION_DB
    gain = level.gain_db + COMPRESSOR_LOUDNESS_PER_DB * compressor_reduction

    if boost > 0.0:
        reasons.append(f"raise toward {target:.1f} LUFS")
    if effective_target < wanted - 0.05:
        reasons.append(
            f"reaching {wanted:.1f} LUFS needs more than {allowed:.1f} dB of true-peak limiting: "
            f"target lowered to {effective_target:.1f} LUFS rather than crushing the track"
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
    )


def fingerprint_plan(
    fingerprint: Fingerprint,
    info: TrackInfo,
    *,
    target_lufs: float = DEFAULT_TARGET_LUFS,
    true_peak_ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    intensity: float = DEFAULT_INTENSITY,
    fingerprint_source: FingerprintSource = FingerprintSource.COMPUTED,
) -> MasteringPlan:
    """The plan for a fingerprinted track: L and C from the fingerprint, the true peak from
    its track info."""
    return plan_mastering(
        input_lufs=fingerprint.lufs,
        input_crest_db=fingerprint.crest_db,
        input_true_peak_dbtp=info.true_peak_dbtp,
        fingerprint=fingerprint,
        target_lufs=target_lufs,
        true_peak_ceiling_dbtp=true_peak_ceiling_dbtp,
        intensity=intensity,
        fingerprint_source=fingerprint_source,
    )


def fallback_plan(
    analysis: LevelAnalysis,
    *,
    target_lufs: float = DEFAULT_TARGET_LUFS,
    true_peak_ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    intensity: float = DEFAULT_INTENSITY,
    reason: FallbackReason,
) -> MasteringPlan:
    """The hybrid plan when no fingerprint arrived: the same LWRP rule on the service's own
    L, C and true peak, tonal and width stages neutral."""
    reason = FallbackReason(reason)
    if reason is FallbackReason.NONE:
        raise ValueError("a fallback plan needs the reason there was no fingerprint")
    plan = plan_mastering(
        input_lufs=analysis.lufs,
        input_crest_db=analysis.crest_db,
        input_true_peak_dbtp=analysis.true_peak_dbtp,
        fingerprint=None,
        target_lufs=target_lufs,
        true_peak_ceiling_dbtp=true_peak_ceiling_dbtp,
        intensity=intensity,
        fingerprint_source=FingerprintSource.FALLBACK,
    )
    return replace(plan, fallback_reason=reason,
                   reasons=(f"no fingerprint ({reason.value}): plan from the quick local analysis",
                            *plan.reasons))


# --- Reasons -------------------------------------------------------------------------------------


def _category_reason(category: Category, lufs: float, crest: float) -> str:
    if category is Category.COMPRESSED_LOUD:
        return (f"COMPRESSED_LOUD: {lufs:.1f} LUFS > {LOUD_THRESHOLD_LUFS:g} and crest "
                f"{crest:.1f} dB < {CREST_THRESHOLD_DB:g}")
    if category is Category.DYNAMIC_LOUD:
        return (f"DYNAMIC_LOUD: {lufs:.1f} LUFS > {LOUD_THRESHOLD_LUFS:g} and crest "
                f"{crest:.1f} dB ≥ {CREST_THRESHOLD_DB:g}: dynamics respected")
    return f"QUIET: {lufs:.1f} LUFS ≤ {LOUD_THRESHOLD_LUFS:g}"


def _tonal_reasons(fp: Fingerprint, low: float, high: float, side: float) -> list[str]:
    reasons = []
    if low != 0.0:
        reasons.append(f"bass/mid balance {fp.bass_mid_ratio_db:+.1f} dB vs reference "
                       f"{REFERENCE_BASS_MID_RATIO_DB:+.1f}: low shelf {low:+.1f} dB")
    if high != 0.0:
        treble = _treble_mid_ratio_db(fp)
        reasons.append(f"treble/mid balance {treble:+.1f} dB vs reference "
                       f"{REFERENCE_TREBLE_MID_RATIO_DB:+.1f}: high shelf {high:+.1f} dB")
    if side != 0.0:
        reasons.append(f"stereo width {fp.stereo_width:.2f}, correlation "
                       f"{fp.phase_correlation:+.2f}: side gain {side:+.1f} dB")
    return reasons
