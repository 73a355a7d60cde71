"""SPEC section 12 — reference-track mastering, the plan side: tonal balance and width move
toward the reference's fingerprint (bounded as the built-in correction), the target becomes the
reference's loudness when none is asked for, and the EQ's predicted effect on the peaks keeps
DYNAMIC_LOUD material's crest."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from mastering_service.balance import TONAL_MAX_DB, WIDTH_MAX_DB, treble_mid_ratio_db
from mastering_service.lwrp import EQ_CREST_CHANGE_MAX_DB, fallback_plan, plan_mastering
from mastering_service.plan import Category, MasteringPlan
from mastering_service.prediction import spectral_loudness_change_db, spectral_peak_change_db
from mastering_service.request import DEFAULT_TARGET_LUFS
from shared.fingerprint import Fingerprint
from tests.unit.test_aspect_amounts import off_balance_fingerprint


def typical_fingerprint(**overrides: Any) -> Fingerprint:
    """A track near the centre of real music: the built-in reference leaves it alone."""
    values: dict[str, Any] = {
        "sub_bass_share": 0.1, "bass_share": 0.48, "low_mid_share": 0.12, "mid_share": 0.15,
        "upper_mid_share": 0.1, "presence_share": 0.03, "air_share": 0.02, "lufs": -18.0,
        "crest_db": 16.0, "bass_mid_ratio_db": 3.5, "tempo_bpm": 120.0,
        "rhythm_stability": 0.7, "transient_density": 0.3, "silence_ratio": 0.0,
        "spectral_centroid_hz": 1500.0, "spectral_rolloff_hz": 5000.0, "spectral_flatness": 0.2,
        "harmonic_ratio": 0.6, "pitch_stability": 0.5, "chroma_energy": 0.3,
        "dynamic_range_variation": 0.3, "loudness_variation_db": 2.0, "peak_consistency": 0.7,
        "stereo_width": 0.28, "phase_correlation": 0.7,
    }
    values.update(overrides)
    return Fingerprint(**values)


def bright_wide_reference(**overrides: Any) -> Fingerprint:
    """Much more treble than the typical track, wider, mastered loud."""
    values: dict[str, Any] = {"presence_share": 0.12, "air_share": 0.08, "mid_share": 0.1,
                              "bass_share": 0.35, "stereo_width": 0.38, "lufs": -10.0}
    return typical_fingerprint(**(values | overrides))


def plan_for(fp: Fingerprint, **kwargs: Any) -> MasteringPlan:
    return plan_mastering(input_lufs=fp.lufs, input_crest_db=fp.crest_db,
                          input_true_peak_dbtp=fp.lufs + fp.crest_db - 3.0, fingerprint=fp,
                          **kwargs)


def test_typical_music_gets_no_built_in_correction() -> None:
    plan = plan_for(typical_fingerprint(), target_lufs=-14.0)
    assert plan.low_shelf_gain_db == plan.high_shelf_gain_db == plan.side_gain_db == 0.0
    assert plan.reference_lufs is None


def test_track_itself_as_reference_leaves_tonal_and_width_neutral() -> None:
    for fp in (typical_fingerprint(), off_balance_fingerprint(lufs=-20.0, crest_db=16.0)):
        built_in = plan_for(fp, target_lufs=-14.0)
        itself = plan_for(fp, target_lufs=-14.0, reference=fp)
        assert itself.low_shelf_gain_db == itself.high_shelf_gain_db == 0.0
        assert itself.side_gain_db == 0.0
        assert itself.effective_target_lufs == pytest.approx(built_in.effective_target_lufs,
                                                              abs=0.6)
    # The off-balance track does get the built-in correction: the reference really replaced it.
    assert plan_for(off_balance_fingerprint(lufs=-20.0, crest_db=16.0)).low_shelf_gain_db < 0.0


def test_bright_reference_raises_the_treble_and_widens() -> None:
    fp = typical_fingerprint()
    plan = plan_for(fp, target_lufs=-14.0, reference=bright_wide_reference())
    assert 0.0 < plan.high_shelf_gain_db <= TONAL_MAX_DB
    assert 0.0 < plan.side_gain_db <= WIDTH_MAX_DB
    assert any("reference track" in reason for reason in plan.reasons)
    dull = plan_for(fp, target_lufs=-14.0,
                    reference=typical_fingerprint(presence_share=0.005, air_share=0.002))
    assert dull.high_shelf_gain_db < 0.0


def test_reference_correction_is_bounded() -> None:
    extreme = typical_fingerprint(presence_share=0.9, air_share=0.9, bass_mid_ratio_db=40.0,
                                  stereo_width=0.9)
    plan = plan_for(typical_fingerprint(), target_lufs=-14.0, reference=extreme)
    assert abs(plan.low_shelf_gain_db) == pytest.approx(TONAL_MAX_DB)
    assert plan.high_shelf_gain_db == pytest.approx(TONAL_MAX_DB)
    assert abs(plan.side_gain_db) <= WIDTH_MAX_DB


def test_reference_loudness_is_the_target_when_none_is_asked() -> None:
    fp = typical_fingerprint()
    reference = bright_wide_reference(lufs=-16.5)
    plan = plan_for(fp, reference=reference)
    assert plan.target_lufs == pytest.approx(-16.5)
    assert plan.reference_lufs == pytest.approx(-16.5)
    assert any("reference track's loudness" in reason for reason in plan.reasons)
    # An explicit target wins; without a reference the default holds.
    assert plan_for(fp, reference=reference, target_lufs=-20.0).target_lufs == -20.0
    assert plan_for(fp).target_lufs == DEFAULT_TARGET_LUFS


def test_reference_loudness_stays_within_the_rules() -> None:
    # Clamped to the allowed target range, and loud material is still never raised.
    assert plan_for(typical_fingerprint(),
                    reference=bright_wide_reference(lufs=-2.0)).target_lufs == -5.0
    loud = typical_fingerprint(lufs=-10.0, crest_db=15.0)
    plan = plan_for(loud, reference=bright_wide_reference(lufs=-6.0))
    assert plan.category is Category.DYNAMIC_LOUD
    assert plan.effective_target_lufs <= loud.lufs + 1e-9


def test_fallback_plan_takes_the_reference_loudness_but_stays_neutral() -> None:
    class Analysis:
        lufs = -20.0
        crest_db = 15.0
        true_peak_dbtp = -3.0
        limited_loudness_lufs = ()  # no measured limiting curve: the plan's own estimate
        limited_loudness_range_lu = ()

    plan = fallback_plan(Analysis(), reason="UNAVAILABLE", reference=bright_wide_reference())
    assert plan.target_lufs == pytest.approx(-10.0)
    assert plan.low_shelf_gain_db == plan.high_shelf_gain_db == plan.side_gain_db == 0.0


def _eq_crest_change_db(fp: Fingerprint, plan: MasteringPlan) -> float:
    low, high = plan.low_shelf_gain_db, plan.high_shelf_gain_db
    return (spectral_peak_change_db(fp, low, high) - spectral_loudness_change_db(fp, low, high)
            + spectral_loudness_change_db(fp, 0.0, 0.0))


def test_dynamic_loud_shelves_are_scaled_to_keep_the_crest() -> None:
    """A DYNAMIC_LOUD track told to sound like a far brighter reference: a +3 dB high shelf
    would lift its transients far more than its loudness, so the shelves are reduced until the
    predicted crest change is within the bound; QUIET material keeps the full shelf."""
    reference = bright_wide_reference(presence_share=0.3, air_share=0.2)
    quiet = plan_for(typical_fingerprint(lufs=-20.0), target_lufs=-14.0, reference=reference)
    loud_fp = typical_fingerprint(lufs=-9.0, crest_db=15.0)
    loud = plan_for(loud_fp, target_lufs=-14.0, reference=reference)
    assert loud.category is Category.DYNAMIC_LOUD
    assert quiet.high_shelf_gain_db == pytest.approx(TONAL_MAX_DB)
    assert 0.0 < loud.high_shelf_gain_db < quiet.high_shelf_gain_db
    assert abs(_eq_crest_change_db(loud_fp, loud)) <= EQ_CREST_CHANGE_MAX_DB + 1e-3
    assert abs(_eq_crest_change_db(loud_fp, replace(loud, high_shelf_gain_db=TONAL_MAX_DB))
               ) > EQ_CREST_CHANGE_MAX_DB
    assert any("crest" in reason for reason in loud.reasons)


def test_peak_prediction_follows_the_shelves() -> None:
    fp = typical_fingerprint()
    assert spectral_peak_change_db(fp, 0.0, 0.0) == 0.0
    boost = spectral_peak_change_db(fp, 0.0, 3.0)
    # Transients add coherently across the treble: a high shelf lifts peaks more than loudness.
    assert boost > spectral_loudness_change_db(fp, 0.0, 3.0) - spectral_loudness_change_db(
        fp, 0.0, 0.0)
    assert 0.0 < boost <= 3.0
    assert spectral_peak_change_db(fp, 3.0, 0.0) > 0.0 > spectral_peak_change_db(fp, -3.0, 0.0)
    assert treble_mid_ratio_db(fp) is not None
