"""The loudness module: BS.1770-4 filters and gating, streaming invariants, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
from scipy import signal

from shared.loudness import (
    LoudnessMeter,
    channel_weights,
    integrated_loudness,
    k_weighting_oversampling,
    k_weighting_sos,
)
from shared.true_peak import Interpolator, TruePeakDetector
from tests.signals import Signal, music_like, sine, sine_sequence, white_noise

ALL_RATES = [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000, 192_000]

#: The K-weighting coefficients printed in ITU-R BS.1770-4 for 48 kHz.
BS1770_48K_SHELF = [1.53512485958697, -2.69169618940638, 1.19839281085285,
                    1.0, -1.69065929318241, 0.73248077421585]  # fmt: skip
BS1770_48K_HIGH_PASS = [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621]


def feed_in_pieces(meter: LoudnessMeter, x: Signal, sizes: list[int]) -> None:
    start = 0
    for size in sizes:
        meter.feed(x[start : start + size])
        start += size
    meter.feed(x[start:])


def random_sizes(total: int, seed: int, largest: int) -> list[int]:
    """Block sizes covering ``total`` frames, mixing 1-frame blocks with larger ones."""
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(1 if rng.random() < 0.3 else int(rng.integers(2, largest)))
    return sizes


# --- K-weighting -------------------------------------------------------------------------------


def test_k_weighting_reproduces_bs1770_table_at_48k() -> None:
    np.testing.assert_allclose(
        k_weighting_sos(48_000), [BS1770_48K_SHELF, BS1770_48K_HIGH_PASS], atol=1e-8
    )


@pytest.mark.parametrize("sample_rate", [32_000, 44_100, 88_200, 96_000, 192_000])
def test_k_weighting_response_is_the_same_at_every_rate(sample_rate: int) -> None:
    """Designed from the analog prototype, the response at the actual rate matches 48 kHz's."""
    freqs = np.array([20.0, 40.0, 100.0, 500.0, 1000.0, 2000.0, 4000.0, 10000.0, 14000.0])
    _, at_rate = signal.sosfreqz(k_weighting_sos(sample_rate), worN=freqs, fs=sample_rate)
    _, at_48k = signal.sosfreqz(k_weighting_sos(48_000), worN=freqs, fs=48_000)
    difference_db = 20.0 * np.log10(np.abs(at_rate) / np.abs(at_48k))
    assert np.abs(difference_db).max() < 0.02


@pytest.mark.parametrize("sample_rate", [8_000, 11_025, 16_000, 22_050, 32_000])
def test_below_40k_the_meter_k_weights_an_oversampled_signal(sample_rate: int) -> None:
    """Where the bilinear shelf would warp (0.2 dB at 8 kHz), tones at 100 Hz, 1 kHz and
    0.3 fs read as they do at 48 kHz."""
    assert k_weighting_oversampling(sample_rate) * sample_rate >= 40_000
    for freq in (100.0, 1000.0, 0.3 * sample_rate):
        at_rate = integrated_loudness(sine(freq, -20.0, 3.0, sample_rate), sample_rate)
        at_48k = integrated_loudness(sine(freq, -20.0, 3.0, 48_000), 48_000)
        assert at_rate == pytest.approx(at_48k, abs=0.03), freq


def test_interpolator_reconstructs_a_sine() -> None:
    rate, factor = 8_000, 5
    interpolator = Interpolator(factor, 1)
    tone = sine(1234.0, -6.0, 0.5, rate, channels=1)[:, 0]
    upsampled = np.concatenate(
        [interpolator.process(tone[None, :2_000]), interpolator.process(tone[None, 2_000:])],
        axis=1,
    )[0]
    t = (np.arange(upsampled.size) / factor - interpolator.delay_frames) / rate
    expected = 10 ** (-6.0 / 20.0) * np.sin(2 * np.pi * 1234.0 * t)
    settled = slice(4 * interpolator.delay_frames * factor, None)
    np.testing.assert_allclose(upsampled[settled], expected[settled], atol=0.01)


