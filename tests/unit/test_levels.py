"""The level meter: crest factor, silence ratio and per-100 ms frames (SPEC section 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared._kernels import level_segments
from shared.levels import SILENCE_DBFS, LevelMeter
from tests.signals import Signal, music_like, sine, white_noise


def metered(x: Signal, sample_rate: int) -> LevelMeter:
    meter = LevelMeter(sample_rate, x.shape[1])
    meter.feed(x)
    return meter


def test_crest_of_a_sine_is_3_01_db() -> None:
    """SPEC fixture: 1 kHz stereo sine at −23 dBFS, 20 s → crest_db 3.0 ± 0.1."""
    meter = metered(sine(1000.0, -23.0, 20.0, 44_100), 44_100)
    assert meter.crest_db() == pytest.approx(10.0 * math.log10(2.0), abs=0.01)


def test_crest_of_a_full_scale_square_is_0_db() -> None:
    rate = 48_000
    square = np.where(np.sin(2 * np.pi * 1000.0 * np.arange(rate * 2) / rate + 0.1) >= 0, 1.0, -1.0)
    meter = metered(np.stack([square, square], axis=1), rate)
    assert meter.crest_db() == pytest.approx(0.0, abs=1e-9)
    assert meter.sample_peak() == 1.0


def test_silence_ratio_of_2_s_silence_then_8_s_tone_is_0_2() -> None:
    rate = 44_100
    x = np.concatenate([np.zeros((2 * rate, 2)), sine(440.0, -20.0, 8.0, rate)])
    meter = metered(x, rate)
    assert meter.silence_ratio() == pytest.approx(0.2, abs=0.02)
    assert meter.frame_rms_db().size == 100


def test_crest_ignores_silent_frames() -> None:
    rate = 44_100
    x = np.concatenate([np.zeros((2 * rate, 2)), sine(440.0, -20.0, 8.0, rate)])
    assert metered(x, rate).crest_db() == pytest.approx(3.01, abs=0.01)


def test_crest_uses_the_level_of_the_channels_not_of_the_mono_mix() -> None:
    """Independent L/R noise: the mono mix is 3 dB quieter than each channel, but the crest is
    that of the channels (what the speakers play); L = −R is not mistaken for silence."""
    rate = 22_050
    independent = white_noise(-6.0, 5.0, rate, channels=2)
    per_channel = [metered(independent[:, [c]], rate).crest_db() for c in range(2)]
    assert metered(independent, rate).crest_db() == pytest.approx(np.mean(per_channel), abs=0.1)
    tone = sine(1000.0, -20.0, 3.0, rate, channels=1)[:, 0]
    opposed = metered(np.stack([tone, -tone], axis=1), rate)
    assert opposed.silence_ratio() == 1.0  # the mono mix is silent …
    assert opposed.crest_db() == pytest.approx(3.01, abs=0.01)  # … the speakers are not


def test_digital_silence_gives_finite_results() -> None:
    meter = metered(np.zeros((48_000 * 3, 2)), 48_000)
    assert meter.crest_db() == 0.0
    assert meter.silence_ratio() == 1.0
    assert meter.sample_peak() == 0.0
    for values in (meter.frame_rms_db(), meter.frame_channel_rms_db(), meter.frame_peak()):
        assert values.size == 30
        assert np.isfinite(values).all()
    assert (meter.frame_rms_db() < SILENCE_DBFS).all()


def test_no_audio_gives_finite_results() -> None:
    meter = LevelMeter(44_100, 2)
    assert meter.crest_db() == 0.0
    assert meter.silence_ratio() == 0.0
    assert meter.frame_rms_db().size == 0


def test_a_final_partial_frame_counts_from_50_ms() -> None:
    rate = 8_000
    assert metered(np.zeros((800 * 3 + 399, 1)), rate).frame_rms_db().size == 3
    assert metered(np.zeros((800 * 3 + 400, 1)), rate).frame_rms_db().size == 4
    assert metered(np.zeros((100, 1)), rate).frame_rms_db().size == 1  # all there is


def test_frame_arrays_describe_each_100_ms() -> None:
    rate = 16_000
    x = np.concatenate([sine(500.0, -10.0, 1.0, rate), sine(500.0, -30.0, 1.0, rate)])
    meter = metered(x, rate)
    rms_db, peak = meter.frame_rms_db(), meter.frame_peak()
    assert rms_db.shape == peak.shape == (20,)
    np.testing.assert_allclose(rms_db[:10], -13.01, atol=0.01)
    np.testing.assert_allclose(rms_db[10:], -33.01, atol=0.01)
    np.testing.assert_allclose(peak[:10], 10 ** (-10 / 20), rtol=1e-3)
    assert meter.sample_peak() == pytest.approx(peak.max())


@pytest.mark.parametrize("sample_rate", [11_025, 44_100])
def test_level_meter_is_chunk_invariant(sample_rate: int) -> None:
    x = music_like(2.5, sample_rate)
    x[: sample_rate // 2] = 0.0
    whole = metered(x, sample_rate)
    pieces = LevelMeter(sample_rate, 2)
    rng = np.random.default_rng(sample_rate)
    start = 0
    while start < x.shape[0]:
        size = 1 if rng.random() < 0.3 else int(rng.integers(2, 3_000))
        pieces.feed(x[start : start + size])
        start += size
    np.testing.assert_allclose(pieces.frame_rms_db(), whole.frame_rms_db(), atol=1e-9)
    np.testing.assert_array_equal(pieces.frame_peak(), whole.frame_peak())
    assert pieces.crest_db() == pytest.approx(whole.crest_db(), abs=1e-9)
    assert pieces.silence_ratio() == whole.silence_ratio()
    assert pieces.sample_peak() == whole.sample_peak()


@pytest.mark.parametrize("level", [0.3, 0.7071, 1.0])
def test_crest_is_never_negative(level: float) -> None:
    """Constant |x| (peak equal to RMS): 0 dB, never a rounding error below it."""
    x = np.full((44_100, 2), level)
    x[::2, 1] = -level
    crest = metered(x, 44_100).crest_db()
    assert crest >= 0.0
    assert crest == pytest.approx(0.0, abs=1e-9)


# --- the compiled pass ----------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 3, 8])
def test_level_segments_are_the_definition_per_segment(channels: int) -> None:
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((5_000, channels + 1))[:, 1:]  # a strided view, as blocks may be
    starts = np.array([0, 1, 1, 700, 4_410, 4_999], dtype=np.int64)
    sums, maxima = np.empty((starts.size, 2)), np.empty(starts.size)
    level_segments(x, starts, sums, maxima)
    share = 1.0 if channels == 1 else 1.0 / channels
    mono = (x * share).sum(axis=1)
    power = (x * x * share).sum(axis=1)
    for j, (first, end) in enumerate(zip(starts, [*starts[1:], x.shape[0]], strict=True)):
        assert sums[j, 0] == pytest.approx((mono[first:end] ** 2).sum(), rel=1e-12, abs=0.0)
        assert sums[j, 1] == pytest.approx(power[first:end].sum(), rel=1e-12, abs=0.0)
        assert maxima[j] == (np.abs(x[first:end]).max() if end > first else 0.0)


@pytest.mark.parametrize(
    ("x", "starts", "sums_shape", "message"),
    [
        (np.zeros((10, 2), dtype=np.float32), [0], (1, 2), "x must be a 2-D array of 'd'"),
        (np.zeros(10), [0], (1, 2), "x must be a 2-D array"),
        (np.zeros((10, 2)), [1], (1, 2), "starts must begin at 0"),
        (np.zeros((10, 2)), [0, 5, 3], (3, 2), "starts must ascend"),
        (np.zeros((10, 2)), [0, 11], (2, 2), "starts must ascend within the frames"),
        (np.zeros((10, 2)), [0, 5], (1, 2), "sums must be"),
        (np.zeros((10, 0)), [0], (1, 2), "at least one channel"),
    ],
)
def test_level_segments_refuse_buffers_of_the_wrong_type_or_shape(
    x: np.ndarray, starts: list[int], sums_shape: tuple[int, int], message: str
) -> None:
    sums = np.zeros(sums_shape)
    maxima = np.zeros(sums_shape[0])
    with pytest.raises((TypeError, ValueError), match=message):
        level_segments(x, np.array(starts, dtype=np.int64), sums, maxima)
    assert not sums.any() and not maxima.any()


def test_level_segments_refuse_read_only_outputs() -> None:
    sums = np.zeros((1, 2))
    sums.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        level_segments(np.ones((4, 2)), np.zeros(1, dtype=np.int64), sums, np.zeros(1))
