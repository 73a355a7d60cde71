"""SPEC section 4, "Fixtures every implementation must pass": one test per fixture row.

Every fixture is written as a WAV file and fingerprinted end to end through the decoder with
``extract``. (The EBU Tech 3341/3342 loudness and true-peak rows belong to the loudness meter's
own compliance tests.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fingerprint_service.extractor import extract
from shared.fingerprint import FINGERPRINT_FIELDS, Fingerprint, out_of_range_fields
from shared.loudness import ABSOLUTE_GATE_LUFS
from tests.signals import click_track, sine, white_noise, write_wav

SAMPLE_RATES = [8_000, 22_050, 44_100, 48_000, 96_000, 192_000]
TEMPI_BPM = [90, 100, 120, 128, 140]


def fingerprint_of(tmp_path: Path, signal: np.ndarray, sample_rate: int) -> Fingerprint:
    path = write_wav(tmp_path / "fixture.wav", signal, sample_rate)
    fingerprint, _ = extract(path)
    assert out_of_range_fields(fingerprint) == []
    return fingerprint


def test_sine_1khz_stereo_minus_23_dbfs_20_s(tmp_path: Path) -> None:
    fp = fingerprint_of(tmp_path, sine(1000.0, -23.0, 20.0, 48_000, 2), 48_000)
    assert fp.lufs == pytest.approx(-23.0, abs=0.1)
    assert fp.spectral_centroid_hz == pytest.approx(1000.0, abs=20.0)
    assert fp.chroma_energy > 0.9
    assert fp.pitch_stability > 0.95
    assert fp.crest_db == pytest.approx(3.0, abs=0.1)
    assert fp.stereo_width < 0.01
    assert fp.phase_correlation > 0.99


def test_sine_100hz_bass_share(tmp_path: Path) -> None:
    fp = fingerprint_of(tmp_path, sine(100.0, -23.0, 5.0, 48_000, 2), 48_000)
    assert fp.bass_share > 0.99


@pytest.mark.parametrize("bpm", TEMPI_BPM)
def test_click_kick_pattern_tempo(tmp_path: Path, bpm: int) -> None:
    fp = fingerprint_of(tmp_path, click_track(bpm, 12.0, 44_100, 2), 44_100)
    assert fp.tempo_bpm == pytest.approx(bpm, rel=0.02)
    assert fp.rhythm_stability > 0.6


def test_white_noise(tmp_path: Path) -> None:
    fp = fingerprint_of(tmp_path, white_noise(-6.0, 5.0, 44_100, 2, correlated=True), 44_100)
    assert fp.spectral_flatness > 0.5
    assert fp.chroma_energy < 0.1
    assert fp.pitch_stability < 0.3


def test_independent_left_right_noise(tmp_path: Path) -> None:
    fp = fingerprint_of(tmp_path, white_noise(-6.0, 5.0, 44_100, 2), 44_100)
    assert fp.stereo_width == pytest.approx(0.5, abs=0.02)
    assert fp.phase_correlation == pytest.approx(0.0, abs=0.02)


def test_left_equals_minus_right(tmp_path: Path) -> None:
    signal = sine(440.0, -12.0, 5.0, 48_000, 2)
    signal[:, 1] = -signal[:, 0]
    fp = fingerprint_of(tmp_path, signal, 48_000)
    assert fp.stereo_width > 0.99
    assert fp.phase_correlation < -0.99


def test_two_s_silence_then_eight_s_tone(tmp_path: Path) -> None:
    tone = sine(1000.0, -20.0, 8.0, 48_000, 2)
    signal = np.concatenate([np.zeros((2 * 48_000, 2)), tone])
    fp = fingerprint_of(tmp_path, signal, 48_000)
    assert fp.silence_ratio == pytest.approx(0.2, abs=0.02)


def test_digital_silence(tmp_path: Path) -> None:
    fp = fingerprint_of(tmp_path, np.zeros((3 * 48_000, 2)), 48_000)
    assert fp.lufs == ABSOLUTE_GATE_LUFS
    assert all(np.isfinite(getattr(fp, name)) for name in FINGERPRINT_FIELDS)
    assert fp.tempo_bpm == 0.0
    assert fp.silence_ratio == 1.0
    shares = (
        fp.sub_bass_share,
        fp.bass_share,
        fp.low_mid_share,
        fp.mid_share,
        fp.upper_mid_share,
        fp.presence_share,
        fp.air_share,
    )
    assert shares == (0.0,) * 7


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_mono_stereo_and_six_channel_input(tmp_path: Path, channels: int) -> None:
    path = write_wav(tmp_path / "fixture.wav", sine(1000.0, -23.0, 4.0, 48_000, channels), 48_000)
    fp, info = extract(path)
    assert out_of_range_fields(fp) == []
    assert info.channels == channels
    assert fp.spectral_centroid_hz == pytest.approx(1000.0, abs=20.0)
    assert fp.crest_db == pytest.approx(3.0, abs=0.1)
    assert fp.stereo_width < 0.01
    assert fp.phase_correlation > 0.99
    if channels == 2:
        assert fp.lufs == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
def test_sample_rates(tmp_path: Path, sample_rate: int) -> None:
    path = write_wav(
        tmp_path / "fixture.wav", sine(1000.0, -23.0, 4.0, sample_rate, 2), sample_rate
    )
    fp, info = extract(path)
    assert out_of_range_fields(fp) == []
    assert info.sample_rate == sample_rate
    assert fp.lufs == pytest.approx(-23.0, abs=0.1)
    assert fp.spectral_centroid_hz == pytest.approx(1000.0, abs=20.0)
    assert fp.chroma_energy > 0.9
    assert fp.bass_share + fp.sub_bass_share < 0.01
    assert fp.mid_share > 0.99
