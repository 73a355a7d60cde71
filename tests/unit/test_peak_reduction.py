"""The loudness-versus-peak-reduction curve (SPEC section 12): measured in the metering pass,
checked against real renders of the chain's limiter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mastering_service.analysis import analyze_reader
from shared.audio import open_audio
from shared.loudness import LoudnessMeter
from shared.peak_reduction import (
    CURVE_POINTS,
    DEFAULT_RELEASE_MS,
    ENVELOPE_PER_S,
    HOLD_CELLS,
    RELEASE_RECOVERED_FRACTION,
    envelope_meter,
    limiter_gains,
    limiter_release_ms,
    limiting_curves,
)
from tests.peak_reduction_check import prediction_errors
from tests.signals import music_like, write_wav

# The curve is the one TrackInfo carries, checked here on synthetic music; every corpus track is
# checked the same way in tests/corpus/test_peak_reduction_corpus.py.

RATE = 44_100
#: SPEC section 12 / issue: predicted versus rendered within 0.2 LU for x ≤ 6 dB.
TOLERANCE_LU = 0.2


def _metered(
    signal: np.ndarray, block_frames: int = 65_536
) -> tuple[LoudnessMeter, list[np.ndarray]]:
    meter = envelope_meter(RATE, signal.shape[1])
    blocks = [signal[i : i + block_frames] for i in range(0, signal.shape[0], block_frames)]
    for block in blocks:
        meter.feed(block)
    return meter, blocks


@pytest.mark.parametrize("release_ms", [50.0, 150.0, 300.0])
def test_the_curve_predicts_a_render_of_the_limiter_within_0_2_lu(release_ms: float) -> None:
    signal = music_like(12.0, RATE, crest_shape=1.5, level_dbfs=-3.0)
    meter, blocks = _metered(signal)
    curve = limiting_curves(meter, release_ms).loudness_lufs
    errors = prediction_errors(blocks, RATE, meter.true_peak_dbtp(), curve, release_ms,
                               (1.0, 2.0, 4.0, 6.0))
    assert max(abs(e) for e in errors.values()) <= TOLERANCE_LU, errors


def test_the_curve_starts_at_the_loudness_and_never_rises() -> None:
    meter, _ = _metered(music_like(8.0, RATE))
    curve = np.array(limiting_curves(meter, DEFAULT_RELEASE_MS).loudness_lufs)
    assert curve.size == CURVE_POINTS
    assert curve[0] == meter.integrated_lufs()
    assert np.all(np.diff(curve) <= 0.0)
    # Each dB of limiting costs less than a dB of loudness (the gain stays solvable).
    assert np.all(np.diff(curve) >= -0.5 - 1e-9)  # per 0.5 dB step
    assert curve[-1] < curve[0] - 0.5  # 12 dB of limiting is not free on music


def test_the_curve_does_not_depend_on_the_block_size() -> None:
    signal = music_like(6.0, RATE)
    reference = limiting_curves(_metered(signal)[0], DEFAULT_RELEASE_MS)
    for block_frames in (1_000, 7_919):
        curves = limiting_curves(_metered(signal, block_frames)[0], DEFAULT_RELEASE_MS)
        np.testing.assert_allclose(curves.loudness_lufs, reference.loudness_lufs, atol=1e-9)
        np.testing.assert_allclose(curves.loudness_range_lu, reference.loudness_range_lu,
                                   atol=1e-9)


def test_silence_gives_a_flat_finite_curve() -> None:
    meter, _ = _metered(np.zeros((RATE * 2, 2)))
    curve = limiting_curves(meter, DEFAULT_RELEASE_MS).loudness_lufs
    assert all(np.isfinite(curve)) and len(set(curve)) == 1


def test_the_fallback_analysis_gives_the_same_curve_through_the_same_code(tmp_path: Path) -> None:
    signal = music_like(8.0, RATE, crest_shape=1.2)
    path = write_wav(tmp_path / "track.wav", signal, RATE)
    with open_audio(path) as reader:
        analysis = analyze_reader(reader)
        decoded = np.concatenate(list(reader.blocks()))
    meter, _ = _metered(decoded)
    curves = limiting_curves(meter, limiter_release_ms(None))
    assert analysis.limited_loudness_lufs == pytest.approx(curves.loudness_lufs, abs=1e-9)
    assert analysis.limited_loudness_range_lu == pytest.approx(curves.loudness_range_lu, abs=1e-9)


def test_the_release_follows_the_tempo_within_50_to_300_ms() -> None:
    assert limiter_release_ms(120.0) == pytest.approx(125.0)
    assert limiter_release_ms(30.0) == 300.0 and limiter_release_ms(400.0) == 50.0
    assert limiter_release_ms(0.0) == DEFAULT_RELEASE_MS == limiter_release_ms(None)


def test_the_range_curve_starts_at_the_tracks_range_and_limiting_flattens_it() -> None:
    # Loud bursts over a quiet bed: limiting the bursts narrows the loudness range.
    quiet = music_like(12.0, RATE, crest_shape=1.0, level_dbfs=-20.0)
    loud = music_like(12.0, RATE, crest_shape=1.0, level_dbfs=-1.0)
    signal = np.concatenate([quiet, loud, quiet, loud])
    meter, _ = _metered(signal)
    curves = limiting_curves(meter, DEFAULT_RELEASE_MS)
    assert curves.loudness_range_lu[0] == meter.loudness_range_lu()
    assert curves.loudness_range_lu[-1] < curves.loudness_range_lu[0] - 3.0


@pytest.mark.parametrize("cells", [1, 2, 3, 200])
def test_the_replayed_gains_are_the_limiters_definition(cells: int) -> None:
    # Cell by cell: the lowest min(1, threshold / peak) within HOLD_CELLS either side (the ends
    # repeat), then the release as a running minimum in u = −ln(1 − g) rising at 1/τ a cell.
    rng = np.random.default_rng(cells)
    peaks = rng.uniform(0.0, 1.0, cells) ** 3
    peaks[rng.integers(0, cells)] = 0.0  # a silent cell
    reductions = np.array([0.0, 0.5, 3.0, 12.0])
    release_ms = 120.0
    got = limiter_gains(peaks, reductions, release_ms)
    tau = release_ms / 1000.0 * ENVELOPE_PER_S / np.log(1.0 / (1.0 - RELEASE_RECOVERED_FRACTION))
    for row, reduction in enumerate(reductions):
        threshold = peaks.max() * 10.0 ** (-reduction / 20.0)
        need = [1.0 if p <= threshold else threshold / p for p in peaks]
        window = range(-HOLD_CELLS, HOLD_CELLS + 1)
        held = [min(need[min(cells - 1, max(0, i + k))] for k in window) for i in range(cells)]
        u = [min(40.0, -np.log1p(-g)) if g < 1.0 else 40.0 for g in held]
        released = [min(u[j] + (i - j) / tau for j in range(i + 1)) for i in range(cells)]
        expected = [1.0 if r >= 40.0 else -np.expm1(-r) for r in released]
        np.testing.assert_allclose(got[row], expected, rtol=1e-12, atol=1e-15)
