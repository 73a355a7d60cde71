"""SimilarTracks and SonicPath over the in-memory index (SPEC section 11), on synthetic vectors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fingerprint_service.library.similarity import (
    DUPLICATE_DISTANCE,
    WEIGHTS,
    IndexedTrack,
    SimilarityIndex,
    SimilarOptions,
    feature_vector,
)
from shared.fingerprint import FINGERPRINT_FIELDS, Fingerprint


def _fingerprint(rng: np.random.Generator) -> Fingerprint:
    values = dict(
        zip(FINGERPRINT_FIELDS, rng.uniform(0.05, 0.95, len(FINGERPRINT_FIELDS)), strict=True)
    )
    values.update(
        lufs=rng.uniform(-30, -8),
        tempo_bpm=rng.uniform(70, 180),
        spectral_centroid_hz=rng.uniform(500, 5000),
        spectral_rolloff_hz=rng.uniform(2000, 15000),
        crest_db=rng.uniform(6, 20),
    )
    return Fingerprint(**values)


def _library(n: int = 60, seed: int = 3) -> list[IndexedTrack]:
    rng = np.random.default_rng(seed)
    return [
        IndexedTrack(
            path=f"t{i:03d}",
            content_sha256=f"{i:064x}",
            artist=f"artist{i % 5}",
            album_id=f"album{i % 10}",
            fingerprint=_fingerprint(rng),
        )
        for i in range(n)
    ]


def _nudged(fp: Fingerprint, amount: float) -> Fingerprint:
    return dataclasses.replace(fp, lufs=fp.lufs + amount, air_share=fp.air_share * 0.98)


def _brute_force(tracks: list[IndexedTrack], query: str) -> list[str]:
    raw = np.array([feature_vector(t.fingerprint) for t in tracks])
    weights = np.array([WEIGHTS[n] for n in FINGERPRINT_FIELDS])
    z = (raw - raw.mean(0)) / raw.std(0)
    q = z[[t.path for t in tracks].index(query)]
    d = np.sqrt(((z - q) ** 2 * weights).sum(1) / weights.sum())
    return [tracks[i].path for i in np.argsort(d, kind="stable") if tracks[i].path != query]


def test_search_is_exact_standardised_weighted_distance() -> None:
    tracks = _library()
    index = SimilarityIndex(tracks)
    found = index.similar("t007", SimilarOptions(count=10))
    assert [n.path for n in found] == _brute_force(tracks, "t007")[:10]
    assert all(0.0 < n.similarity <= 1.0 for n in found)
    assert [n.distance for n in found] == sorted(n.distance for n in found)


def test_a_duplicate_ranks_first_and_distinct_folds_it_away() -> None:
    tracks = _library()
    copy = dataclasses.replace(
        tracks[7],
        path="t007.mp3",
        content_sha256="f" * 64,
        fingerprint=_nudged(tracks[7].fingerprint, 0.2),
    )
    index = SimilarityIndex([*tracks, copy])
    plain = index.similar("t007", SimilarOptions(count=5))
    assert plain[0].path == "t007.mp3" and plain[0].distance < DUPLICATE_DISTANCE
    distinct = index.similar("t007", SimilarOptions(count=5, distinct=True))
    assert "t007.mp3" not in [n.path for n in distinct] and len(distinct) == 5
    # Folding also applies between results: asking from a third track, only one of the pair.
    near = [n.path for n in index.similar("t007.mp3", SimilarOptions(count=59, distinct=True))]
    assert "t007" not in near


def test_same_album_can_be_excluded() -> None:
    index = SimilarityIndex(_library())
    found = index.similar("t007", SimilarOptions(count=20, exclude_same_album=True))
    assert len(found) == 20
    assert all(index.track(n.path).album_id != "album7" for n in found)  # type: ignore[union-attr]


def test_per_artist_cap_holds() -> None:
    index = SimilarityIndex(_library())
    found = index.similar("t007", SimilarOptions(count=12, max_per_artist=2))
    artists = [index.track(n.path).artist for n in found]  # type: ignore[union-attr]
    assert max(artists.count(a) for a in set(artists)) <= 2
    # Five artists, two each: the cap leaves ten tracks, however many were asked.
    assert len(found) == 10


def test_rows_arrive_and_leave_and_the_index_stays_current() -> None:
    tracks = _library()
    index = SimilarityIndex(tracks[:30])
    for t in tracks[30:]:
        index.upsert(t)
    index.remove("t003")
    index.upsert(dataclasses.replace(tracks[8], fingerprint=tracks[9].fingerprint))
    remaining = [t for t in tracks if t.path != "t003"]
    remaining = [
        dataclasses.replace(t, fingerprint=tracks[9].fingerprint) if t.path == "t008" else t
        for t in remaining
    ]
    assert len(index) == 59
    found = [n.path for n in index.similar("t012", SimilarOptions(count=15))]
    assert found == _brute_force(remaining, "t012")[:15]
    with pytest.raises(KeyError):
        index.similar("t003", SimilarOptions())


def test_sonic_path_starts_and_ends_where_asked_and_repeats_nothing() -> None:
    index = SimilarityIndex(_library())
    walk = [n.path for n in index.sonic_path("t001", "t042", 8)]
    assert walk[0] == "t001" and walk[-1] == "t042"
    assert len(walk) == 8 and len(set(walk)) == 8


def _between(a: Fingerprint, b: Fingerprint, share: float) -> Fingerprint:
    return Fingerprint(
        **{
            name: (1 - share) * getattr(a, name) + share * getattr(b, name)
            for name in FINGERPRINT_FIELDS
        }
    )


def _corner(share: float) -> Fingerprint:
    """A fingerprint at ``share`` of the way through every field's range in ``_fingerprint``."""
    ranges = dict.fromkeys(FINGERPRINT_FIELDS, (0.05, 0.95))
    ranges.update(
        lufs=(-30, -8),
        tempo_bpm=(70, 180),
        spectral_centroid_hz=(500, 5000),
        spectral_rolloff_hz=(2000, 15000),
        crest_db=(6, 20),
    )
    return Fingerprint(**{n: lo + share * (hi - lo) for n, (lo, hi) in ranges.items()})


