"""Types of ``shared._kernels`` (``shared/_kernels.c``)."""

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

def sos_filter(
    sos: NDArray[np.float64],
    state: NDArray[np.float64],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> None: ...
def sos_power(
    sos: NDArray[np.float64],
    state: NDArray[np.float64],
    x: NDArray[np.float64],
    weights: NDArray[np.float64],
    power: NDArray[np.float64],
) -> None: ...
def true_peak_rows(
    planar: NDArray[np.float64],
    rows: NDArray[np.int64],
    taps: NDArray[np.float32],
    pairs: int,
    out: NDArray[np.float32],
) -> None: ...
def true_peak_block(
    planar: NDArray[np.float64],
    first: int,
    end: int,
    delay: int,
    taps: NDArray[np.float32],
    pairs: int,
    gain_bound: float,
    floor: float,
    frame_floor: float,
    frame_peaks: NDArray[np.float64] | None,
) -> tuple[float, float]: ...
def encode_s16(x: NDArray[np.float64], first_key: int, out: NDArray[np.int16]) -> None: ...
def float_planes(
    planes: Sequence[NDArray[np.float32]], out: NDArray[np.float64], limit: float
) -> None: ...
def delayed_gain(
    x: NDArray[np.float64],
    held: NDArray[np.float64],
    gains: NDArray[np.float64],
    limit: float,
    out: NDArray[np.float64],
) -> float: ...
def ramp_gain(
    x: NDArray[np.float64],
    points: NDArray[np.float64],
    offset: int,
    ramp: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None: ...
def mid_side(x: NDArray[np.float64], side_gain: float, out: NDArray[np.float64]) -> None: ...
def level_segments(
    x: NDArray[np.float64],
    starts: NDArray[np.int64],
    sums: NDArray[np.float64],
    maxima: NDArray[np.float64],
) -> None: ...
def pair_moments(x: NDArray[np.float64], length: int, out: NDArray[np.float64]) -> None: ...
def running_median(
    values: NDArray[np.float32],
    size: int,
    pairs: NDArray[np.int64],
    out: NDArray[np.float32],
) -> None: ...
def stft_power(
    samples: NDArray[np.float32],
    window: NDArray[np.float32],
    hop: int,
    twiddles: NDArray[np.float32],
    first_bin: int,
    scale: float,
    out: NDArray[np.float32],
) -> None: ...
