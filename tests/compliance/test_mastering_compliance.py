"""SPEC section 6 — loudness, peaks and LWRP on synthetic material, judged by ffmpeg.

Each case is a synthetic "mix" built to land in one LWRP category; the plan comes from its
fingerprint (the production path) or from the quick local analysis (the fallback path), the
render is written to a WAV file, and ``ffmpeg -af ebur128=peak=true`` measures it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fingerprint_service.extractor import extract
from mastering_service import lwrp
from mastering_service.analysis import analyze
from mastering_service.engine import RenderOptions, render_to_wav
from mastering_service.lwrp import fallback_plan
from mastering_service.plan import Category, MasteringPlan
from shared.levels import LevelMeter
from tests.conftest import REPO_ROOT
from tests.signals import Signal, db_to_amplitude, ffmpeg_ebur128, music_like, write_wav

RATE = 44_100
DURATION_S = 20.0
CEILING_DBTP = -1.0
#: SPEC section 6: ±0.5 LU with a fingerprint, ±1.0 LU for the fallback plan (issue).
FINGERPRINT_TOLERANCE_LU = 0.5
FALLBACK_TOLERANCE_LU = 1.0
TRUE_PEAK_MARGIN_DB = 0.1
#: Sample peak ≤ ceiling, allowing the ±1 LSB of the 16-bit TPDF dither.
SAMPLE_PEAK_MARGIN = 2.0 / 32768.0


def bright_dynamic(duration_s: float, sample_rate: int) -> Signal:
    """Loud *and* dynamic: a drum-heavy mix under a bright noise wash (cymbals, room), whose
    K-weighted loudness sits well above its RMS while its drum peaks stay 15 dB above it."""
    rng = np.random.default_rng(11)
    mix = music_like(duration_s, sample_rate, crest_shape=2.5, level_dbfs=-1.0)
    wash = rng.standard_normal(mix.shape)
    wash = np.diff(wash, axis=0, prepend=0.0)  # +6 dB/octave: the energy sits in the top octaves
    wash *= db_to_amplitude(-12.0) / np.sqrt(np.mean(wash**2))
    signal = mix + wash
    return signal * (db_to_amplitude(-0.5) / np.abs(signal).max())


def with_clicks(signal: Signal, sample_rate: int, level_dbfs: float = -0.5) -> Signal:
    """``signal`` with a short full-band click every 2 s: the peaks rise to ``level_dbfs`` while
    the loudness barely moves, so a boost to −14 LUFS needs far more than 6 dB of peak
    reduction."""
    out = signal.copy()
    click = db_to_amplitude(level_dbfs) * np.hanning(9)[:, None]
    for start in range(sample_rate, out.shape[0] - click.shape[0], 2 * sample_rate):
        out[start : start + click.shape[0]] += click
    return out


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], Signal]
    category: Category
    target_lufs: float = -14.0


CASES = [
    Case("compressed_loud", lambda: music_like(DURATION_S, RATE, crest_shape=0.3, level_dbfs=-0.1),
         Category.COMPRESSED_LOUD),
    Case("compressed_loud_crest_10", lambda: music_like(DURATION_S, RATE, crest_shape=0.8,
                                                        level_dbfs=-0.1),
         Category.COMPRESSED_LOUD),
    Case("compressed_loud_to_-23", lambda: music_like(DURATION_S, RATE, crest_shape=0.2,
                                                      level_dbfs=-0.3),
         Category.COMPRESSED_LOUD, -23.0),
    Case("dynamic_loud", lambda: bright_dynamic(DURATION_S, RATE), Category.DYNAMIC_LOUD),
    Case("quiet_within_budget", lambda: music_like(DURATION_S, RATE, crest_shape=1.0,
                                                   level_dbfs=-6.0),
         Category.QUIET),
    Case("quiet_limited", lambda: music_like(DURATION_S, RATE, crest_shape=1.5, level_dbfs=-4.0),
         Category.QUIET),
    Case("quiet_beyond_budget", lambda: with_clicks(
        music_like(DURATION_S, RATE, crest_shape=3.0, level_dbfs=-8.0), RATE), Category.QUIET),
    Case("quiet_to_-23", lambda: music_like(DURATION_S, RATE, crest_shape=2.0, level_dbfs=-14.0),
         Category.QUIET, -23.0),
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("mastering-compliance")
    return {case.name: write_wav(folder / f"{case.name}.wav", case.make(), RATE)
            for case in CASES}


def fingerprint_plan(path: Path, target_lufs: float, intensity: float = 1.0) -> MasteringPlan:
    fingerprint, info = extract(path)
    return lwrp.fingerprint_plan(fingerprint, info, target_lufs=target_lufs,
                                 true_peak_ceiling_dbtp=CEILING_DBTP, intensity=intensity)


def crest_db(path: Path) -> float:
    data, rate = sf.read(str(path), always_2d=True)
    meter = LevelMeter(rate, data.shape[1])
    meter.feed(data)
    return meter.crest_db()


def check_loudness_and_peaks(rendered: Path, plan: MasteringPlan, tolerance_lu: float) -> None:
    measured = ffmpeg_ebur128(rendered)
    assert abs(measured.integrated_lufs - plan.effective_target_lufs) <= tolerance_lu, (
        f"ffmpeg {measured.integrated_lufs:.2f} LUFS vs effective target "
        f"{plan.effective_target_lufs:.2f}"
    )
    assert measured.true_peak_dbtp <= plan.true_peak_ceiling_dbtp + TRUE_PEAK_MARGIN_DB
    data, _ = sf.read(str(rendered))
    assert np.abs(data).max() <= db_to_amplitude(plan.true_peak_ceiling_dbtp) + SAMPLE_PEAK_MARGIN


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_loudness_and_peaks_with_the_fingerprint_plan(
    case: Case, sources: dict[str, Path], tmp_path: Path, ffmpeg: str
) -> None:
    plan = fingerprint_plan(sources[case.name], case.target_lufs)
    assert plan.category is case.category
    rendered = tmp_path / "out.wav"
    render_to_wav(sources[case.name], rendered, plan, RenderOptions())
    check_loudness_and_peaks(rendered, plan, FINGERPRINT_TOLERANCE_LU)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_loudness_and_peaks_with_the_fallback_plan(
    case: Case, sources: dict[str, Path], tmp_path: Path, ffmpeg: str
) -> None:
    plan = fallback_plan(analyze(sources[case.name]), target_lufs=case.target_lufs,
                         true_peak_ceiling_dbtp=CEILING_DBTP, intensity=1.0, reason="UNAVAILABLE")
    assert plan.category is case.category
    rendered = tmp_path / "out.wav"
    render_to_wav(sources[case.name], rendered, plan, RenderOptions())
    check_loudness_and_peaks(rendered, plan, FALLBACK_TOLERANCE_LU)


def test_quiet_beyond_budget_lowers_the_effective_target(sources: dict[str, Path]) -> None:
    plan = fingerprint_plan(sources["quiet_beyond_budget"], -14.0)
    assert plan.effective_target_lufs < -14.0 - 0.5
    assert any("target lowered" in reason for reason in plan.reasons)
    # The whole budget goes to the limiter; the compressor only takes what a boost leaves.
    needed = plan.input_true_peak_dbtp + plan.effective_target_lufs - plan.input_lufs + 1.0
    assert needed == pytest.approx(6.0, abs=0.01)
    assert plan.compression_amount == 0.0


def test_quiet_within_budget_reaches_the_requested_target(sources: dict[str, Path]) -> None:
    for name in ("quiet_within_budget", "quiet_limited"):
        assert fingerprint_plan(sources[name], -14.0).effective_target_lufs == -14.0


def test_dynamic_loud_keeps_its_crest_within_1_db(sources: dict[str, Path], tmp_path: Path) -> None:
    source = sources["dynamic_loud"]
    plan = fingerprint_plan(source, -14.0)
    assert plan.category is Category.DYNAMIC_LOUD
    rendered = tmp_path / "out.wav"
    render_to_wav(source, rendered, plan, RenderOptions())
    assert abs(crest_db(rendered) - crest_db(source)) <= 1.0


@pytest.mark.parametrize("name", ["compressed_loud", "compressed_loud_crest_10"])
def test_compressed_loud_with_crest_up_to_11_db_gains_1_db_of_crest(
    name: str, sources: dict[str, Path], tmp_path: Path
) -> None:
    source = sources[name]
    assert crest_db(source) <= 11.0
    plan = fingerprint_plan(source, -14.0, intensity=1.0)
    assert plan.category is Category.COMPRESSED_LOUD and plan.expansion_amount > 0.0
    rendered = tmp_path / "out.wav"
    render_to_wav(source, rendered, plan, RenderOptions())
    assert crest_db(rendered) >= crest_db(source) + 1.0


def test_loud_material_is_never_raised(
    sources: dict[str, Path], tmp_path: Path, ffmpeg: str
) -> None:
    """Asking for −9 LUFS from material already louder than that leaves it where it was."""
    source = sources["compressed_loud_crest_10"]
    plan = fingerprint_plan(source, -9.0)
    assert plan.effective_target_lufs <= plan.input_lufs
    rendered = tmp_path / "out.wav"
    render_to_wav(source, rendered, plan, RenderOptions())
    assert ffmpeg_ebur128(rendered).integrated_lufs <= ffmpeg_ebur128(source).integrated_lufs + 0.5


def test_render_cli_writes_the_wav_and_reports_what_ffmpeg_measures(
    sources: dict[str, Path], tmp_path: Path, ffmpeg: str
) -> None:
    """``python -m mastering_service render IN OUT`` prints the plan (wire field names) and the
    output's measurement, which agrees with ffmpeg; ``plan IN`` prints the same plan."""
    source, rendered = sources["quiet_limited"], tmp_path / "cli.wav"
    command = [sys.executable, "-m", "mastering_service"]
    done = subprocess.run([*command, "render", str(source), str(rendered), "--target-lufs", "-16"],
                          capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    report = json.loads(done.stdout)
    plan = report["plan"]
    assert plan["fingerprint_source"] == "COMPUTED" and plan["target_lufs"] == -16.0
    measured = ffmpeg_ebur128(rendered)
    assert abs(report["output"]["lufs"] - measured.integrated_lufs) <= 0.1
    assert abs(measured.integrated_lufs - plan["effective_target_lufs"]) <= FINGERPRINT_TOLERANCE_LU
    frames = sf.info(str(source)).frames
    assert report["output"]["frames"] == frames == sf.info(str(rendered)).frames
    planned = subprocess.run([*command, "plan", str(source), "--target-lufs", "-16"],
                             capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert json.loads(planned.stdout) == plan
    missing = subprocess.run([*command, "render", str(tmp_path / "none.wav"), str(rendered)],
                             capture_output=True, text=True, cwd=REPO_ROOT)
    assert missing.returncode == 2 and "no such file" in missing.stderr
