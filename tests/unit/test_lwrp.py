"""SPEC section 5 — the 2D LWRP decision: categories, continuity, budgets, bounds."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from mastering_service.balance import (
    BASS_DEAD_ZONE_DB,
    REFERENCE_BASS_MID_RATIO_DB,
    REFERENCE_TREBLE_MID_RATIO_DB,
)
from mastering_service.lwrp import (
    PEAK_REDUCTION_BUDGET_DB,
    fallback_plan,
    plan_mastering,
)
from mastering_service.plan import COMPRESSOR_MAX_REDUCTION_DB, Category, MasteringPlan
from shared.fingerprint import Fingerprint
from tests.conftest import REPO_ROOT

NUMERIC_FIELDS = (
    "effective_target_lufs", "gain_db", "expansion_amount", "compression_amount",
    "low_shelf_gain_db", "high_shelf_gain_db", "side_gain_db", "limiter_release_ms",
)


def balanced_fingerprint(**overrides: float) -> Fingerprint:
    """A fingerprint sitting exactly on the reference tonal balance with a healthy width."""
    mids = (0.15, 0.35, 0.10)  # low-mid, mid, upper-mid: 0.60 of the power
    bass_total = sum(mids) * 10 ** (REFERENCE_BASS_MID_RATIO_DB / 10)
    treble_total = sum(mids) * 10 ** (REFERENCE_TREBLE_MID_RATIO_DB / 10)
    raw = [0.2 * bass_total, 0.8 * bass_total, *mids, 0.7 * treble_total, 0.3 * treble_total]
    shares = [value / sum(raw) for value in raw]
    values: dict[str, Any] = {
        "sub_bass_share": shares[0], "bass_share": shares[1], "low_mid_share": shares[2],
        "mid_share": shares[3], "upper_mid_share": shares[4], "presence_share": shares[5],
        "air_share": shares[6], "lufs": -14.0, "crest_db": 14.0,
        "bass_mid_ratio_db": REFERENCE_BASS_MID_RATIO_DB, "tempo_bpm": 120.0,
        "rhythm_stability": 0.7, "transient_density": 0.3, "silence_ratio": 0.0,
        "spectral_centroid_hz": 1500.0, "spectral_rolloff_hz": 5000.0,
        "spectral_flatness": 0.2, "harmonic_ratio": 0.6, "pitch_stability": 0.5,
        "chroma_energy": 0.3, "dynamic_range_variation": 0.3, "loudness_variation_db": 2.0,
        "peak_consistency": 0.7, "stereo_width": 0.25, "phase_correlation": 0.7,
    }
    values.update(overrides)
    return Fingerprint(**values)


def plan_for(
    lufs: float, crest: float, *, true_peak: float | None = None,
    fingerprint: Fingerprint | None = None, **kwargs: Any,
) -> MasteringPlan:
    peak = lufs + crest - 3.0 if true_peak is None else true_peak
    return plan_mastering(input_lufs=lufs, input_crest_db=crest, input_true_peak_dbtp=peak,
                          fingerprint=fingerprint, **kwargs)


@pytest.mark.parametrize(
    ("lufs", "crest", "expected"),
    [
        (-11.99, 12.99, Category.COMPRESSED_LOUD),
        (-11.99, 13.0, Category.DYNAMIC_LOUD),
        (-11.0, 13.01, Category.DYNAMIC_LOUD),
        (-5.0, 4.0, Category.COMPRESSED_LOUD),
        (-12.0, 5.0, Category.QUIET),
        (-12.0, 20.0, Category.QUIET),
        (-12.01, 12.0, Category.QUIET),
        (-30.0, 25.0, Category.QUIET),
    ],
)
def test_category_table_uses_hard_thresholds(lufs: float, crest: float, expected: Category) -> None:
    assert plan_for(lufs, crest).category is expected


@pytest.mark.parametrize("target", [-23.0, -14.0, -9.0, -5.0])
@pytest.mark.parametrize("crest", [6.0, 12.5, 13.0, 13.5, 20.0])
def test_numbers_barely_move_across_the_loudness_threshold(target: float, crest: float) -> None:
    below = plan_for(-12.01, crest, target_lufs=target, fingerprint=balanced_fingerprint())
    above = plan_for(-11.99, crest, target_lufs=target, fingerprint=balanced_fingerprint())
    for name in NUMERIC_FIELDS:
        assert abs(getattr(below, name) - getattr(above, name)) < 0.05, name


@pytest.mark.parametrize("lufs", [-8.0, -11.5])
def test_numbers_barely_move_across_the_crest_threshold(lufs: float) -> None:
    below = plan_for(lufs, 12.99, fingerprint=balanced_fingerprint())
    above = plan_for(lufs, 13.01, fingerprint=balanced_fingerprint())
    for name in NUMERIC_FIELDS:
        assert abs(getattr(below, name) - getattr(above, name)) < 0.05, name


def _plan_numbers(lufs: float, crest: float, target: float) -> np.ndarray:
    plan = plan_for(lufs, crest, target_lufs=target)
    return np.array([getattr(plan, name) for name in NUMERIC_FIELDS])


def _jump_after_refining(
    start: tuple[float, float], end: tuple[float, float], target: float, index: int
) -> float:
    """Halve the segment ten times, always keeping the half where the number moves most: a
    continuous number's jump shrinks with the segment, a discontinuity's does not."""
    (l0, c0), (l1, c1) = start, end
    for _ in range(10):
        lm, cm = (l0 + l1) / 2, (c0 + c1) / 2
        v0, vm, v1 = (_plan_numbers(lf, cr, target)[index] for lf, cr in ((l0, c0), (lm, cm),
                                                                          (l1, c1)))
        if abs(vm - v0) >= abs(v1 - vm):
            l1, c1 = lm, cm
        else:
            l0, c0 = lm, cm
    return float(abs(_plan_numbers(l1, c1, target)[index] - _plan_numbers(l0, c0, target)[index]))


@pytest.mark.parametrize("target", [-14.0, -5.0])
def test_every_plan_number_is_continuous_over_the_lc_grid(target: float) -> None:
    """Grid over L ∈ [−30, −5] (0.2 LU) × C ∈ [4, 25] (0.5 dB): no number jumps between
    neighbours by more than the steepest intended slope allows (the boost fading in over 1 LU
    below −12, up to 8 dB toward −5 LUFS), and every jump worth a look shrinks to nothing when
    its segment is refined a thousandfold."""
    lufs_grid = np.arange(-30.0, -5.0 + 1e-9, 0.2)
    crest_grid = np.arange(4.0, 25.0 + 1e-9, 0.5)
    table = np.array([[_plan_numbers(float(lf), float(cr), target) for cr in crest_grid]
                      for lf in lufs_grid])
    bounds = {"expansion_amount": 0.3, "compression_amount": 1.0}
    for axis in (0, 1):
        jumps = np.abs(np.diff(table, axis=axis))
        for index, name in enumerate(NUMERIC_FIELDS):
            assert jumps[..., index].max() <= bounds.get(name, 5.0), name
            for i, j in np.argwhere(jumps[..., index] > 0.05)[:25]:
                i2, j2 = (i + 1, j) if axis == 0 else (i, j + 1)
                start = (float(lufs_grid[i]), float(crest_grid[j]))
                end = (float(lufs_grid[i2]), float(crest_grid[j2]))
                assert _jump_after_refining(start, end, target, index) < 0.02, (name, start, end)


def test_plan_with_fingerprint_is_continuous_along_loudness() -> None:
    fp = balanced_fingerprint(bass_mid_ratio_db=9.0, stereo_width=0.08, phase_correlation=0.9)
    previous: MasteringPlan | None = None
    for lufs in np.arange(-20.0, -6.0, 0.05):
        plan = plan_for(float(lufs), 11.0, fingerprint=fp, target_lufs=-9.0)
        if previous is not None:
            for name in NUMERIC_FIELDS:
                assert abs(getattr(plan, name) - getattr(previous, name)) < 0.4, (lufs, name)
        previous = plan


@pytest.mark.parametrize("target", [-40.0, -23.0, -14.0, -9.0, -5.0])
def test_effective_target_never_above_input_for_loud_categories(target: float) -> None:
    for lufs in np.arange(-11.99, -5.0, 0.5):
        for crest in (4.0, 12.9, 13.0, 18.0):
            for peak_margin in (-6.0, 0.0, 3.0):
                plan = plan_for(float(lufs), crest, true_peak=float(lufs) + crest + peak_margin,
                                target_lufs=target, fingerprint=balanced_fingerprint())
                assert plan.category is not Category.QUIET
                assert plan.effective_target_lufs <= lufs + 1e-9
                assert plan.compression_amount == 0.0


def test_dynamic_loud_gets_neither_expansion_nor_compression() -> None:
    for lufs in (-11.9, -10.0, -6.0):
        for crest in (13.0, 15.0, 22.0):
            plan = plan_for(lufs, crest, fingerprint=balanced_fingerprint())
            assert plan.category is Category.DYNAMIC_LOUD
            assert plan.expansion_amount == 0.0 and plan.compression_amount == 0.0


@pytest.mark.parametrize(("crest", "expected"), [(1.0, 1.0), (5.0, 0.8), (10.0, 0.3), (12.0, 0.1)])
def test_compressed_loud_expansion_follows_the_crest(crest: float, expected: float) -> None:
    plan = plan_for(-8.0, crest)
    assert plan.category is Category.COMPRESSED_LOUD
    assert plan.expansion_amount == pytest.approx(expected)
    assert plan.compression_amount == 0.0
    assert plan.effective_target_lufs == pytest.approx(-14.0)


@pytest.mark.parametrize("intensity", [0.0, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("ceiling", [-9.0, -1.0, 0.0])
def test_quiet_peak_reduction_budget_respected(intensity: float, ceiling: float) -> None:
    """The boost never asks for more than 6 dB × intensity of peak reduction; beyond that the
    effective target is lowered (and the plan says so)."""
    lowered = 0
    for lufs in np.arange(-30.0, -12.0, 0.5):
        for plr in (8.0, 14.0, 20.0, 26.0):
            true_peak = float(lufs) + plr
            level_peak = true_peak + min(-14.0, float(lufs)) - float(lufs)
            if level_peak > ceiling:
                continue  # the level alone already needs reduction: no boost budget applies
            plan = plan_for(float(lufs), plr + 2.0, true_peak=true_peak, intensity=intensity,
                            true_peak_ceiling_dbtp=ceiling)
            reduction = max(0.0, true_peak + plan.gain_db - ceiling)
            assert reduction <= PEAK_REDUCTION_BUDGET_DB * intensity + 1e-6
            assert plan.compressor_reduction_db <= reduction + 1e-9
            assert plan.compression_amount <= intensity + 1e-9
            if plan.effective_target_lufs < -14.0 - 0.05:
                lowered += 1
                assert any("target lowered" in reason for reason in plan.reasons)
    assert lowered > 0


def test_quiet_material_is_raised_to_the_target_when_the_budget_allows() -> None:
    plan = plan_for(-20.0, 12.0, true_peak=-12.0)
    assert plan.category is Category.QUIET
    assert plan.effective_target_lufs == pytest.approx(-14.0)
    assert plan.gain_db == pytest.approx(6.0, abs=0.3)


def test_a_boost_whose_peak_reduction_fits_the_budget_reaches_the_target() -> None:
    # −24 LUFS, −6 dBTP to −14 LUFS under −1 dBTP: the peaks need 5 dB of reduction, inside 6.
    curve = tuple(-24.0 - 0.01 * (0.5 * i) ** 2 for i in range(25))  # 0.24 LU/dB at 12 dB
    plan = plan_for(-24.0, 18.0, true_peak=-6.0, limited_loudness_lufs=curve)
    assert plan.effective_target_lufs == pytest.approx(-14.0)
    assert 0.0 < plan.compressor_reduction_db <= COMPRESSOR_MAX_REDUCTION_DB
    limiter_reduction = -6.0 + plan.gain_db - plan.compressor_reduction_db + 1.0
    # The limiter needs more than the naive 5 dB: what it takes away has to be made up.
    assert limiter_reduction > 5.0
    assert limiter_reduction + plan.compressor_reduction_db <= PEAK_REDUCTION_BUDGET_DB + 1.0


def test_a_boost_beyond_the_budget_lowers_the_target_to_where_the_budget_ends() -> None:
    # −30 LUFS, −6 dBTP to −14 LUFS under −1 dBTP would need 11 dB: the budget allows 6.
    plan = plan_for(-30.0, 20.0, true_peak=-6.0)
    assert plan.effective_target_lufs == pytest.approx(-30.0 + 6.0 - 1.0 + 6.0)
    assert any("target lowered" in reason for reason in plan.reasons)


def test_intensity_zero_means_level_and_ceiling_only() -> None:
    fp = balanced_fingerprint(bass_mid_ratio_db=12.0, stereo_width=0.7, presence_share=0.3)
    for lufs, crest in ((-8.0, 5.0), (-25.0, 18.0), (-12.5, 12.0)):
        plan = plan_for(lufs, crest, fingerprint=fp, intensity=0.0)
        assert plan.expansion_amount == 0.0
        assert plan.compression_amount == 0.0
        assert plan.low_shelf_gain_db == 0.0 and plan.high_shelf_gain_db == 0.0
        assert plan.side_gain_db == 0.0
        # No limiting for loudness: the gain stops where the peaks meet the ceiling (give or
        # take the make-up for what the limiter's own safety margin shaves off).
        assert plan.input_true_peak_dbtp + plan.gain_db <= plan.true_peak_ceiling_dbtp + 0.05


def test_amounts_scale_with_intensity() -> None:
    fp = balanced_fingerprint(bass_mid_ratio_db=12.0, stereo_width=0.7)
    full = plan_for(-8.0, 5.0, fingerprint=fp, intensity=1.0)
    half = plan_for(-8.0, 5.0, fingerprint=fp, intensity=0.5)
    assert half.expansion_amount == pytest.approx(full.expansion_amount / 2)
    assert half.low_shelf_gain_db == pytest.approx(full.low_shelf_gain_db / 2)
    assert half.side_gain_db == pytest.approx(full.side_gain_db / 2)


def test_tonal_correction_has_a_dead_zone() -> None:
    inside = REFERENCE_BASS_MID_RATIO_DB + 0.95 * BASS_DEAD_ZONE_DB
    plan = plan_for(-14.0, 14.0, fingerprint=balanced_fingerprint(bass_mid_ratio_db=inside))
    assert plan.low_shelf_gain_db == 0.0
    assert plan.high_shelf_gain_db == 0.0
    outside = REFERENCE_BASS_MID_RATIO_DB + BASS_DEAD_ZONE_DB + 1.0
    plan = plan_for(-14.0, 14.0, fingerprint=balanced_fingerprint(bass_mid_ratio_db=outside))
    assert plan.low_shelf_gain_db < 0.0


@pytest.mark.parametrize("bass_mid_ratio_db", [-60.0, -20.0, 20.0, 60.0])
@pytest.mark.parametrize(("presence", "air"), [(0.00001, 0.00001), (0.9, 0.9)])
def test_tonal_correction_is_bounded(bass_mid_ratio_db: float, presence: float, air: float) -> None:
    fp = balanced_fingerprint(bass_mid_ratio_db=bass_mid_ratio_db, presence_share=presence,
                              air_share=air)
    plan = plan_for(-14.0, 14.0, fingerprint=fp)
    assert abs(plan.low_shelf_gain_db) <= 3.0
    assert abs(plan.high_shelf_gain_db) <= 3.0
    assert abs(plan.low_shelf_gain_db) == pytest.approx(3.0)
    assert abs(plan.high_shelf_gain_db) == pytest.approx(3.0)
    # Toward the reference: too much bass → cut the lows; too little → lift them.
    assert math.copysign(1.0, plan.low_shelf_gain_db) == -math.copysign(1.0, bass_mid_ratio_db)


@pytest.mark.parametrize(
    ("width", "correlation", "expected"),
    [
        (0.01, 0.99, "zero"),       # near-mono: never widened
        (0.08, 0.2, "zero"),        # low correlation: never widened
        (0.08, 0.9, "widen"),
        (0.25, 0.7, "zero"),        # healthy
        (0.65, 0.1, "narrow"),      # very wide
        (0.9, -0.8, "narrow"),      # anti-phase
        (0.3, -0.6, "narrow"),
    ],
)
def test_width_rules(width: float, correlation: float, expected: str) -> None:
    fp = balanced_fingerprint(stereo_width=width, phase_correlation=correlation)
    side = plan_for(-14.0, 14.0, fingerprint=fp).side_gain_db
    assert abs(side) <= 3.0
    if expected == "zero":
        assert side == 0.0
    elif expected == "widen":
        assert side > 0.0
    else:
        assert side < 0.0


@pytest.mark.parametrize("tempo", [0.0, 60.0, 90.0, 120.0, 174.0, 200.0])
def test_limiter_release_tied_to_tempo_within_bounds(tempo: float) -> None:
    release = plan_for(-14.0, 14.0, fingerprint=balanced_fingerprint(tempo_bpm=tempo))
    assert 50.0 <= release.limiter_release_ms <= 300.0
    faster = plan_for(-14.0, 14.0, fingerprint=balanced_fingerprint(tempo_bpm=180.0))
    slower = plan_for(-14.0, 14.0, fingerprint=balanced_fingerprint(tempo_bpm=80.0))
    assert faster.limiter_release_ms < slower.limiter_release_ms


def test_silence_is_never_raised() -> None:
    plan = plan_for(-70.0, 0.0, true_peak=float("-inf"), fingerprint=balanced_fingerprint())
    assert plan.gain_db <= 0.05  # at most the make-up for the high-pass's trim of the lows
    assert all(math.isfinite(getattr(plan, name)) for name in NUMERIC_FIELDS)


def test_fallback_plan_is_tonally_and_spatially_neutral() -> None:
    class Analysis:
        lufs = -20.0
        crest_db = 15.0
        true_peak_dbtp = -3.0
        limited_loudness_lufs = ()
        limited_loudness_range_lu = ()

    plan = fallback_plan(Analysis(), target_lufs=-14.0, true_peak_ceiling_dbtp=-1.0,
                         intensity=1.0, reason="DEADLINE_EXCEEDED")
    assert plan.fingerprint_source == "FALLBACK"
    assert plan.fallback_reason == "DEADLINE_EXCEEDED"
    assert plan.low_shelf_gain_db == plan.high_shelf_gain_db == plan.side_gain_db == 0.0
    assert plan.category is Category.QUIET


def test_plan_dict_uses_the_wire_field_names() -> None:
    proto = (REPO_ROOT / "proto" / "mastering" / "v1" / "mastering.proto").read_text()
    body = re.search(r"message MasteringPlan \{(.*?)\n\}", proto, re.S)
    assert body is not None
    field = r"^\s*(?:repeated\s+|optional\s+)?\w+\s+(\w+)\s*=\s*\d+;"
    wire_names = set(re.findall(field, body.group(1), re.M))
    plan = plan_for(-20.0, 14.0, fingerprint=balanced_fingerprint())
    assert set(plan.to_dict()) == wire_names
    assert plan.to_dict()["category"] == "QUIET"
    assert replace(plan, reasons=("a",)).to_dict()["reasons"] == ["a"]
