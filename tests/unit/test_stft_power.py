"""The fingerprint's short-time power spectra (``shared._kernels.stft_power``, used by
``fingerprint_service.features.frames``): the DFT of every windowed frame, to single precision,
for every frame length and bin range, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from fingerprint_service.features.frames import analyse_frames, stft_config
from shared._kernels import stft_power

#: Error of a single-precision FFT, relative to the largest power of the frame set (what
#: scipy.fft.rfft of float32 frames gives: 2–3e-7).
SINGLE_PRECISION = 2e-6


def _twiddles(n: int) -> np.ndarray:
    angles = 2.0 * np.pi * np.arange(n // 2) / n
    return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def _definition(samples: np.ndarray, window: np.ndarray, hop: int, count: int) -> np.ndarray:
    n = window.shape[0]
    frames = np.lib.stride_tricks.sliding_window_view(samples[: (count - 1) * hop + n], n)[::hop]
    return np.abs(np.fft.rfft(frames.astype(np.float64) * window, axis=1)) ** 2


@pytest.mark.parametrize("n", [2, 4, 8, 64, 512, 2048, 4096, 16384])
@pytest.mark.parametrize("count", [1, 7, 8, 9, 37])
def test_each_row_is_the_power_spectrum_of_its_windowed_frame(n: int, count: int) -> None:
    rng = np.random.default_rng(n + count)
    hop = max(1, n // 2)
    samples = rng.standard_normal((count - 1) * hop + n).astype(np.float32)
    window = rng.uniform(0.1, 1.0, n).astype(np.float32)
    expected = _definition(samples, window, hop, count)
    out = np.full((count, n // 2 + 1), np.nan, np.float32)
    stft_power(samples, window, hop, _twiddles(n), 0, 1.0, out)
    assert np.max(np.abs(out - expected)) <= SINGLE_PRECISION * np.max(expected)


@pytest.mark.parametrize(("first", "bins"), [(0, 1), (0, 513), (512, 1), (5, 300), (100, 0)])
def test_a_bin_range_is_that_slice_of_the_spectrum_times_the_scale(first: int, bins: int) -> None:
    rng = np.random.default_rng(first)
    n, hop, count = 1024, 300, 11
    samples = rng.standard_normal((count - 1) * hop + n).astype(np.float32)
    window = np.hanning(n).astype(np.float32)
    expected = 0.25 * _definition(samples, window, hop, count)[:, first : first + bins]
    out = np.zeros((count, bins), np.float32)
    stft_power(samples, window, hop, _twiddles(n), first, 0.25, out)
    assert np.max(np.abs(out - expected), initial=0.0) <= SINGLE_PRECISION * np.max(
        expected, initial=0.0)


def test_a_sine_centred_on_a_bin_reads_one_in_that_bin() -> None:
    """The framer's scale: a full-scale sine on bin 93 of 2048 reads 1.0 there (the
    fingerprint's spectra are in units of a full-scale sine's power)."""
    config = stft_config(44_100)
    t = np.arange(config.n_fft * 4)
    samples = np.sin(2 * np.pi * 93 * t / config.n_fft).astype(np.float32)
    window = np.hanning(config.n_fft + 1)[:-1].astype(np.float32)
    power, _ = analyse_frames(samples, config, window, 3)
    peak_bin = 93 - config.band.start
    assert power[:, peak_bin] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"window": np.ones(12, np.float32)}, "power of two"),
        ({"window": np.ones(16, np.float64)}, "window must be a 1-D array of 'f'"),
        ({"twiddles": _twiddles(32)}, "twiddles must be a C-ordered"),
        ({"hop": 0}, "hop must be at least 1"),
        ({"first_bin": 8, "out": np.zeros((3, 2), np.float32)}, "bins must lie within"),
        ({"first_bin": -1}, "bins must lie within"),
        ({"samples": np.zeros(16 + 2 * 8 - 1, np.float32)}, "samples must hold"),
        ({"samples": np.zeros(80, np.float32)[::2]}, "samples and out must be C-ordered"),
    ],
)
def test_the_kernel_refuses_bad_buffers(change: dict, message: str) -> None:
    arguments = {"samples": np.zeros(40, np.float32), "window": np.ones(16, np.float32),
                 "hop": 8, "twiddles": _twiddles(16), "first_bin": 0,
                 "out": np.zeros((3, 9), np.float32)}
    arguments.update(change)
    with pytest.raises((TypeError, ValueError), match=message):
        stft_power(arguments["samples"], arguments["window"], arguments["hop"],
                   arguments["twiddles"], arguments["first_bin"], 1.0, arguments["out"])
    assert not arguments["out"].any()
