"""Album loudness from per-track histograms (SPEC section 11): pooled BS.1770 gating, LRA,
ReplayGain 2.0. The reference is the project's meter fed the album's tracks back to back."""

from __future__ import annotations

import numpy as np
import pytest

from fingerprint_service.library.album_loudness import (
    REPLAYGAIN_REFERENCE_LUFS,
    LoudnessHistogram,
    TrackLoudness,
    album_loudness,
    peak_amplitude,
)
from shared.loudness import LoudnessMeter

RATE_HZ = 48_000


def _tracks(levels: list[float], seconds: float = 20.0) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    frames = int(seconds * RATE_HZ)
    out = []
    for i, gain in enumerate(levels):
        t = np.arange(frames) / RATE_HZ
        # A tone with a slow swell, so blocks spread over several LU within each track.
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * t / (7.0 + i))
        tone = np.sin(2 * np.pi * (220.0 * (i + 1)) * t) * envelope
        noise = rng.standard_normal(frames) * 0.1
        mono = gain * (tone + noise)
        out.append(np.stack([mono, 0.8 * mono], axis=1))
    return out


def _measured(x: np.ndarray) -> TrackLoudness:
    meter = LoudnessMeter(RATE_HZ, x.shape[1])
    meter.feed(x)
    return TrackLoudness.of_meter(meter)


def test_track_histogram_gives_the_meters_integrated_loudness() -> None:
    for x in _tracks([0.3, 0.05]):
        meter = LoudnessMeter(RATE_HZ, 2)
        meter.feed(x)
        # Only the bin holding the relative threshold is approximate: a few hundredths of a
        # LU on this swell, whose blocks crowd every level.
        assert TrackLoudness.of_meter(meter).blocks.integrated_lufs() == pytest.approx(
            meter.integrated_lufs(), abs=0.03
        )


def test_album_loudness_is_the_pooled_gating_of_the_concatenated_tracks() -> None:
    # Levels 20 dB apart: the quiet track's blocks fall under the album's relative gate, so the
    # mean of the track loudnesses would be several LU off.
    tracks = _tracks([0.5, 0.4, 0.05])
    whole = LoudnessMeter(RATE_HZ, 2)
    for x in tracks:
        whole.feed(x)
    album = album_loudness(_measured(x) for x in tracks)
    assert album.integrated_lufs == pytest.approx(whole.integrated_lufs(), abs=0.05)
    mean_of_tracks = float(np.mean([t.loudness_lufs for t in album.tracks]))
    assert abs(mean_of_tracks - album.integrated_lufs) > 1.0


def test_album_loudness_range_matches_the_concatenated_range() -> None:
    tracks = _tracks([0.5, 0.15, 0.05])
    whole = LoudnessMeter(RATE_HZ, 2)
    for x in tracks:
        whole.feed(x)
    album = album_loudness(_measured(x) for x in tracks)
    # Windows straddling two tracks are not measured: EBU Tech 3342 tolerance, ±1 LU.
    assert album.loudness_range_lu == pytest.approx(whole.loudness_range_lu(), abs=1.0)


def test_replaygain_values_follow_the_minus_18_lufs_reference_and_true_peaks() -> None:
    tracks = [_measured(x) for x in _tracks([0.5, 0.1])]
    album = album_loudness(tracks)
    assert album.replaygain_album_gain_db == pytest.approx(
        REPLAYGAIN_REFERENCE_LUFS - album.integrated_lufs
    )
    for gain, track in zip(album.tracks, tracks, strict=True):
        assert gain.replaygain_track_gain_db == pytest.approx(
            REPLAYGAIN_REFERENCE_LUFS - track.blocks.integrated_lufs()
        )
        assert gain.replaygain_track_peak == pytest.approx(10 ** (track.true_peak_dbtp / 20))
    assert album.true_peak_dbtp == max(t.true_peak_dbtp for t in tracks)
    assert album.replaygain_album_peak == pytest.approx(peak_amplitude(album.true_peak_dbtp))


def test_silent_album_reads_the_absolute_gate() -> None:
    album = album_loudness([_measured(np.zeros((RATE_HZ * 2, 2)))])
    assert album.integrated_lufs == -70.0
    assert album.loudness_range_lu == 0.0
    assert album.replaygain_album_peak == 0.0


def test_track_loudness_round_trips_through_json() -> None:
    track = _measured(_tracks([0.3], seconds=5.0)[0])
    again = TrackLoudness.from_json(track.to_json())
    assert again == track


def test_histogram_json_with_out_of_range_bins_is_refused() -> None:
    with pytest.raises(ValueError):
        LoudnessHistogram.from_json({"bins": [10_000], "counts": [1], "power_sums": [1.0]})


def test_album_needs_a_track() -> None:
    with pytest.raises(ValueError):
        album_loudness([])
