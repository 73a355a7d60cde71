"""The DSP stages of the mastering chain (SPEC section 6), one invariant per test.

Every stage: chunk invariance, silence stays silence, finite output on pathological input, mono
stays mono, any rate 8–192 kHz. Then what each stage is for: the high-pass corner, the shelf
gains, the width arithmetic, the limiter's ceiling / latency / release, the expander's crest
gain, the compressor's cap, and the encoder's bytes and WAV header.
"""

from __future__ import annotations

import io
import sys
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray
from scipy import signal

from mastering_service.chain.dynamics import GentleCompressor, TransientExpander
from mastering_service.chain.encoding import (
    S16_SCALE,
    SILENCE_THRESHOLD,
    Encoder,
    tpdf_dither_lsb,
    wav_header,
    wav_trailer,
)
from mastering_service.chain.gain import StaticGain
from mastering_service.chain.highpass import HighPass
from mastering_service.chain.limiter import DEFAULT_LOOKAHEAD_MS, HOLD_MS, TruePeakLimiter
from mastering_service.chain.stage import SosFilter, Stage
from mastering_service.chain.tonal_eq import TonalEQ
from mastering_service.chain.width import MidSideWidth
from shared._kernels import delayed_gain, encode_s16, mid_side, ramp_gain
from shared.loudness import integrated_loudness
from tests.signals import db_to_amplitude, ffmpeg_ebur128, music_like, sine

Signal = NDArray[np.float64]

RATES = [8_000, 44_100, 48_000, 96_000, 192_000]
CEILING_DBTP = -1.0

STAGES: dict[str, Callable[[int, int], Stage]] = {
    "highpass": lambda rate, ch: HighPass(rate, ch),
    "tonal_eq": lambda rate, ch: TonalEQ(rate, ch, 2.5, -2.0),
    "expander": lambda rate, ch: TransientExpander(rate, ch, 1.0),
    "compressor": lambda rate, ch: GentleCompressor(rate, ch, -20.0, 3.0, 10.0, 100.0, 6.0),
    "highpass+tonal_eq": lambda rate, ch: SosFilter.cascade(HighPass(rate, ch),
                                                             TonalEQ(rate, ch, 2.5, -2.0)),
    "width": lambda rate, ch: MidSideWidth(ch, 2.0),
    "gain": lambda rate, ch: StaticGain(-3.0),
    "limiter": lambda rate, ch: TruePeakLimiter(rate, ch, CEILING_DBTP, 100.0),
}


def process_whole(stage: Stage, x: Signal) -> Signal:
    return stage.process(x)


def process_in_pieces(stage: Stage, x: Signal, seed: int = 0) -> Signal:
    """Empty blocks, a run of 1-frame blocks, then random sizes up to 3000 frames."""
    rng = np.random.default_rng(seed)
    sizes = [0, *([1] * 64), 0]
    while sum(sizes) < x.shape[0]:
        sizes.append(int(rng.integers(1, 3000)))
    out, start = [], 0
    for size in sizes:
        out.append(stage.process(x[start : start + size]))
        start += size
    return np.concatenate(out)


def exercising_signal(rate: int, channels: int = 2, duration_s: float = 0.25) -> Signal:
    """Loud, squashed music with a kick at t = 0 (+6 dB over full scale): every stage acts."""
    x = music_like(duration_s, rate, level_dbfs=6.0, crest_shape=0.5)
    return x[:, :channels] if channels <= 2 else np.tile(x, (1, 3))[:, :channels]


def true_peak_8x_dbtp(y: Signal) -> float:
    """Independent true peak: 8× polyphase resampling (scipy's own filter, not the detector's)."""
    upsampled = signal.resample_poly(y, 8, 1, axis=0)
    return float(20.0 * np.log10(max(np.abs(upsampled).max(), 1e-12)))


def sample_peak_dbfs(y: Signal) -> float:
    return float(20.0 * np.log10(max(np.abs(y).max(), 1e-12)))


def steady_gain_db(stage: Stage, freq_hz: float, rate: int, channels: int = 1) -> float:
    """Gain of ``stage`` for a sine, measured over the last half of 2 s (after settling)."""
    x = sine(freq_hz, -20.0, 2.0, rate, channels)
    y = stage.process(x)
    half = x.shape[0] // 2
    return float(10.0 * np.log10(np.mean(y[half:] ** 2) / np.mean(x[half:] ** 2)))


