"""True-peak detector: per-frame peaks of ``measure`` (SPEC section 5 meters, the envelope the
loudness-versus-peak-reduction curve of section 12 is replayed from)."""

from __future__ import annotations

import numpy as np
import pytest

from shared._kernels import true_peak_block, true_peak_rows
from shared.true_peak import TruePeakDetector

RATE = 44_100


def _signal(seconds: float, seed: int = 5) -> np.ndarray:
    """Noise under a slow swell, with a few near-Nyquist bursts whose peaks lie between samples."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    swell = 0.02 + 0.5 * (1 + np.sin(2 * np.pi * 0.7 * t)) / 2
    x = rng.normal(0.0, 0.2, (n, 2)) * swell[:, None]
    burst = np.sin(2 * np.pi * (RATE / 4 - 50) * t + 0.7) * 0.9
    for start in rng.integers(0, n - 2000, 6):
        x[start : start + 1500, 0] += burst[start : start + 1500]
    return x


def test_frame_peaks_are_exact_wherever_a_frame_exceeds_the_frame_floor() -> None:
    x = _signal(2.0)
    exact = TruePeakDetector(RATE, 2).process(x)
    frame_floor = 0.3
    detector = TruePeakDetector(RATE, 2)
    pieces, position = [], 0
    for size in [1000, 17, 4096, 33_333, 5, 40_000, 20_000]:
        block = x[position : position + size]
        position += block.shape[0]
        peaks = detector.measure(block, 0.0, frame_floor)
        assert peaks.frame_peaks is not None
        pieces.append(peaks.frame_peaks)
    assert position == x.shape[0]
    measured = np.concatenate(pieces)
    loud = exact > frame_floor
    assert loud.sum() > 1000
    np.testing.assert_allclose(measured[loud], exact[loud], rtol=1e-12, atol=0.0)
    assert np.all(measured <= exact + 1e-12)


@pytest.mark.parametrize(
    ("planar", "rows", "out", "message"),
    [
        (np.zeros((2, 64)), np.array([3]), np.zeros((1, 16), np.float32), "outside planar"),
        (np.zeros((2, 64)), np.array([-1]), np.zeros((1, 16), np.float32), "outside planar"),
        (np.zeros((2, 64)), np.array([0]), np.zeros((1, 12), np.float32), "multiple of 8"),
        (np.zeros((2, 64)), np.array([0, 1]), np.zeros((1, 16), np.float32), "one row per"),
        (np.zeros((2, 64), np.float32), np.array([0]), np.zeros((1, 16), np.float32), "'d'"),
        (np.zeros((2, 64)), np.array([0], np.int32), np.zeros((1, 16), np.float32), "'q'"),
        (np.zeros((2, 64)), np.array([0]), np.zeros((1, 16)), "'f'"),
    ],
)
def test_the_row_kernel_refuses_what_it_cannot_run(
    planar: np.ndarray, rows: np.ndarray, out: np.ndarray, message: str
) -> None:
    """Every window is checked before the loop runs: a bad call is an exception, never a read
    outside the buffer."""
    taps = np.ones((3, 8), dtype=np.float32)  # one mirrored pair and a middle phase
    with pytest.raises((TypeError, ValueError), match=message):
        true_peak_rows(planar, rows, taps, 1, out)


@pytest.mark.parametrize(
    ("width", "first", "end", "delay", "frame_peaks", "message"),
    [
        (64, 0, 50, 8, None, "first and end"),  # the last outputs' windows leave the buffer
        (64, 16, 20, 8, None, "first and end"),  # first is past the buffer's first row
        (64, 5, 3, 8, None, "first and end"),
        (60, 0, 20, 8, None, "first and end"),  # not whole rows
        (64, 0, 20, 3, None, "multiple of 8"),
        (64, 0, 20, 8, np.zeros(19), "end - first"),
    ],
)
def test_the_block_kernel_refuses_what_it_cannot_run(
    width: int, first: int, end: int, delay: int, frame_peaks: np.ndarray | None, message: str
) -> None:
    taps = np.ones((3, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        true_peak_block(np.zeros((2, width)), first, end, delay, taps, 1, 1.5, 0.0, -1.0,
                        frame_peaks)


@pytest.mark.parametrize(("taps", "pairs"), [(np.ones((3, 8), np.float32), 2),
                                             (np.ones((4, 8), np.float32), 1),
                                             (np.ones((3, 9), np.float32), 1)])
def test_the_row_kernel_refuses_taps_that_are_not_a_mirrored_form(
    taps: np.ndarray, pairs: int
) -> None:
    with pytest.raises(ValueError, match="taps must"):
        true_peak_rows(np.zeros((2, 64)), np.array([0]), taps, pairs,
                       np.zeros((1, 16), np.float32))
