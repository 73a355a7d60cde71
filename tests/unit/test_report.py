"""SPEC section 12 — ``render --report``: a PNG with three panels (short-term loudness before
and after with the target, the averaged spectrum before and after with the EQ curve, the
limiter's gain reduction), the plan's reasons as the caption. Checked on the figure object and
the file, not on pixels."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mastering_service.lwrp import plan_mastering
from mastering_service.plan import MasteringPlan
from mastering_service.render_cli import main_render
from mastering_service.report import (
    MissingReportDependency,
    build_figure,
    collect,
    write_report,
)
from shared.loudness import LoudnessMeter
from tests.signals import music_like, write_wav
from tests.unit.test_engine import busy_fingerprint

RATE = 44_100
DURATION_S = 8.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: A three-panel figure at 150 dpi is far larger than this; an empty canvas is far smaller.
MIN_PNG_BYTES = 50_000


SIGNAL = music_like(DURATION_S, RATE, level_dbfs=-12.0)


@pytest.fixture(scope="module")
def track(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("report") / "track.wav", SIGNAL, RATE)


@pytest.fixture(scope="module")
def plan() -> MasteringPlan:
    """Raised hard (the limiter works), with a tonal correction."""
    meter = LoudnessMeter(RATE, 2, measure_true_peak=True)
    meter.feed(SIGNAL)
    lufs = meter.integrated_lufs()
    fp = busy_fingerprint(lufs=lufs, crest_db=14.0)
    plan = plan_mastering(input_lufs=lufs, input_crest_db=14.0,
                          input_true_peak_dbtp=meter.true_peak_dbtp(), fingerprint=fp,
                          target_lufs=lufs + 12.0)
    assert plan.low_shelf_gain_db != 0.0
    return plan


def test_report_data_covers_the_track(track: Path, plan: MasteringPlan) -> None:
    data = collect(track, plan)
    assert data.loudness_times_s.size == data.loudness_after_lufs.size > 5
    # The render was raised: louder after than before, near the target where it is loud.
    assert np.nanmedian(data.loudness_after_lufs - data.loudness_before_lufs) > 3.0
    assert data.reduction_times_s[-1] == pytest.approx(DURATION_S, abs=0.2)
    assert data.gain_reduction_db.max() > 0.5  # the limiter worked, and the trace shows it
    assert np.all(data.gain_reduction_db >= 0.0)
    assert data.spectrum_hz.size == data.spectrum_before_db.size == data.eq_curve_db.size
    low = data.spectrum_hz < 60.0
    assert np.allclose(data.eq_curve_db[low], plan.low_shelf_gain_db, atol=1.0)


def test_figure_has_three_panels_and_the_reasons_as_caption(track: Path,
                                                            plan: MasteringPlan) -> None:
    figure = build_figure(collect(track, plan))
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert len(titles) == 3
    assert any("loudness" in title for title in titles)
    assert any("spectrum" in title for title in titles)
    assert any("gain reduction" in title for title in titles)
    loudness_axis = figure.axes[0]
    assert len(loudness_axis.get_lines()) == 3  # before, after, target
    caption = figure.get_supxlabel() if hasattr(figure, "get_supxlabel") else ""
    assert plan.reasons[0] in caption


def test_report_writes_a_png(track: Path, plan: MasteringPlan, tmp_path: Path) -> None:
    out = write_report(track, plan, tmp_path / "report.png")
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > MIN_PNG_BYTES


def test_missing_matplotlib_is_a_clear_error(track: Path, plan: MasteringPlan, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingReportDependency, match=r"pip install .*report"):
        write_report(track, plan, tmp_path / "report.png")
    assert not (tmp_path / "report.png").exists()


def test_render_cli_report_writes_the_png(track: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "what-it-did.png"
    status = main_render([str(track), str(tmp_path / "out.wav"), "--report", str(png),
                          "--no-fingerprint"])
    assert status == 0, capsys.readouterr().err
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert png.stat().st_size > MIN_PNG_BYTES
    assert json.loads(capsys.readouterr().out)["report"] == str(png)


def test_render_cli_report_without_matplotlib_fails_before_rendering(
        track: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    out = tmp_path / "out.wav"
    status = main_render([str(track), str(out), "--report", str(tmp_path / "r.png")])
    assert status == 2
    assert "matplotlib" in capsys.readouterr().err
    assert not out.exists()
