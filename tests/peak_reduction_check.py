"""The measured loudness-versus-peak-reduction curve against what the chain's own limiter does:
render the track with the gain that pushes its peaks x dB over the limiter's threshold and
measure the result (shared by the unit and the corpus tests)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mastering_service.chain.gain import StaticGain
from mastering_service.chain.limiter import SAFETY_MARGIN_DB, TruePeakLimiter
from shared.loudness import LoudnessMeter
from shared.peak_reduction import reductions_db

CEILING_DBTP = -1.0


def limited_loudness(blocks: Sequence[np.ndarray], sample_rate: int, true_peak_dbtp: float,
                     reduction_db: float, release_ms: float) -> tuple[float, float]:
    """(gain, measured integrated loudness) of the limiter alone with its threshold
    ``reduction_db`` under the track's true peak."""
    channels = blocks[0].shape[1]
    gain_db = reduction_db + (CEILING_DBTP - SAFETY_MARGIN_DB) - true_peak_dbtp
    limiter = TruePeakLimiter(sample_rate, channels, CEILING_DBTP, release_ms)
    gain = StaticGain(gain_db)
    meter = LoudnessMeter(sample_rate, channels, measure_true_peak=False)
    for block in blocks:
        meter.feed(limiter.process(gain.process(block)))
    meter.feed(limiter.process(np.zeros((limiter.latency_frames, channels))))
    return gain_db, meter.integrated_lufs()


def prediction_errors(blocks: Sequence[np.ndarray], sample_rate: int, true_peak_dbtp: float,
                      curve: Sequence[float], release_ms: float,
                      reductions: Sequence[float]) -> dict[float, float]:
    """Predicted minus measured loudness, LU, at each reduction."""
    errors = {}
    for x in reductions:
        gain_db, measured = limited_loudness(blocks, sample_rate, true_peak_dbtp, x, release_ms)
        predicted = float(np.interp(x, reductions_db(), curve)) + gain_db
        errors[x] = predicted - measured
    return errors
