"""EBU conformance of the loudness meter, on the synthetic signals the specifications describe.

EBU Tech 3341 (loudness meters, "EBU Mode"): cases 1–6 expect the integrated loudness within
±0.1 LU, cases 15–19 the maximum true peak within +0.2/−0.4 dB. EBU Tech 3342 (loudness range):
cases 1–4 expect the LRA within ±1 LU. The signals are 1 kHz sines at the given sample peak,
48 kHz, synthesised here rather than read from the EBU files.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared.loudness import LoudnessMeter
from tests.signals import Signal, db_to_amplitude, sine, sine_sequence

RATE = 48_000
LOUDNESS_TOLERANCE_LU = 0.1
LRA_TOLERANCE_LU = 1.0
TRUE_PEAK_ABOVE_DB, TRUE_PEAK_BELOW_DB = 0.2, 0.4


def measure(signal: Signal, sample_rate: int = RATE, *, true_peak: bool = False) -> LoudnessMeter:
    meter = LoudnessMeter(sample_rate, signal.shape[1], measure_true_peak=true_peak)
    meter.feed(signal)
    return meter


# --- Tech 3341 cases 1–6: integrated loudness ---------------------------------------------------

TECH_3341_LOUDNESS = {
    # case: (segments [(dBFS, seconds)], expected LUFS)
    "case_1_stereo_minus_23_dbfs_20s": ([(-23.0, 20.0)], -23.0),
    "case_2_stereo_minus_33_dbfs_20s": ([(-33.0, 20.0)], -33.0),
    "case_3_minus_36_23_36_dbfs": ([(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)], -23.0),
    "case_4_minus_72_36_23_36_72_dbfs": (
        [(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)],
        -23.0,
    ),
    "case_5_minus_26_20_26_dbfs": ([(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)], -23.0),
}


@pytest.mark.parametrize("case", TECH_3341_LOUDNESS)
def test_tech_3341_integrated_loudness(case: str) -> None:
    segments, expected_lufs = TECH_3341_LOUDNESS[case]
    meter = measure(sine_sequence(segments, 1000.0, RATE, channels=2))
    assert meter.integrated_lufs() == pytest.approx(expected_lufs, abs=LOUDNESS_TOLERANCE_LU)


def test_tech_3341_case_6_five_channel() -> None:
    """5.0 (L R C Ls Rs), 1 kHz: L and R at −28, C at −24, Ls and Rs at −30 dBFS, 20 s → −23."""
    levels_dbfs = [-28.0, -28.0, -24.0, -30.0, -30.0]
    channels = [sine(1000.0, level, 20.0, RATE, channels=1) for level in levels_dbfs]
    meter = measure(np.hstack(channels))
    assert meter.integrated_lufs() == pytest.approx(-23.0, abs=LOUDNESS_TOLERANCE_LU)


@pytest.mark.parametrize("sample_rate", [44_100, 96_000])
@pytest.mark.parametrize(("case", "level_dbfs"), [("case_1", -23.0), ("case_2", -33.0)])
def test_tech_3341_cases_1_2_at_other_rates(case: str, level_dbfs: float, sample_rate: int) -> None:
    """The K-weighting is designed for the actual rate, so the same tones read the same."""
    meter = measure(sine(1000.0, level_dbfs, 20.0, sample_rate), sample_rate)
    assert meter.integrated_lufs() == pytest.approx(level_dbfs, abs=LOUDNESS_TOLERANCE_LU)


# --- Tech 3342 cases 1–4: loudness range ---------------------------------------------------------

TECH_3342_LRA = {
    "case_1_minus_20_then_minus_30_dbfs": ([(-20.0, 20.0), (-30.0, 20.0)], 10.0),
    "case_2_minus_20_then_minus_15_dbfs": ([(-20.0, 20.0), (-15.0, 20.0)], 5.0),
    "case_3_minus_40_then_minus_20_dbfs": ([(-40.0, 20.0), (-20.0, 20.0)], 20.0),
    "case_4_minus_50_35_20_35_50_dbfs": (
        [(-50.0, 20.0), (-35.0, 20.0), (-20.0, 20.0), (-35.0, 20.0), (-50.0, 20.0)],
        15.0,
    ),
}


@pytest.mark.parametrize("case", TECH_3342_LRA)
def test_tech_3342_loudness_range(case: str) -> None:
    segments, expected_lu = TECH_3342_LRA[case]
    meter = measure(sine_sequence(segments, 1000.0, RATE, channels=2))
    assert meter.loudness_range_lu() == pytest.approx(expected_lu, abs=LRA_TOLERANCE_LU)


# --- Tech 3341 cases 15–19: true peak ------------------------------------------------------------

#: The cases describe steady tones; a 20 ms raised-cosine fade at each end keeps the onset of the
#: 1 s excerpt from adding its own (wide-band) overshoot, which is not what the cases measure.
FADE_S = 0.02

TECH_3341_TRUE_PEAK = {
    # case: (frequency as a fraction of fs, starting phase in degrees, waveform peak in dBFS,
    #        expected dBTP)
    "case_15_quarter_fs_0_degrees": (1 / 4, 0.0, -6.0, -6.0),
    "case_16_quarter_fs_45_degrees": (1 / 4, 45.0, -6.0, -6.0),
    "case_17_sixth_fs_60_degrees": (1 / 6, 60.0, -6.0, -6.0),
    "case_18_eighth_fs_67_5_degrees": (1 / 8, 67.5, -6.0, -6.0),
    # Samples at exactly ±1.0 (0 dBFS sample peak), the waveform between them at +3 dBTP.
    "case_19_quarter_fs_45_degrees_0_dbfs_samples": (
        1 / 4,
        45.0,
        20.0 * math.log10(math.sqrt(2.0)),
        3.0,
    ),
}


def faded(signal: Signal, sample_rate: int) -> Signal:
    ramp_frames = int(FADE_S * sample_rate)
    envelope = np.ones(signal.shape[0])
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp_frames) / ramp_frames)
    envelope[:ramp_frames] = ramp
    envelope[-ramp_frames:] = ramp[::-1]
    return signal * envelope[:, None]


@pytest.mark.parametrize("case", TECH_3341_TRUE_PEAK)
def test_tech_3341_true_peak(case: str) -> None:
    fraction, phase_deg, peak_dbfs, expected_dbtp = TECH_3341_TRUE_PEAK[case]
    tone = sine(
        fraction * RATE, peak_dbfs, 1.0, RATE, channels=2, phase_rad=math.radians(phase_deg)
    )
    meter = measure(faded(tone, RATE), true_peak=True)
    reading = meter.true_peak_dbtp()
    assert expected_dbtp - TRUE_PEAK_BELOW_DB <= reading <= expected_dbtp + TRUE_PEAK_ABOVE_DB


def test_tech_3341_case_19_sample_peak_reads_0_dbfs() -> None:
    """The case-19 signal is the one whose samples never exceed full scale."""
    tone = sine(RATE / 4, 20.0 * math.log10(math.sqrt(2.0)), 1.0, RATE, phase_rad=math.pi / 4)
    assert np.abs(tone).max() == pytest.approx(1.0, abs=1e-9)
    assert measure(tone, true_peak=True).sample_peak_dbfs() == pytest.approx(0.0, abs=1e-6)
    assert db_to_amplitude(measure(tone, true_peak=True).true_peak_dbtp()) > 1.3