def crest_db(x: Signal, rate: int) -> float:
    """SPEC dim 9: sample peak over the RMS of the non-silent 100 ms frames."""
    hop = rate // 10
    frames = x[: x.shape[0] // hop * hop].reshape(-1, hop, x.shape[1])
    power = (frames**2).mean(axis=(1, 2))
    rms = np.sqrt(power[power > 1e-6].mean())
    return float(20.0 * np.log10(np.abs(x).max() / rms))


def pathological_inputs(rate: int, duration_s: float = 0.5) -> dict[str, Signal]:
    n = int(duration_s * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(5)
    square = np.sign(np.sin(2 * np.pi * 997.0 * t))
    impulses = np.zeros(n)
    impulses[:: max(1, rate // 7)] = 1.0
    impulses[3 :: max(1, rate // 5)] = -1.0
    stereo = {
        "full_scale_square": np.stack([square, square], axis=1),
        "dc": np.ones((n, 2)),
        "impulses": np.stack([impulses, -impulses], axis=1),
        "clipped_noise": np.clip(rng.standard_normal((n, 2)) * 0.7, -1.0, 1.0),
    }
    return stereo


# --- every stage ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STAGES)
def test_chunk_invariance_with_one_frame_and_random_blocks(name: str) -> None:
    rate = 44_100
    x = exercising_signal(rate)
    whole = process_whole(STAGES[name](rate, 2), x)
    pieces = process_in_pieces(STAGES[name](rate, 2), x)
    assert pieces.shape == whole.shape == x.shape
    np.testing.assert_allclose(pieces, whole, rtol=0.0, atol=1e-9)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", STAGES)
def test_every_rate_chunk_invariant_and_finite(name: str, rate: int) -> None:
    x = exercising_signal(rate, duration_s=0.3)
    whole = process_whole(STAGES[name](rate, 2), x)
    pieces = process_in_pieces(STAGES[name](rate, 2), x, seed=rate)
    assert np.isfinite(whole).all()
    np.testing.assert_allclose(pieces, whole, rtol=0.0, atol=1e-9)


@pytest.mark.parametrize("rate", [8_000, 44_100, 192_000])
@pytest.mark.parametrize("name", STAGES)
def test_silence_stays_silence(name: str, rate: int) -> None:
    stage = STAGES[name](rate, 2)
    out = np.concatenate([stage.process(np.zeros((n, 2))) for n in (1, 0, 4096, rate)])
    assert out.shape == (rate + 4097, 2)
    assert not out.any()


@pytest.mark.parametrize("kind", ["full_scale_square", "dc", "impulses", "clipped_noise"])
@pytest.mark.parametrize("name", STAGES)
def test_no_nan_or_inf_on_pathological_input(name: str, kind: str) -> None:
    rate = 44_100
    x = pathological_inputs(rate)[kind] * db_to_amplitude(12.0)
    out = process_in_pieces(STAGES[name](rate, 2), x)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", STAGES)
def test_mono_stays_mono(name: str) -> None:
    rate = 44_100
    mono = exercising_signal(rate, channels=1)
    assert STAGES[name](rate, 1).process(mono).shape == mono.shape
    dual_mono = np.repeat(mono, 2, axis=1)
    out = STAGES[name](rate, 2).process(dual_mono)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])


@pytest.mark.parametrize("name", STAGES)
def test_six_channels_are_processed(name: str) -> None:
    rate = 48_000
    x = exercising_signal(rate, channels=6)
    out = process_in_pieces(STAGES[name](rate, 6), x)
    assert out.shape == x.shape
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", STAGES)
def test_latency_is_zero_except_limiter(name: str) -> None:
    stage = STAGES[name](44_100, 2)
    assert (stage.latency_frames > 0) == (name == "limiter")


# --- high-pass -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
def test_highpass_is_3db_down_at_cutoff(rate: int) -> None:
    assert steady_gain_db(HighPass(rate, 1, cutoff_hz=20.0), 20.0, rate) == pytest.approx(
        -3.01, abs=0.05
    )


@pytest.mark.parametrize("rate", RATES)
def test_highpass_passes_the_audio_band_and_removes_dc(rate: int) -> None:
    assert steady_gain_db(HighPass(rate, 1), 1000.0, rate) == pytest.approx(0.0, abs=0.01)
    assert steady_gain_db(HighPass(rate, 1), 5.0, rate) < -20.0
    dc = HighPass(rate, 1).process(np.full((2 * rate, 1), 0.5))
    assert np.abs(dc[-rate // 10 :]).max() < 1e-4


# --- tonal EQ ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
def test_shelf_response_at_design_frequency_is_half_the_gain(rate: int) -> None:
    low = TonalEQ(rate, 1, 4.0, 0.0)
    high = TonalEQ(rate, 1, 0.0, -3.0)
    assert steady_gain_db(low, low.low_shelf_hz, rate) == pytest.approx(2.0, abs=0.05)
    assert steady_gain_db(high, high.high_shelf_hz, rate) == pytest.approx(-1.5, abs=0.05)
    assert float(low.response_db(low.low_shelf_hz)) == pytest.approx(2.0, abs=1e-3)
    assert float(high.response_db(high.high_shelf_hz)) == pytest.approx(-1.5, abs=1e-3)


@pytest.mark.parametrize("rate", RATES)
def test_shelves_reach_full_gain_at_the_band_edges(rate: int) -> None:
    eq = TonalEQ(rate, 1, 3.0, -2.0)
    response = eq.response_db(np.array([1.0, rate / 2.0]))
    np.testing.assert_allclose(response, [3.0, -2.0], atol=0.01)


def test_high_shelf_is_clamped_below_nyquist_at_low_rates() -> None:
    assert TonalEQ(8_000, 1, 0.0, 2.0).high_shelf_hz == pytest.approx(2_000.0)
    assert TonalEQ(22_050, 1, 0.0, 2.0).high_shelf_hz == pytest.approx(5_512.5)
    assert TonalEQ(44_100, 1, 0.0, 2.0).high_shelf_hz == 8_000.0


def test_response_db_predicts_the_processed_gain() -> None:
    rate = 48_000
    eq_args = (rate, 1, 2.5, -2.0)
    for freq in (50.0, 300.0, 1000.0, 6000.0, 15000.0):
        predicted = float(TonalEQ(*eq_args).response_db(freq))
        assert steady_gain_db(TonalEQ(*eq_args), freq, rate) == pytest.approx(predicted, abs=0.02)


def test_zero_gain_eq_is_exact_passthrough() -> None:
    x = exercising_signal(44_100)
    eq = TonalEQ(44_100, 2, 0.0, 0.0)
    np.testing.assert_array_equal(eq.process(x), x)
    assert not eq.response_db(np.array([20.0, 1000.0, 20000.0])).any()


def test_filter_cascade_equals_the_stages_in_sequence() -> None:
    rate = 48_000
    x = exercising_signal(rate)
    sequential = TonalEQ(rate, 2, 2.5, -2.0).process(HighPass(rate, 2).process(x))
    fused = SosFilter.cascade(HighPass(rate, 2), TonalEQ(rate, 2, 2.5, -2.0))
    np.testing.assert_array_equal(process_in_pieces(fused, x), sequential)


# --- width ---------------------------------------------------------------------------------------


def test_width_scales_the_side_signal_only() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(-0.5, 0.5, (1000, 2))
    out = MidSideWidth(2, -6.0).process(x)
    mid, side = (x[:, 0] + x[:, 1]) / 2, (x[:, 0] - x[:, 1]) / 2
    gain = db_to_amplitude(-6.0)
    np.testing.assert_allclose(out[:, 0], mid + gain * side, atol=1e-12)
    np.testing.assert_allclose(out[:, 1], mid - gain * side, atol=1e-12)


def test_width_touches_only_the_first_two_of_many_channels() -> None:
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (500, 6))
    out = MidSideWidth(6, 3.0).process(x)
    np.testing.assert_array_equal(out[:, 2:], x[:, 2:])
    assert not np.allclose(out[:, :2], x[:, :2])


def test_width_leaves_mono_and_zero_gain_unchanged() -> None:
    x = np.random.default_rng(4).uniform(-0.5, 0.5, (500, 2))
    np.testing.assert_array_equal(MidSideWidth(2, 0.0).process(x), x)
    np.testing.assert_array_equal(MidSideWidth(1, 3.0).process(x[:, :1]), x[:, :1])


def test_width_is_the_mid_side_arithmetic_bit_for_bit_whatever_the_strides() -> None:
    """The compiled pass rounds as the formula written in numpy does (no fused products)."""
    x = np.random.default_rng(7).uniform(-0.9, 0.9, (3000, 3))
    gain = db_to_amplitude(-2.5)
    mid = 0.5 * (x[:, 0] + x[:, 1])
    side = (0.5 * gain) * (x[:, 0] - x[:, 1])
    expected = np.column_stack([mid + side, mid - side, x[:, 2]])
    np.testing.assert_array_equal(MidSideWidth(3, -2.5).process(x), expected)
    out = np.empty((3000, 3))
    mid_side(np.asfortranarray(x), gain, out)
    np.testing.assert_array_equal(out, expected)


def test_the_width_kernel_refuses_wrong_calls() -> None:
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="two channels"):
        mid_side(np.zeros((10, 1)), 0.5, np.zeros((10, 1)))
    with pytest.raises(ValueError, match="shape of x"):
        mid_side(x, 0.5, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="shape of x"):
        mid_side(x, 0.5, np.zeros((10, 4))[:, ::2])
    with pytest.raises(TypeError):
        mid_side(x.astype(np.float32), 0.5, np.zeros((10, 2)))
    read_only = np.zeros((10, 2))
    read_only.flags.writeable = False
    with pytest.raises(ValueError):
        mid_side(x, 0.5, read_only)


@pytest.mark.parametrize("side_gain_db", [-3.0, -1.0, 2.0, 3.0])
@pytest.mark.parametrize("side_share", [0.0, 0.3, 1.0])
def test_width_power_change_prediction_matches(side_gain_db: float, side_share: float) -> None:
    rng = np.random.default_rng(6)
    mid = rng.standard_normal(48_000) * 0.2
    side = rng.standard_normal(48_000) * 0.2 * side_share
    x = np.stack([mid + side, mid - side], axis=1)
    rms_m, rms_s = np.sqrt(np.mean(mid**2)), np.sqrt(np.mean(side**2))
    stereo_width = rms_s / (rms_m + rms_s)
    y = MidSideWidth(2, side_gain_db).process(x)
    measured = 10.0 * np.log10(np.sum(y**2) / np.sum(x**2))
    predicted = MidSideWidth.power_change_db(stereo_width, side_gain_db)
    assert predicted == pytest.approx(measured, abs=1e-6)


# --- gain ----------------------------------------------------------------------------------------


def test_static_gain_multiplies_every_channel() -> None:
    x = np.random.default_rng(7).uniform(-0.5, 0.5, (100, 3))
    np.testing.assert_allclose(StaticGain(-6.0).process(x), x * db_to_amplitude(-6.0))
    np.testing.assert_array_equal(StaticGain(0.0).process(x), x)


# --- limiter -------------------------------------------------------------------------------------


def limited(limiter: TruePeakLimiter, x: Signal, tail_frames: int = 256) -> Signal:
    """The limiter's output aligned with ``x`` (latency removed), flushed with zeros and with the
    decay of the signal kept so the reference resampler sees what the limiter saw."""
    flush = np.zeros((limiter.latency_frames + tail_frames, x.shape[1]))
    out = np.concatenate([process_in_pieces(limiter, x), limiter.process(flush)])
    return out[limiter.latency_frames :]


@pytest.mark.parametrize("rate", [8_000, 44_100, 48_000, 96_000])
@pytest.mark.parametrize("kind", ["full_scale_square", "dc", "impulses", "clipped_noise"])
def test_limiter_true_peak_under_ceiling_with_12db_of_gain(kind: str, rate: int) -> None:
    x = pathological_inputs(rate)[kind] * db_to_amplitude(12.0)
    y = limited(TruePeakLimiter(rate, 2, CEILING_DBTP, 100.0), x)
    assert true_peak_8x_dbtp(y) <= CEILING_DBTP
    assert sample_peak_dbfs(y) <= CEILING_DBTP


@pytest.mark.parametrize("ceiling_dbtp", [-9.0, -2.0, 0.0])
def test_limiter_true_peak_under_ceiling_on_loud_music(ceiling_dbtp: float) -> None:
    rate = 44_100
    x = music_like(3.0, rate, level_dbfs=0.0, crest_shape=1.5) * db_to_amplitude(12.0)
    y = limited(TruePeakLimiter(rate, 2, ceiling_dbtp, 60.0), x)
    assert true_peak_8x_dbtp(y) <= ceiling_dbtp
    assert sample_peak_dbfs(y) <= ceiling_dbtp


@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_limiter_true_peak_under_ceiling_when_only_intersample_peaks_exceed_it(rate: int) -> None:
    """A full-scale click, then a sine at a quarter of the rate sampled 45° off its crests:
    every sine sample sits 1 dB under the ceiling, its true peak 2 dB over it. In one block, so
    the detector's skipping of rows that look safe is tested where the block's loudest sample
    (the click) would hide the sine's rows from a detector that only bounds the block's peak."""
    ceiling_dbtp = -6.0
    x = sine(rate / 4.0, ceiling_dbtp + 2.0, 1.0, rate, phase_rad=np.pi / 4.0)
    assert sample_peak_dbfs(x) < ceiling_dbtp - 0.9
    x[: rate // 100] = 0.0
    x[rate // 200] = 1.0
    limiter = TruePeakLimiter(rate, 2, ceiling_dbtp, 100.0)
    flush = np.zeros((limiter.latency_frames + 256, 2))
    y = np.concatenate([limiter.process(x), limiter.process(flush)])[limiter.latency_frames :]
    assert true_peak_8x_dbtp(y) <= ceiling_dbtp


@pytest.mark.parametrize("rate", RATES)
def test_limiter_latency_is_exact(rate: int) -> None:
    limiter = TruePeakLimiter(rate, 2, CEILING_DBTP, 100.0)
    quiet, loud = np.zeros((rate // 4, 2)), np.zeros((rate // 4, 2))
    quiet[0] = [0.25, -0.125]
    loud[0] = [4.0, -4.0]
    out = limiter.process(quiet)
    assert np.flatnonzero(out[:, 0]).tolist() == [limiter.latency_frames]
    np.testing.assert_array_equal(out[limiter.latency_frames], quiet[0])
    out = TruePeakLimiter(rate, 2, CEILING_DBTP, 100.0).process(loud)
    assert int(np.argmax(np.abs(out[:, 0]))) == limiter.latency_frames


def test_limiter_leaves_material_under_the_target_untouched() -> None:
    x = music_like(1.0, 44_100, level_dbfs=-6.0)
    limiter = TruePeakLimiter(44_100, 2, CEILING_DBTP, 100.0)
    np.testing.assert_array_equal(limited(limiter, x, tail_frames=0), x)


@pytest.mark.parametrize("release_ms", [50.0, 150.0, 300.0])
def test_limiter_gain_recovers_within_release_time(release_ms: float) -> None:
    """A loud DC step, then a quiet one: the gain (output / input) recovers 90 % of the
    reduction ``release_ms`` after the hold (and the look-ahead smoothing), not long before."""
    rate = 48_000
    loud_frames = rate // 5
    x = np.concatenate([np.full((loud_frames, 1), 2.0), np.full((rate, 1), 0.1)])
    y = limited(TruePeakLimiter(rate, 1, CEILING_DBTP, release_ms), x, tail_frames=0)
    gain = y[:, 0] / x[:, 0]
    assert gain[loud_frames // 2] < 0.5
    reduced = float(gain.min())  # the deepest point: the step's own overshoot, where release starts
    # The release starts when the hold ends; the look-ahead average smooths (delays) it.
    delay_ms = HOLD_MS + DEFAULT_LOOKAHEAD_MS + 1.0
    recovered_by = loud_frames + int((release_ms + delay_ms) / 1000 * rate)
    early = loud_frames + int(release_ms / 4 / 1000 * rate)
    assert 1.0 - gain[recovered_by] <= 0.1 * (1.0 - reduced)
    assert 1.0 - gain[early] >= 0.3 * (1.0 - reduced)
    assert np.all(np.diff(gain[loud_frames:]) >= -1e-12)  # recovery never dips again


def test_limiter_is_bit_identical_for_any_split() -> None:
    x = music_like(1.0, 44_100, level_dbfs=0.0) * db_to_amplitude(9.0)
    whole = TruePeakLimiter(44_100, 2, CEILING_DBTP, 80.0).process(x)
    pieces = process_in_pieces(TruePeakLimiter(44_100, 2, CEILING_DBTP, 80.0), x, seed=11)
    np.testing.assert_array_equal(pieces, whole)


def test_limiter_turns_non_finite_input_into_silence() -> None:
    x = np.full((2048, 2), 0.5)
    x[100] = [np.nan, np.inf]
    x[200, 0] = -np.inf
    out = TruePeakLimiter(44_100, 2, CEILING_DBTP, 100.0).process(x)
    assert np.isfinite(out).all()


# --- dynamics ------------------------------------------------------------------------------------


@pytest.mark.parametrize("crest_shape", [0.25, 0.5])
@pytest.mark.parametrize("amount", [0.2, 1.0])
def test_expander_gains_at_least_1db_of_crest_on_a_squashed_master(
    crest_shape: float, amount: float
) -> None:
    rate = 44_100
    x = music_like(8.0, rate, level_dbfs=-0.5, crest_shape=crest_shape)
    y = TransientExpander(rate, 2, amount).process(x)
    assert crest_db(y, rate) - crest_db(x, rate) >= 1.0


def squashed_dense_hits(duration_s: float, rate: int, hits_per_s: float = 8.0) -> Signal:
    """A pad with noise hits (hi-hat/snare-like, energy where K-weighting listens), squashed by
    tanh: material whose loudness an uncompensated expander would raise by ~0.5 LU."""
    rng = np.random.default_rng(4)
    t = np.arange(int(duration_s * rate)) / rate
    pad = 0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.2 * np.sin(2 * np.pi * 330.0 * t)
    hits = 0.5 * rng.standard_normal(t.size) * np.exp(-(t % (1.0 / hits_per_s)) / 0.03)
    x = np.tanh(2.5 * np.stack([pad + hits, pad + 0.9 * hits], axis=1))
    return np.asarray(0.95 * x / np.abs(x).max(), dtype=np.float64)


@pytest.mark.parametrize("hits_per_s", [4.0, 8.0])
def test_expander_keeps_the_loudness(hits_per_s: float) -> None:
    rate = 44_100
    x = squashed_dense_hits(20.0, rate, hits_per_s)
    y = TransientExpander(rate, 2, 1.0).process(x)
    assert crest_db(y, rate) - crest_db(x, rate) >= 1.0
    assert integrated_loudness(y, rate) == pytest.approx(integrated_loudness(x, rate), abs=0.25)


def test_expander_leaves_a_sustained_tone_alone() -> None:
    rate = 44_100
    t = np.arange(6 * rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 40.0 * t) + 0.3 * np.sin(2 * np.pi * 220.0 * t)
    x = np.stack([tone, tone], axis=1)
    y = TransientExpander(rate, 2, 1.0).process(x)
    settled = slice(4 * rate, None)
    audible = np.abs(x[settled, 0]) > 0.05
    gain_db = 20.0 * np.log10(y[settled, 0][audible] / x[settled, 0][audible])
    assert np.abs(gain_db).max() <= 0.25
    np.testing.assert_array_equal(TransientExpander(rate, 2, 0.0).process(x), x)


def test_compressor_reduction_is_capped() -> None:
    rate = 44_100
    x = sine(1000.0, 0.0, 2.0, rate)
    y = GentleCompressor(rate, 2, -30.0, 20.0, 5.0, 50.0, 4.0).process(x)
    settled = slice(rate, None)
    reduction_db = 20.0 * np.log10(np.abs(y[settled]).max() / np.abs(x[settled]).max())
    assert reduction_db == pytest.approx(-4.0, abs=0.05)


def test_compressor_steady_state_follows_the_ratio() -> None:
    rate = 44_100
    x = sine(1000.0, -8.0, 3.0, rate)  # RMS level −11 dB: 12 dB over a −23 dB threshold
    y = GentleCompressor(rate, 2, -23.0, 2.0, 10.0, 100.0, 20.0).process(x)
    settled = slice(2 * rate, None)
    reduction_db = 10.0 * np.log10(np.mean(y[settled] ** 2) / np.mean(x[settled] ** 2))
    assert reduction_db == pytest.approx(-5.99, abs=0.1)


def test_compressor_leaves_material_below_the_knee_untouched() -> None:
    x = sine(1000.0, -20.0, 1.0, 44_100)
    y = GentleCompressor(44_100, 2, -10.0, 4.0, 10.0, 100.0, 6.0).process(x)
    np.testing.assert_array_equal(y, x)


# --- encoding ------------------------------------------------------------------------------------


def encode_in_chunks(encoder: Encoder, x: Signal, chunk: int, start_frame: int = 0) -> bytes:
    return b"".join(
        encoder.encode(x[i : i + chunk], start_frame + i) for i in range(0, x.shape[0], chunk)
    )


@pytest.mark.parametrize("encoding", ["s16", "s24", "f32"])
def test_encoding_is_byte_identical_for_any_split(encoding: str) -> None:
    x = music_like(2.0, 44_100, level_dbfs=-1.0)
    whole = Encoder(encoding, 2, 42).encode(x, 1000)
    for chunk in (512, 8192, 44_100):
        assert encode_in_chunks(Encoder(encoding, 2, 42), x, chunk, 1000) == whole
    head = x[:4410]  # frame by frame on the first 0.1 s
    assert encode_in_chunks(Encoder(encoding, 2, 42), head, 1, 1000) == whole[: len(whole) // 20]
    assert len(whole) == x.size * {"s16": 2, "s24": 3, "f32": 4}[encoding]


def test_dither_is_a_function_of_seed_and_absolute_position() -> None:
    first = tpdf_dither_lsb(7, 1000, 500, 2)
    np.testing.assert_array_equal(first, tpdf_dither_lsb(7, 1000, 500, 2))
    np.testing.assert_array_equal(first[100:], tpdf_dither_lsb(7, 1100, 400, 2))
    assert not np.array_equal(first, tpdf_dither_lsb(8, 1000, 500, 2))
    assert not np.array_equal(first, tpdf_dither_lsb(7, 1001, 500, 2))


def test_dither_is_triangular_within_one_lsb() -> None:
    d = tpdf_dither_lsb(3, 0, 200_000, 2).ravel()
    assert np.abs(d).max() < 1.0
    assert abs(d.mean()) < 0.01
    assert d.std() == pytest.approx(1.0 / np.sqrt(6.0), abs=0.005)  # TPDF of ±1 LSB
    assert abs(np.corrcoef(d[:-1], d[1:])[0, 1]) < 0.01
    inner = np.mean(np.abs(d) < 0.5)
    assert inner == pytest.approx(0.75, abs=0.01)  # triangle: 3/4 of the mass within ±½


@pytest.mark.parametrize("start_frame", [0, 1000, 2**31 - 3, 2**32 - 7])
def test_s16_encoder_is_the_dither_definition_bit_for_bit(start_frame: int) -> None:
    """The compiled encoder against ``tpdf_dither_lsb``, the silence rule, rint and the clip,
    written out in numpy: loud and clipping samples, digital silence, exact half-LSB ties after
    the dither, and the hash key wrapping past 2³²."""
    rng = np.random.default_rng(11)
    x = rng.uniform(-1.3, 1.3, (6000, 2))
    x[:500] = rng.uniform(-1.0, 1.0, (500, 2)) * 2.0**-24  # under the silence threshold
    x[1000:1100] = 0.0
    dither = tpdf_dither_lsb(99, start_frame, x.shape[0], 2)
    # Exact ties once dithered (k + ½, every term exact in binary): rounding goes to even.
    k = rng.integers(5, 200, (500, 2)) * rng.choice([-1, 1], (500, 2))
    x[500:1000] = (k + 0.5 - dither[500:1000]) / S16_SCALE
    dither[np.abs(x) < SILENCE_THRESHOLD] = 0.0
    expected = np.clip(np.rint(x * S16_SCALE + dither), -S16_SCALE, S16_SCALE - 1.0)
    got = np.frombuffer(Encoder("s16", 2, 99).encode(x, start_frame), dtype="<i2")
    np.testing.assert_array_equal(got.reshape(-1, 2), expected.astype(np.int16))


@pytest.mark.parametrize(
    ("out", "key", "message"),
    [
        (np.zeros((10, 1), dtype=np.int16), 0, "shape of x"),
        (np.zeros((10, 2), dtype=np.int32), 0, "'h'"),
        (np.zeros((10, 2), dtype=np.int16), 2**32, "32 bits"),
    ],
)
def test_the_s16_kernel_refuses_what_it_cannot_run(
    out: np.ndarray, key: int, message: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        encode_s16(np.zeros((10, 2)), key, out)
    assert not out.any()


def test_the_limiter_output_step_is_a_delay_a_gain_and_a_clip() -> None:
    """``delayed_gain`` against the delay line written out: blocks longer and shorter than the
    delay, gains below 1 (multiplied, then clipped at the limit) and all-unity blocks (passed
    unchanged, beyond the limit too)."""
    rng = np.random.default_rng(21)
    delay, limit = 300, 0.8
    x = rng.uniform(-1.2, 1.2, (20_000, 2))
    line = np.concatenate([np.zeros((delay, 2)), x])
    held = np.zeros((delay, 2))
    start = 0
    for size, unity in [(5000, False), (120, False), (77, True), (299, False), (300, True),
                        (14_204, False)]:
        block = x[start : start + size]
        gains = np.ones(size) if unity else rng.uniform(0.3, 1.0, size)
        out = np.empty((size, 2))
        lowest = delayed_gain(block, held, gains, limit, out)
        expected = line[start : start + size].copy()
        if not unity:
            expected = np.clip(expected * gains[:, None], -limit, limit)
        np.testing.assert_array_equal(out, expected)
        assert lowest == gains.min()
        start += size
    np.testing.assert_array_equal(held, x[-delay:])


def test_the_limiter_output_kernel_refuses_mismatched_buffers() -> None:
    x, out = np.zeros((10, 2)), np.zeros((10, 2))
    with pytest.raises(ValueError, match="held"):
        delayed_gain(x, np.zeros((5, 1)), np.ones(10), 1.0, out)
    with pytest.raises(ValueError, match="gains"):
        delayed_gain(x, np.zeros((5, 2)), np.ones(9), 1.0, out)
    with pytest.raises(ValueError, match="out"):
        delayed_gain(x, np.zeros((5, 2)), np.ones(10), 1.0, np.zeros((10, 3)))


def test_the_control_rate_gain_kernel_refuses_too_few_points() -> None:
    """Frames 0 … 9 at offset 3 of a 5-frame grid reach group 2: three groups need four points."""
    x, out, ramp = np.ones((10, 2)), np.zeros((10, 2)), np.arange(1, 6) / 5.0
    ramp_gain(x, np.ones(4), 3, ramp, out)
    assert np.array_equal(out, x)
    with pytest.raises(ValueError, match="points must reach"):
        ramp_gain(x, np.ones(3), 3, ramp, out)
    with pytest.raises(ValueError, match="shape of x"):
        ramp_gain(x, np.ones(4), 3, ramp, np.zeros((10, 1)))


def test_s16_dither_is_added_and_rounded() -> None:
    x = np.full((100_000, 1), 0.25 / 32768.0)  # a quarter LSB: only dither can move it
    pcm = np.frombuffer(Encoder("s16", 1, 1).encode(x, 0), dtype="<i2")
    assert set(np.unique(pcm).tolist()) <= {-1, 0, 1}
    assert pcm.mean() == pytest.approx(0.25, abs=0.02)


@pytest.mark.parametrize("encoding", ["s16", "s24", "f32"])
def test_digital_silence_encodes_to_zero_bytes(encoding: str) -> None:
    assert not any(Encoder(encoding, 2, 9).encode(np.zeros((5000, 2)), 123))


@pytest.mark.parametrize("encoding", ["s16", "s24"])
def test_filter_tails_far_below_an_lsb_encode_as_silence(encoding: str) -> None:
    x = np.zeros((5000, 2))
    x[:, 1] = 1e-9
    assert not any(Encoder(encoding, 2, 9).encode(x, 123))


@pytest.mark.parametrize("encoding", ["s16", "s24", "f32"])
def test_encoding_clips_and_round_trips(encoding: str) -> None:
    x = np.array([[0.5, -0.5], [1.5, -1.5], [1.0, -1.0], [0.123456, -0.654321]])
    data = wav_header(48_000, 2, encoding, x.shape[0]) + Encoder(encoding, 2, 0).encode(x, 0)
    decoded, _ = sf.read(io.BytesIO(data), always_2d=True)
    # s16: dither (< 1 LSB) plus rounding (½ LSB); s24: rounding; f32: float32 precision. The
    # integer encodings clip at full scale − 1 LSB.
    lsb = {"s16": 2.0**-15, "s24": 2.0**-23, "f32": 1e-7}[encoding]
    tolerance = {"s16": 1.5 * lsb, "s24": lsb, "f32": lsb}[encoding]
    np.testing.assert_allclose(decoded, np.clip(x, -1.0, 1.0), rtol=0.0, atol=tolerance)


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("encoding", ["s16", "s24", "f32"])
@pytest.mark.parametrize("frames", [0, 1, 4411])
def test_wav_header_makes_a_valid_file(encoding: str, channels: int, frames: int) -> None:
    rate = 44_100
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (frames, channels))
    data = (
        wav_header(rate, channels, encoding, frames)
        + Encoder(encoding, channels, 0).encode(x, 0)
        + wav_trailer(channels, encoding, frames)
    )
    info = sf.info(io.BytesIO(data))
    assert (info.samplerate, info.channels, info.frames) == (rate, channels, frames)
    assert info.subtype == {"s16": "PCM_16", "s24": "PCM_24", "f32": "FLOAT"}[encoding]
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    if encoding != "f32" and (channels <= 2 or sys.version_info >= (3, 12)):
        with wave.open(io.BytesIO(data)) as wav:
            assert (wav.getnframes(), wav.getnchannels(), wav.getframerate()) == (
                frames,
                channels,
                rate,
            )
            assert wav.getsampwidth() == {"s16": 2, "s24": 3}[encoding]


@pytest.mark.parametrize("rate", [8_000, 44_100])
@pytest.mark.parametrize("kind", ["clipped_noise", "music"])
def test_limited_s16_output_meets_ceiling_by_ffmpeg(
    ffmpeg: str, tmp_path: Path, kind: str, rate: int
) -> None:
    """SPEC section 6, measured independently: after 16-bit dither, ffmpeg's ebur128 true peak
    ≤ ceiling + 0.1 dB and the sample peak ≤ ceiling."""
    if kind == "music":
        x = music_like(3.0, rate, level_dbfs=0.0, crest_shape=1.5)
    else:
        x = pathological_inputs(rate, duration_s=3.0)["clipped_noise"]
    y = limited(TruePeakLimiter(rate, 2, CEILING_DBTP, 100.0), x * db_to_amplitude(12.0))
    pcm = Encoder("s16", 2, 5).encode(y, 0)
    path = tmp_path / "limited.wav"
    path.write_bytes(wav_header(rate, 2, "s16", y.shape[0]) + pcm)
    assert ffmpeg_ebur128(path).true_peak_dbtp <= CEILING_DBTP + 0.1
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    assert sample_peak_dbfs(samples[:, None]) <= CEILING_DBTP
