"""Sliding-window filters of a one-dimensional envelope: the smoothing, the peak picking and the
running baseline of the onset analysis (``rhythm``).

Each output value is the filter of the ``size`` input values centred on it (``size`` odd). Past
the ends the input reads as zero (``edge="zero"``) or as its end value (``edge="nearest"``):
the conventions, and the values, of scipy.ndimage's ``gaussian_filter1d``,
``maximum_filter1d`` and ``median_filter`` in the modes "constant" and "nearest".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
Edge = Literal["zero", "nearest"]

#: The Gaussian kernel is cut this many standard deviations from its centre.
GAUSSIAN_TRUNCATE_SDS = 4.0
#: Windows sorted at a time by ``sliding_median``: bounds its temporary to a few MB.
MEDIAN_ROWS_PER_PASS = 16_384


def gaussian_smooth(values: FloatArray, sd: float) -> FloatArray:
    """Convolution with a normalised Gaussian of ``sd`` samples, cut at
    ``GAUSSIAN_TRUNCATE_SDS``; zero past the ends."""
    if sd <= 0.0:
        raise ValueError(f"sd must be positive, got {sd}")
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] == 0:
        return values.copy()
    radius = int(GAUSSIAN_TRUNCATE_SDS * sd + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sd) ** 2)
    kernel /= kernel.sum()
    return np.convolve(values, kernel, mode="full")[radius : radius + values.shape[0]]


def _windows(values: FloatArray, size: int, edge: Edge) -> NDArray[np.float64]:
    """The ``size``-sample window centred on each value, as a strided view."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be odd and positive, got {size}")
    radius = size // 2
    padded = np.pad(np.asarray(values, dtype=np.float64), radius,
                    mode="constant" if edge == "zero" else "edge")
    return np.lib.stride_tricks.sliding_window_view(padded, size)


def sliding_max(values: FloatArray, size: int, *, edge: Edge) -> FloatArray:
    """Largest value of the window centred on each value."""
    if np.asarray(values).shape[0] == 0:
        return np.zeros(0)
    return np.asarray(_windows(values, size, edge).max(axis=1), dtype=np.float64)


def sliding_median(values: FloatArray, size: int, *, edge: Edge) -> FloatArray:
    """Median of the window centred on each value."""
    if np.asarray(values).shape[0] == 0:
        return np.zeros(0)
    windows = _windows(values, size, edge)
    out = np.empty(windows.shape[0])
    for start in range(0, windows.shape[0], MEDIAN_ROWS_PER_PASS):
        stop = start + MEDIAN_ROWS_PER_PASS
        out[start:stop] = np.median(windows[start:stop], axis=1)
    return out
