"""Fingerprint invariants: every field finite and in range for any input; decode block size
never changes the result."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fingerprint_service.extractor import extract, fingerprint_to_json
from shared.errors import UnsupportedAudio
from shared.fingerprint import (
    ALGORITHM_VERSION,
    FINGERPRINT_FIELDS,
    Fingerprint,
    TrackInfo,
    out_of_range_fields,
)
from tests.signals import music_like

SAMPLE_RATES = [8_000, 22_050, 44_100, 48_000, 96_000, 192_000]
KINDS = [
    "silence",
    "very_quiet_noise",
    "noise",
    "dc",
    "square",
    "impulses",
    "nyquist",
    "sine",
    "clipped_sine",
]
MAX_DURATION_S = 0.6


def encode(signal: np.ndarray, sample_rate: int, subtype: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, signal, sample_rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def make_signal(
    kind: str, frames: int, channels: int, sample_rate: int, level: float, freq_hz: float, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / sample_rate
    if kind == "silence":
        mono = np.zeros(frames)
    elif kind == "very_quiet_noise":  # below every gate: empty after gating
        mono = rng.uniform(-1.0, 1.0, frames) * 10.0 ** (-85.0 / 20.0)
    elif kind == "noise":
        return rng.uniform(-level, level, (frames, channels))
    elif kind == "dc":
        mono = np.full(frames, level if seed % 2 else -level)
    elif kind == "square":
        mono = np.where(np.sin(2 * np.pi * freq_hz * t) >= 0.0, 1.0, -1.0)
    elif kind == "impulses":
        mono = np.zeros(frames)
        mono[rng.integers(0, frames, size=max(1, frames // 2000))] = level
    elif kind == "nyquist":
        mono = np.where(np.arange(frames) % 2 == 0, 1.0, -1.0)
    elif kind == "sine":
        mono = level * np.sin(2 * np.pi * freq_hz * t)
    else:  # clipped_sine
        mono = np.clip(4.0 * np.sin(2 * np.pi * freq_hz * t), -1.0, 1.0)
    return np.repeat(mono[:, None], channels, axis=1)


def assert_in_range(fp: Fingerprint) -> None:
    assert out_of_range_fields(fp) == [], fp


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(KINDS),
    sample_rate=st.sampled_from(SAMPLE_RATES),
    channels=st.integers(min_value=1, max_value=8),
    duration_s=st.floats(min_value=0.0, max_value=MAX_DURATION_S),
    level=st.floats(min_value=1e-6, max_value=1.0),
    freq_hz=st.floats(min_value=20.0, max_value=3_900.0),
    seed=st.integers(min_value=0, max_value=2**16),
    subtype=st.sampled_from(["PCM_16", "PCM_24", "FLOAT"]),
)
def test_every_field_finite_and_in_range(
    kind: str,
    sample_rate: int,
    channels: int,
    duration_s: float,
    level: float,
    freq_hz: float,
    seed: int,
    subtype: str,
) -> None:
    frames = max(1, int(duration_s * sample_rate))
    signal = make_signal(kind, frames, channels, sample_rate, level, freq_hz, seed)
    fp, info = extract(encode(signal, sample_rate, subtype))
    assert_in_range(fp)
    assert info.frames == frames
    assert info.channels == channels
    assert np.isfinite([info.sample_peak_dbfs, info.true_peak_dbtp, info.loudness_range_lu]).all()


@pytest.mark.parametrize("kind", ["silence", "very_quiet_noise", "dc", "square", "nyquist"])
def test_extremes_over_several_seconds_in_range(kind: str) -> None:
    """The same edge cases long enough to reach every per-second and short-term statistic."""
    signal = make_signal(kind, 4 * 44_100, 2, 44_100, 1.0, 440.0, 1)
    fp, _ = extract(encode(signal, 44_100, "PCM_24"))
    assert_in_range(fp)


def test_tempo_is_zero_or_in_the_tempo_range_for_music() -> None:
    fp, _ = extract(encode(music_like(6.0, 22_050, bpm=110.0), 22_050, "PCM_16"))
    assert_in_range(fp)
    assert fp.tempo_bpm == pytest.approx(110.0, rel=0.02)


def _differences(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields that differ: floats (alone or in tuples) by more than 1e-6 relative, anything else
    at all."""

    def differ(x: Any, y: Any) -> bool:
        if isinstance(x, float):
            return bool(abs(x - y) > 1e-6 * max(abs(x), abs(y)) + 1e-12)
        if isinstance(x, tuple):
            return len(x) != len(y) or any(differ(u, v) for u, v in zip(x, y, strict=True))
        return bool(x != y)

    return {name: (a[name], b[name]) for name in a if differ(a[name], b[name])}


@pytest.mark.parametrize("sample_rate", [44_100, 48_000])
def test_decode_block_size_does_not_change_the_result(sample_rate: int) -> None:
    content = encode(music_like(7.0, sample_rate), sample_rate, "PCM_24")
    reference_fp, reference_info = extract(content)
    for block_frames in (1_000, 4_096, 7_919, 1 << 20):
        fp, info = extract(content, block_frames=block_frames)
        assert _differences(reference_fp.to_dict(), fp.to_dict()) == {}
        assert _differences(reference_info.to_dict(), info.to_dict()) == {}


def test_every_field_is_set_and_track_info_comes_from_the_same_pass() -> None:
    content = encode(music_like(3.0, 48_000), 48_000, "PCM_16")
    fp, info = extract(content, content_sha256="ab" * 32)
    assert set(fp.to_dict()) == set(FINGERPRINT_FIELDS)
    assert isinstance(info, TrackInfo)
    assert info.content_sha256 == "ab" * 32
    assert info.frames == 3 * 48_000
    assert info.duration_s == pytest.approx(3.0)
    assert info.codec == "pcm_s16le"
    assert info.true_peak_dbtp >= info.sample_peak_dbfs - 1e-9


def test_content_is_hashed_when_no_hash_is_given(tmp_path: Path) -> None:
    content = encode(np.zeros((800, 1)), 8_000, "PCM_16")
    _, from_bytes = extract(content)
    path = tmp_path / "track.wav"
    path.write_bytes(content)
    _, from_path = extract(path)
    assert from_bytes.content_sha256 == hashlib.sha256(content).hexdigest()
    assert from_path.content_sha256 == from_bytes.content_sha256


@pytest.mark.parametrize(
    ("signal", "sample_rate", "reason"),
    [
        (np.zeros((100, 9)), 44_100, "too many channels"),
        (np.zeros((100, 2)), 4_000, "sample rate"),
    ],
)
def test_unsupported_input_is_refused(signal: np.ndarray, sample_rate: int, reason: str) -> None:
    with pytest.raises(UnsupportedAudio, match=reason):
        extract(encode(signal, sample_rate, "PCM_16"))


def test_fingerprint_json_round_trips() -> None:
    fp, info = extract(encode(music_like(2.0, 22_050), 22_050, "PCM_16"))
    document = json.loads(fingerprint_to_json(fp, info))
    assert document["algorithm_version"] == ALGORITHM_VERSION
    assert Fingerprint.from_dict(document["fingerprint"]) == fp
    assert TrackInfo.from_dict(document["track_info"]) == info
