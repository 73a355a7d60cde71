"""The onset analysis' window filters (``fingerprint_service.features.sliding``) give
scipy.ndimage's values in the edge modes they stand for, and the limiter's running minimum
(``mastering_service.chain.limiter.window_minima``) is the minimum of every whole window."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from fingerprint_service.features.sliding import gaussian_smooth, sliding_max, sliding_median
from mastering_service.chain.limiter import window_minima

LENGTHS = [1, 2, 5, 23, 1000]
MODES = {"zero": "constant", "nearest": "nearest"}


def _envelope(length: int) -> np.ndarray:
    values = np.random.default_rng(length).standard_normal(length)
    values[::3] = values[::3].round(0)  # ties
    return values


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("sd", [0.5, 1.0, 2.5])
def test_gaussian_smooth_is_ndimages_gaussian_filter_with_zero_edges(length: int, sd: float
                                                                     ) -> None:
    values = _envelope(length)
    expected = ndimage.gaussian_filter1d(values, sd, mode="constant")
    assert np.allclose(gaussian_smooth(values, sd), expected, rtol=0.0, atol=1e-14)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("size", [1, 3, 5, 9])
@pytest.mark.parametrize("edge", ["zero", "nearest"])
def test_sliding_max_is_ndimages_maximum_filter(length: int, size: int, edge: str) -> None:
    values = _envelope(length)
    expected = ndimage.maximum_filter1d(values, size, mode=MODES[edge])
    assert np.array_equal(sliding_max(values, size, edge=edge), expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("size", [1, 3, 23, 51])
def test_sliding_median_is_ndimages_median_filter_with_nearest_edges(length: int, size: int
                                                                     ) -> None:
    values = _envelope(length)
    expected = ndimage.median_filter(values, size, mode="nearest")
    assert np.array_equal(sliding_median(values, size, edge="nearest"), expected)


def test_sliding_median_is_the_same_across_its_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    import fingerprint_service.features.sliding as sliding

    values = _envelope(1000)
    whole = sliding_median(values, 23, edge="nearest")
    monkeypatch.setattr(sliding, "MEDIAN_ROWS_PER_PASS", 7)
    assert np.array_equal(sliding_median(values, 23, edge="nearest"), whole)


def test_the_filters_refuse_an_even_window_and_take_an_empty_envelope() -> None:
    with pytest.raises(ValueError, match="size must be odd"):
        sliding_max(np.ones(5), 4, edge="zero")
    with pytest.raises(ValueError, match="sd must be positive"):
        gaussian_smooth(np.ones(5), 0.0)
    assert sliding_median(np.zeros(0), 3, edge="nearest").shape == (0,)
    assert gaussian_smooth(np.zeros(0), 1.0).shape == (0,)


@pytest.mark.parametrize("length", [1, 82, 83, 84, 166, 167, 1000])
@pytest.mark.parametrize("window", [1, 2, 83])
def test_window_minima_are_the_minimum_of_every_whole_window(length: int, window: int) -> None:
    values = np.random.default_rng(length).integers(0, 2**32, length).astype(np.int64)
    expected = [int(values[j : j + window].min()) for j in range(length - window + 1)]
    assert window_minima(values, window).tolist() == expected