def test_sonic_path_walks_through_the_tracks_between_the_ends_in_order() -> None:
    # Ends at opposite corners of the library's range, so that five equal steps between them are
    # each longer than DUPLICATE_DISTANCE: closer steps would be folded as duplicates.
    low, high = _corner(0.0), _corner(1.0)
    tracks = [
        *_library(),
        IndexedTrack("low", f"{998:064x}", "", "", low),
        IndexedTrack("high", f"{999:064x}", "", "", high),
    ]
    a, b = low, high
    # Four tracks on the way from low to high, named out of order, a little off the points.
    shares = [3 / 5 + 0.02, 1 / 5 - 0.01, 4 / 5, 2 / 5 + 0.01]
    steps = [
        IndexedTrack(
            path=f"step{i}",
            content_sha256=f"{1000 + i:064x}",
            artist="",
            album_id="",
            fingerprint=_between(a, b, s),
        )
        for i, s in enumerate(shares)
    ]
    index = SimilarityIndex([*tracks, *steps])
    walk = index.sonic_path("low", "high", 6)
    by_share = [f"step{shares.index(s)}" for s in sorted(shares)]
    assert [n.path for n in walk] == ["low", *by_share, "high"]
    assert min(n.distance for n in walk[1:]) > DUPLICATE_DISTANCE


def test_sonic_path_needs_two_ends() -> None:
    index = SimilarityIndex(_library())
    with pytest.raises(ValueError):
        index.sonic_path("t001", "t001", 5)
    with pytest.raises(ValueError):
        index.sonic_path("t001", "t002", 1)
