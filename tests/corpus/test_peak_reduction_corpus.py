"""The curve every fingerprint carries (``TrackInfo.limited_loudness_lufs``) against real renders
of the chain's limiter on every corpus track: within 0.2 LU for x ≤ 6 dB of peak reduction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fingerprint_service.extractor import extract
from shared.audio import open_audio
from shared.peak_reduction import limiter_release_ms
from tests.conftest import corpus_tracks
from tests.peak_reduction_check import prediction_errors

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

TOLERANCE_LU = 0.2
REDUCTIONS_DB = (2.0, 4.0, 6.0)


@pytest.mark.parametrize("track", corpus_tracks(), ids=lambda path: path.stem)
def test_the_fingerprints_curve_predicts_the_limiter_within_0_2_lu(track: Path) -> None:
    fingerprint, info = extract(track)
    with open_audio(track) as reader:
        blocks = list(reader.blocks())
    errors = prediction_errors(blocks, info.sample_rate, info.true_peak_dbtp,
                               info.limited_loudness_lufs,
                               limiter_release_ms(fingerprint.tempo_bpm), REDUCTIONS_DB)
    worst = max(abs(error) for error in errors.values())
    assert worst <= TOLERANCE_LU, {x: round(e, 3) for x, e in errors.items()}
    assert np.isfinite(info.limited_loudness_lufs).all()