def test_reading_does_not_disturb_the_meter() -> None:
    """Results read mid-stream (which settle the oversampled tail on a copy) change nothing."""
    rate = 8_000
    x = quiet_then_loud(5.0, rate)
    read_midway, untouched = LoudnessMeter(rate, 2), LoudnessMeter(rate, 2)
    read_midway.feed(x[:12_345])
    read_midway.integrated_lufs()
    read_midway.true_peak_dbtp()
    read_midway.loudness_range_lu()
    read_midway.feed(x[12_345:])
    untouched.feed(x)
    assert read_midway.integrated_lufs() == pytest.approx(untouched.integrated_lufs(), abs=1e-9)
    assert read_midway.true_peak_dbtp() == untouched.true_peak_dbtp()
    np.testing.assert_allclose(
        read_midway.short_term_lufs(0.1), untouched.short_term_lufs(0.1), atol=1e-9
    )


def test_k_weighting_rejects_rates_outside_8k_to_192k() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        k_weighting_sos(7_999)
    with pytest.raises(ValueError, match="sample_rate"):
        k_weighting_sos(192_001)


def test_channel_weights_follow_bs1770() -> None:
    np.testing.assert_array_equal(channel_weights(1), [1.0])
    np.testing.assert_array_equal(channel_weights(2), [1.0, 1.0])
    np.testing.assert_array_equal(channel_weights(5), [1.0, 1.0, 1.0, 1.41, 1.41])
    np.testing.assert_array_equal(channel_weights(6), [1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    np.testing.assert_array_equal(channel_weights(8), np.ones(8))


# --- Agreement with an independent implementation ----------------------------------------------

#: pyloudnorm normalises the RLB high-pass to unity gain, while BS.1770's 48 kHz table (which this
#: module reproduces) leaves a +0.043 dB gain in it: for broadband material the two differ by
#: about 0.04 LU by construction, inside the 0.05 LU allowed here.
PYLOUDNORM_TOLERANCE_LU = 0.05


def pink_noise(duration_s: float, sample_rate: int) -> Signal:
    white = white_noise(-10.0, duration_s, sample_rate, seed=11)
    return np.asarray(signal.lfilter([1.0], [1.0, -0.97], white, axis=0) * 0.05)


def quiet_then_loud(duration_s: float, sample_rate: int) -> Signal:
    """Music-like material with a long quiet passage, so both gates matter."""
    x = music_like(duration_s, sample_rate, level_dbfs=-3.0)
    x[: x.shape[0] // 3] *= 10.0 ** (-25.0 / 20.0)
    return x


SIGNALS = {"music": music_like, "pink_noise": pink_noise, "quiet_then_loud": quiet_then_loud}


@pytest.mark.parametrize("sample_rate", [16_000, 22_050, 44_100, 48_000, 96_000])
@pytest.mark.parametrize("kind", SIGNALS)
def test_integrated_loudness_agrees_with_pyloudnorm(kind: str, sample_rate: int) -> None:
    x = SIGNALS[kind](12.0, sample_rate)
    expected = pyloudnorm.Meter(sample_rate).integrated_loudness(x)
    assert integrated_loudness(x, sample_rate) == pytest.approx(
        expected, abs=PYLOUDNORM_TOLERANCE_LU
    )


# --- Streaming invariants ----------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [8_000, 11_025])
def test_loudness_meter_is_chunk_invariant(sample_rate: int) -> None:
    """Whole-signal feed vs random splits (with many 1-frame blocks): identical readings."""
    x = quiet_then_loud(4.2, sample_rate)
    whole = LoudnessMeter(sample_rate, 2)
    whole.feed(x)
    pieces = LoudnessMeter(sample_rate, 2)
    feed_in_pieces(pieces, x, random_sizes(x.shape[0], seed=sample_rate, largest=700))
    assert pieces.frames == whole.frames == x.shape[0]
    assert pieces.integrated_lufs() == pytest.approx(whole.integrated_lufs(), abs=1e-9)
    np.testing.assert_allclose(pieces.short_term_lufs(0.1), whole.short_term_lufs(0.1), atol=1e-9)
    assert pieces.loudness_range_lu() == pytest.approx(whole.loudness_range_lu(), abs=1e-9)
    assert pieces.true_peak_dbtp() == pytest.approx(whole.true_peak_dbtp(), abs=1e-9)
    assert pieces.sample_peak_dbfs() == whole.sample_peak_dbfs()


def test_true_peak_detector_is_chunk_invariant() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(-1.0, 1.0, size=(2_000, 3))
    whole = TruePeakDetector(44_100, 3)
    expected = np.concatenate([whole.process(x), whole.flush()])
    for seed in range(3):
        detector = TruePeakDetector(44_100, 3)
        outputs, start = [], 0
        for size in random_sizes(x.shape[0], seed, largest=90):
            outputs.append(detector.process(x[start : start + size]))
            start += size
        outputs.append(detector.flush())
        got = np.concatenate(outputs)
        assert got.shape == expected.shape == (x.shape[0] + detector.delay_frames,)
        np.testing.assert_allclose(got, expected, rtol=0.0, atol=1e-12)


def test_true_peak_detector_is_bit_identical_for_any_split() -> None:
    """Rows aligned to the stream start make every output the same arithmetic: what the
    limiter's integer gain path needs to stay bit-identical across chunk sizes."""
    for frames, largest in ((1_500, 3), (10_000, 60), (44_100, 5_000)):
        x = music_like(1.0, 44_100)[:frames]
        whole = TruePeakDetector(44_100, 2)
        expected = np.concatenate([whole.process(x), whole.flush()])
        detector = TruePeakDetector(44_100, 2)
        outputs, start = [], 0
        for size in random_sizes(x.shape[0], largest, largest=largest):
            outputs.append(detector.process(x[start : start + size]))
            start += size
        outputs.append(detector.flush())
        np.testing.assert_array_equal(np.concatenate(outputs), expected)


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_true_peak_detector_matches_its_definition(factor: int) -> None:
    """Against a per-frame loop over the interpolation filter: for each frame interval, the
    largest |x| over channels and over the ``factor`` points of the band-limited reconstruction."""
    from shared.true_peak import TRUE_PEAK_BAND, _interpolation_matrix

    rng = np.random.default_rng(9)
    x = rng.uniform(-1.0, 1.0, size=(300, 2))
    detector = TruePeakDetector(48_000, 2, factor=factor)
    got = np.concatenate([detector.process(x[:77]), detector.process(x[77:]), detector.flush()])
    d = detector.delay_frames
    taps = _interpolation_matrix(factor, d, TRUE_PEAK_BAND)  # (2d + 1, factor)
    padded = np.concatenate([np.zeros((2 * d, 2)), x, np.zeros((d, 2))])
    expected = [
        np.abs(taps.T @ padded[m : m + 2 * d + 1][::-1]).max() for m in range(x.shape[0] + d)
    ]
    # The detector's products run in single precision: within 1e-6 of full scale (< 1e-5 dB).
    np.testing.assert_allclose(got, expected, rtol=0.0, atol=1e-6)


def test_true_peak_detector_without_oversampling_is_the_sample_peak() -> None:
    x = np.random.default_rng(2).uniform(-1.0, 1.0, size=(100, 2))
    detector = TruePeakDetector(48_000, 2, factor=1)
    assert detector.delay_frames == 0
    np.testing.assert_array_equal(detector.process(x), np.abs(x).max(axis=1))


def test_true_peak_detector_delay_and_oversampling() -> None:
    detector = TruePeakDetector(48_000, 1)
    assert detector.factor >= 4
    impulse = np.zeros((64, 1))
    impulse[20, 0] = 0.5
    out = np.concatenate([detector.process(impulse), detector.flush()])
    assert int(np.argmax(out)) == 20 + detector.delay_frames
    assert out.max() == pytest.approx(0.5, abs=1e-12)


def test_true_peak_meets_the_4x_bound_for_a_high_sine() -> None:
    """A sine at 0.4 fs with its peaks between samples: the 4x grid under-reads by at most
    1 − cos(π · 0.4 / 4) (0.43 dB), plus the interpolator's 0.07 dB."""
    rate = 44_100
    tone = sine(0.4 * rate, -6.0, 1.0, rate, channels=1, phase_rad=0.3)
    # Faded in and out: an abrupt onset is a wide-band event with its own overshoot.
    ramp = np.sin(0.5 * np.pi * np.arange(882) / 882) ** 2
    tone[:882, 0] *= ramp
    tone[-882:, 0] *= ramp[::-1]
    detector = TruePeakDetector(rate, 1)
    peak = max(detector.max_peak(tone), detector.pending_max())
    level_db = 20.0 * math.log10(peak)
    grid_loss_db = -20.0 * math.log10(math.cos(math.pi * 0.4 / 4.0))
    assert -6.0 - grid_loss_db - 0.1 <= level_db <= -6.0 + 0.1


def test_max_peak_equals_the_maximum_of_process() -> None:
    """The meter's shortcut (rows that cannot win are skipped) changes nothing."""
    x = music_like(3.0, 22_050)
    full, fast = TruePeakDetector(22_050, 2), TruePeakDetector(22_050, 2)
    expected = max(full.process(x).max(), full.flush().max())
    got = max(fast.max_peak(x[:10_000]), 0.0)
    got = fast.max_peak(x[10_000:], got)
    assert max(got, fast.pending_max()) == pytest.approx(expected, abs=1e-12)


# --- Gating and edge cases ---------------------------------------------------------------------


def test_silence_reads_minus_70_and_everything_is_finite() -> None:
    meter = LoudnessMeter(48_000, 2)
    meter.feed(np.zeros((48_000 * 5, 2)))
    assert meter.integrated_lufs() == -70.0
    assert np.isfinite(meter.short_term_lufs()).all()
    assert meter.loudness_range_lu() == 0.0
    assert meter.true_peak_dbtp() == -200.0
    assert meter.sample_peak_dbfs() == -200.0


def test_no_audio_is_finite() -> None:
    meter = LoudnessMeter(44_100, 2)
    assert meter.integrated_lufs() == -70.0
    assert meter.short_term_lufs().size == 0
    assert meter.loudness_range_lu() == 0.0
    assert math.isfinite(meter.true_peak_dbtp())


def test_under_400_ms_is_measured_as_one_block() -> None:
    rate = 48_000
    tone = sine(1000.0, -20.0, 0.3, rate)
    meter = LoudnessMeter(rate, 2)
    meter.feed(tone)
    filtered = signal.sosfilt(k_weighting_sos(rate), tone, axis=0)
    one_block = -0.691 + 10.0 * math.log10(float((filtered**2).sum(axis=1).mean()))
    assert meter.integrated_lufs() == pytest.approx(one_block, abs=1e-9)
    assert meter.integrated_lufs() == pytest.approx(-20.0, abs=0.15)


def test_relative_gate_ignores_the_quiet_part() -> None:
    """10 s at −20 dBFS then 10 s at −40 dBFS: the quiet half is 20 LU down, below the gate
    (only the three gating blocks that straddle the step pull the result down, by 0.07 LU)."""
    rate = 48_000
    loud = sine(1000.0, -20.0, 10.0, rate)
    quiet = sine(1000.0, -40.0, 10.0, rate)
    meter = LoudnessMeter(rate, 2)
    meter.feed(np.concatenate([loud, quiet]))
    assert meter.integrated_lufs() == pytest.approx(-20.0, abs=0.1)


def test_relative_gate_is_10_lu_below_the_absolute_gated_mean() -> None:
    """SPEC row 8, "−10 relative gate": 8.5 s at −20 dBFS, then 1.5 s 9 LU quieter.

    In units of the loud block power, the 97 gating blocks are 82 × 1, the three straddling the
    step (3 + r) / 4, (2 + 2r) / 4, (1 + 3r) / 4, and 12 × r, with r = 10^(−0.9). Their mean is
    0.8783, so a −10 LU gate (0.0878) keeps every block: −20 + 10·log10(0.8783) = −20.563 LUFS.
    A −8 LU gate (0.1392) or a −5 LU one (0.2777) would drop the 12 quiet blocks and read
    −20.068: half a LU away, against a tolerance of 0.02.
    """
    r = 10.0**-0.9
    blocks = [1.0] * 82 + [(3 + r) / 4, (2 + 2 * r) / 4, (1 + 3 * r) / 4] + [r] * 12
    expected_lufs = -20.0 + 10.0 * math.log10(sum(blocks) / len(blocks))
    meter = LoudnessMeter(48_000, 2)
    meter.feed(sine_sequence([(-20.0, 8.5), (-29.0, 1.5)]))
    assert expected_lufs == pytest.approx(-20.563, abs=1e-3)
    assert meter.integrated_lufs() == pytest.approx(expected_lufs, abs=0.02)


def test_short_term_loudness_follows_the_level() -> None:
    rate = 22_050
    meter = LoudnessMeter(rate, 2)
    meter.feed(np.concatenate([sine(1000.0, -20.0, 6.0, rate), sine(1000.0, -30.0, 6.0, rate)]))
    short_term = meter.short_term_lufs(1.0)
    assert short_term.size == 10  # windows starting at 0 … 9 s
    assert short_term[0] == pytest.approx(-20.0, abs=0.1)
    assert short_term[-1] == pytest.approx(-30.0, abs=0.1)
    assert np.all(np.diff(short_term) <= 1e-3)


@pytest.mark.parametrize(("channels", "expected_lufs"), [(1, -26.01), (2, -23.0), (6, -18.36)])
def test_mono_stereo_and_six_channel_layouts(channels: int, expected_lufs: float) -> None:
    """A −23 dBFS 1 kHz tone in every channel: mono is 3 dB quieter than stereo; in 5.1 the LFE
    does not count and the surrounds weigh 1.41 (3 + 2 × 1.41 = 5.82 = 2.91 × stereo, +4.64 dB)."""
    rate = 48_000
    meter = LoudnessMeter(rate, channels)
    meter.feed(sine(1000.0, -23.0, 5.0, rate, channels=channels))
    assert meter.integrated_lufs() == pytest.approx(expected_lufs, abs=0.05)


def test_lfe_channel_is_ignored() -> None:
    rate = 48_000
    x = np.zeros((rate * 3, 6))
    x[:, 3] = sine(1000.0, -10.0, 3.0, rate, channels=1)[:, 0]
    meter = LoudnessMeter(rate, 6)
    meter.feed(x)
    assert meter.integrated_lufs() == -70.0


@pytest.mark.parametrize("sample_rate", ALL_RATES)
def test_every_rate_from_8k_to_192k_runs_and_reads_a_tone(sample_rate: int) -> None:
    tone = sine(997.0, -20.0, 3.5, sample_rate)
    meter = LoudnessMeter(sample_rate, 2)
    meter.feed(tone)
    assert meter.integrated_lufs() == pytest.approx(-20.0, abs=0.05)
    assert meter.true_peak_dbtp() == pytest.approx(-20.0, abs=0.1)
    assert meter.sample_peak_dbfs() == pytest.approx(-20.0, abs=0.1)
    assert np.isfinite(meter.short_term_lufs(0.1)).all()
    assert math.isfinite(meter.loudness_range_lu())


def test_integrated_loudness_accepts_mono_vectors() -> None:
    tone = sine(1000.0, -23.0, 3.0, 44_100, channels=1)
    assert integrated_loudness(tone[:, 0], 44_100) == pytest.approx(
        integrated_loudness(tone, 44_100)
    )


def test_wrong_block_shape_is_rejected() -> None:
    meter = LoudnessMeter(48_000, 2)
    with pytest.raises(ValueError, match="block"):
        meter.feed(np.zeros((100, 3)))
