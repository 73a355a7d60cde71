"""The HPSS median filter (``fingerprint_service.features.tonal.median_filter_axis``): the median
of every reflected window, exactly, and its compiled kernel's refusals."""

from __future__ import annotations

import numpy as np
import pytest

from fingerprint_service.features.tonal import median_filter_axis, median_network
from shared._kernels import running_median


def _definition(values: np.ndarray, size: int, axis: int) -> np.ndarray:
    radius = size // 2
    pad = [(radius, radius) if a == axis else (0, 0) for a in range(2)]
    padded = np.pad(values, pad, mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, size, axis=axis)
    return np.median(windows, axis=-1).astype(np.float32)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize(
    ("shape", "size"),
    [((300, 37), 11), ((300, 37), 9), ((5, 16), 3), ((2, 9), 3), ((40, 8), 1), ((64, 3), 21)],
)
def test_the_median_filter_is_the_median_of_every_reflected_window(
    shape: tuple[int, int], size: int, axis: int
) -> None:
    rng = np.random.default_rng(size)
    values = (rng.standard_normal(shape) ** 2).astype(np.float32)
    values[::4] = values[::4].round(1)  # ties
    assert np.array_equal(median_filter_axis(values, size, axis), _definition(values, size, axis))


def test_a_column_shorter_than_the_window_is_reflected_again_and_again() -> None:
    values = np.array([[1.0], [5.0], [2.0]], dtype=np.float32)
    # Reflected without repeating the ends: 5 2 5 [1 5 2] 5 1 5, so the windows of 7 hold
    # 1 2 2 5 5 5 5, 1 1 2 2 5 5 5 and 1 2 2 5 5 5 5.
    assert median_filter_axis(values, 7, 0)[:, 0].tolist() == [5.0, 2.0, 5.0]


@pytest.mark.parametrize(
    ("values", "size", "pairs", "message"),
    [
        (np.zeros((4, 4), np.float64), 3, median_network(3), "values must be a 2-D array of 'f'"),
        (np.zeros((4, 4), np.float32), 4, median_network(3), "size must be odd"),
        (np.zeros((4, 4), np.float32)[:, ::2], 3, median_network(3), "values must be C-ordered"),
        (np.zeros((4, 4), np.float32), 3, ((0, 3),), "pairs must index the window"),
        (np.full((4, 4), np.nan, np.float32), 3, median_network(3), "values must be finite"),
    ],
)
def test_the_kernel_refuses_bad_buffers(
    values: np.ndarray, size: int, pairs: tuple[tuple[int, int], ...], message: str
) -> None:
    out = np.zeros(values.shape, np.float32)
    with pytest.raises((TypeError, ValueError), match=message):
        running_median(values, size, np.array(pairs, dtype=np.int64).reshape(-1, 2), out)
    assert not out.any()
