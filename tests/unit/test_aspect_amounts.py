"""SPEC section 12 — per-aspect amounts: tonal_amount, width_amount, dynamics_amount (0–1,
default intensity). Each at 0 makes its stage neutral: the render is bit-identical to the same
plan with that stage's parameters set to neutral, and the other stages are untouched."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mastering_service.chain import build_chain
from mastering_service.engine import RenderOptions, render_to_wav
from mastering_service.lwrp import plan_mastering
from mastering_service.plan import MasteringPlan
from mastering_service.request import MasterRequest, validate
from shared.errors import InvalidArgument
from shared.fingerprint import Fingerprint
from tests.signals import music_like, write_wav

RATE = 44_100
#: Each aspect: the plan fields that make up its stage, and their neutral values.
STAGE_FIELDS: dict[str, dict[str, float]] = {
    "tonal_amount": {"low_shelf_gain_db": 0.0, "high_shelf_gain_db": 0.0},
    "width_amount": {"side_gain_db": 0.0},
    "dynamics_amount": {"expansion_amount": 0.0, "compression_amount": 0.0},
}


def off_balance_fingerprint(**overrides: float) -> Fingerprint:
    """Bass-heavy, dull and narrow but correlated: every built-in correction is due."""
    values: dict[str, Any] = {
        "sub_bass_share": 0.2, "bass_share": 0.6, "low_mid_share": 0.08, "mid_share": 0.08,
        "upper_mid_share": 0.035, "presence_share": 0.0004, "air_share": 0.0001,
        "lufs": -8.0, "crest_db": 8.0, "bass_mid_ratio_db": 16.0, "tempo_bpm": 120.0,
        "rhythm_stability": 0.7, "transient_density": 0.3, "silence_ratio": 0.0,
        "spectral_centroid_hz": 400.0, "spectral_rolloff_hz": 1500.0, "spectral_flatness": 0.1,
        "harmonic_ratio": 0.6, "pitch_stability": 0.5, "chroma_energy": 0.3,
        "dynamic_range_variation": 0.3, "loudness_variation_db": 2.0, "peak_consistency": 0.7,
        "stereo_width": 0.08, "phase_correlation": 0.9,
    }
    values.update(overrides)
    return Fingerprint(**values)


def plan_with(**kwargs: Any) -> MasteringPlan:
    """COMPRESSED_LOUD (so the dynamics stage is the expander), every stage active."""
    fp = off_balance_fingerprint()
    return plan_mastering(input_lufs=fp.lufs, input_crest_db=fp.crest_db,
                          input_true_peak_dbtp=-0.5, fingerprint=fp, target_lufs=-14.0, **kwargs)


def render_bytes(source: Path, plan: MasteringPlan, out: Path) -> bytes:
    render_to_wav(source, out, plan, RenderOptions(encoding="f32"))
    return out.read_bytes()


@pytest.fixture(scope="module")
def track(tmp_path_factory: pytest.TempPathFactory) -> Path:
    signal = music_like(3.0, RATE, level_dbfs=-6.0)
    return write_wav(tmp_path_factory.mktemp("amounts") / "track.wav", signal, RATE)


def test_every_stage_is_active_at_full_amounts() -> None:
    plan = plan_with()
    for fields in STAGE_FIELDS.values():
        assert any(getattr(plan, name) != 0.0 for name in fields)
    assert (plan.tonal_amount, plan.width_amount, plan.dynamics_amount) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("aspect", sorted(STAGE_FIELDS))
def test_aspect_amount_zero_makes_its_stage_neutral(aspect: str, track: Path,
                                                    tmp_path: Path) -> None:
    full = plan_with()
    off = plan_with(**{aspect: 0.0})
    assert getattr(off, aspect) == 0.0
    for name, neutral in STAGE_FIELDS[aspect].items():
        assert getattr(off, name) == neutral, name
    # The other stages are decided exactly as at full amount.
    for other, fields in STAGE_FIELDS.items():
        if other != aspect:
            for name in fields:
                assert getattr(off, name) == getattr(full, name), name
    # The chain leaves the stage out, and the output is bit-identical to that plan with the
    # stage's parameters set to neutral by hand.
    assert build_chain(off, RATE, 2).names != build_chain(full, RATE, 2).names
    by_hand = replace(off, **STAGE_FIELDS[aspect])
    assert render_bytes(track, off, tmp_path / "off.wav") == render_bytes(
        track, by_hand, tmp_path / "by_hand.wav")


def test_aspect_amounts_default_to_intensity() -> None:
    half = plan_with(intensity=0.5)
    explicit = plan_with(intensity=0.5, tonal_amount=0.5, width_amount=0.5, dynamics_amount=0.5)
    assert half == explicit
    assert (half.tonal_amount, half.width_amount, half.dynamics_amount) == (0.5, 0.5, 0.5)


def test_aspect_amount_scales_only_its_stage() -> None:
    full = plan_with()
    tonal_half = plan_with(tonal_amount=0.5)
    assert tonal_half.low_shelf_gain_db == pytest.approx(full.low_shelf_gain_db / 2)
    assert tonal_half.side_gain_db == full.side_gain_db
    assert tonal_half.expansion_amount == full.expansion_amount


@pytest.mark.parametrize("aspect", sorted(STAGE_FIELDS))
@pytest.mark.parametrize("value", [-0.01, 1.01, float("nan")])
def test_aspect_amount_out_of_range_is_invalid_argument(aspect: str, value: float) -> None:
    with pytest.raises(InvalidArgument, match=rf"{aspect} must be between 0 and 1"):
        validate(MasterRequest(**{aspect: value}))


def test_aspect_amounts_in_range_are_accepted() -> None:
    validate(MasterRequest(tonal_amount=0.0, width_amount=1.0, dynamics_amount=0.3))
    assert np.isclose(MasterRequest(tonal_amount=0.3).aspect_amounts()["tonal_amount"], 0.3)
