"""Similar tracks: an exact, weighted nearest-neighbour search over the library's 25D vectors.

Each dimension is first put on a scale where equal steps sound alike (tempo and frequencies in
octaves), then standardised over the library (z-scores, so a dimension measured in Hz does not
outweigh one in 0–1), then weighted by ``WEIGHTS``. The distance between two tracks is the
weighted root-mean-square of their z-score differences; the similarity is ``1 / (1 + distance)``
(1 for identical vectors, about 0.4 for two unrelated tracks). The search is exact: one matrix
product over all vectors gives candidates, and their distances are recomputed directly, so the
order never depends on rounding. At 100 000 tracks the matrix is 10 MB of float32.

Duplicates — the same recording in another encoding or at another sample rate — rank nearest
their original, and ``distinct`` folds those within ``DUPLICATE_DISTANCE`` of an earlier result
(or with the same content hash) away.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from shared.fingerprint import FINGERPRINT_FIELDS, Fingerprint

#: Weight of each dimension in the distance, with why. Timbre and rhythm say what a piece sounds
#: like; loudness, silence and width say more about its mastering and its intro than its music.
WEIGHTS: dict[str, float] = {
    # The seven band shares sum to 1, so together they are one spectral shape: each counts
    # a little, the shape as a whole a lot.
    "sub_bass_share": 0.6,
    "bass_share": 0.6,
    "low_mid_share": 0.6,
    "mid_share": 0.6,
    "upper_mid_share": 0.6,
    "presence_share": 0.6,
    # The air band is where lossy encoders cut first (an MP3 at 128 kbit/s stops near 16 kHz).
    "air_share": 0.3,
    # Mastering level, not music: the same song remastered louder is still the same song.
    "lufs": 0.3,
    "crest_db": 0.5,
    # A one-number summary of the band shares: half weight, so the shape is not counted twice.
    "bass_mid_ratio_db": 0.5,
    # Tempo matters to listeners, but estimates can jump an octave: counted, not dominant.
    "tempo_bpm": 0.8,
    "rhythm_stability": 0.8,
    "transient_density": 1.0,
    # Mostly intros, outros and gaps between movements.
    "silence_ratio": 0.2,
    "spectral_centroid_hz": 1.0,
    # Lossy encoding moves the roll-off more than what is heard: partly counted.
    "spectral_rolloff_hz": 0.5,
    "spectral_flatness": 1.0,
    "harmonic_ratio": 1.0,
    "pitch_stability": 0.6,
    "chroma_energy": 0.6,
    "dynamic_range_variation": 0.5,
    "loudness_variation_db": 0.5,
    "peak_consistency": 0.4,
    # Stereo width and phase are production choices (and vanish in a mono transcode).
    "stereo_width": 0.3,
    "phase_correlation": 0.3,
}
#: Dimensions compared in octaves (log2), where equal ratios sound like equal steps.
LOG_SCALED = frozenset({"tempo_bpm", "spectral_centroid_hz", "spectral_rolloff_hz"})
#: Floor under log-scaled values (0 BPM = silence; 1 Hz lies below any real centroid).
_LOG_FLOOR = 1.0
#: A dimension whose spread over the library is below this (in its scaled unit) carries no
#: information there (a library of mono files has no width) and is left out of the distance.
MIN_SPREAD = 1e-9
#: Distance below which two tracks count as the same recording (another encoding of it).
#: Calibrated on the 21-track corpus with each track's transcodes in the index (63 vectors):
#: original → MP3 128 kbit/s median 0.08, max 0.51; original → FLAC at 48 kHz median 0.27,
#: max 0.66; two different corpus tracks never closer than 0.49 (median nearest 0.75). 0.45
#: folds 39 of the 42 transcodes and never two different tracks; every transcode ranks among
#: its original's two nearest whatever the threshold.
DUPLICATE_DISTANCE = 0.45
#: Candidates taken from the matrix product per result asked, before the filters (album, artist,
#: duplicates) thin them; if too few survive, the search widens to the whole library.
_CANDIDATES_PER_RESULT = 8
_MIN_CANDIDATES = 64

_WEIGHT_VECTOR = np.array([WEIGHTS[name] for name in FINGERPRINT_FIELDS], dtype=np.float64)
_LOG_MASK = np.array([name in LOG_SCALED for name in FINGERPRINT_FIELDS])

FloatArray = NDArray[np.float64]


def feature_vector(fingerprint: Fingerprint) -> FloatArray:
    """The 25 dimensions on the similarity scale (before standardising)."""
    values = np.array([getattr(fingerprint, n) for n in FINGERPRINT_FIELDS], dtype=np.float64)
    values[_LOG_MASK] = np.log2(np.maximum(values[_LOG_MASK], _LOG_FLOOR))
    return values


def similarity_of(distance: float) -> float:
    return 1.0 / (1.0 + distance)


@dataclass(frozen=True, slots=True)
class IndexedTrack:
    """One library track as the index knows it."""

    path: str
    content_sha256: str
    artist: str
    album_id: str
    fingerprint: Fingerprint


@dataclass(frozen=True, slots=True)
class Neighbour:
    path: str
    distance: float
    similarity: float


@dataclass(frozen=True, slots=True)
class SimilarOptions:
    """``count`` results; drop the query's album; at most ``max_per_artist`` per artist (0 = no
    cap; untagged artists are not capped); ``distinct`` folds duplicates of the query and of
    earlier results away."""

    count: int = 10
    exclude_same_album: bool = False
    max_per_artist: int = 0
    distinct: bool = False


class SimilarityIndex:
    """The library's vectors in memory, kept current by ``upsert``/``remove``; not thread-safe
    (the service guards it with one lock)."""

    def __init__(self, tracks: Iterable[IndexedTrack] = ()) -> None:
        self._tracks: list[IndexedTrack] = []
        self._raw = np.zeros((0, len(FINGERPRINT_FIELDS)), dtype=np.float64)
        self._rows = 0
        self._position: dict[str, int] = {}
        self._scaled: NDArray[np.float32] | None = None
        self._scale = np.ones(len(FINGERPRINT_FIELDS))
        self._centre = np.zeros(len(FINGERPRINT_FIELDS))
        self._norms: NDArray[np.float32] | None = None
        for track in tracks:
            self.upsert(track)

    def __len__(self) -> int:
        return self._rows

    def __contains__(self, path: object) -> bool:
        return path in self._position

    def nbytes(self) -> int:
        """Bytes of the arrays the index holds (vectors and their standardised copy)."""
        scaled = 0 if self._scaled is None else self._scaled.nbytes + self._norms_nbytes()
        return int(self._raw.nbytes + scaled)

    def _norms_nbytes(self) -> int:
        return 0 if self._norms is None else int(self._norms.nbytes)

    def track_at(self, row: int) -> IndexedTrack:
        return self._tracks[row]

    def track(self, path: str) -> IndexedTrack | None:
        position = self._position.get(path)
        return None if position is None else self._tracks[position]

    def upsert(self, track: IndexedTrack) -> None:
        vector = feature_vector(track.fingerprint)
        position = self._position.get(track.path)
        if position is None:
            if self._rows == self._raw.shape[0]:
                grown = np.zeros((max(16, 2 * self._rows), self._raw.shape[1]))
                grown[: self._rows] = self._raw[: self._rows]
                self._raw = grown
            position = self._rows
            self._rows += 1
            self._tracks.append(track)
            self._position[track.path] = position
        else:
            self._tracks[position] = track
        self._raw[position] = vector
        self._scaled = None

    def remove(self, path: str) -> None:
        position = self._position.pop(path, None)
        if position is None:
            return
        last = self._rows - 1
        if position != last:  # move the last row into the hole
            moved = self._tracks[last]
            self._tracks[position] = moved
            self._raw[position] = self._raw[last]
            self._position[moved.path] = position
        self._tracks.pop()
        self._rows -= 1
        self._scaled = None

    def _standardised(self) -> NDArray[np.float32]:
        """The weighted z-scores of every row (recomputed after a change, then reused)."""
        if self._scaled is None:
            raw = self._raw[: self._rows]
            centre = raw.mean(axis=0) if self._rows else np.zeros(raw.shape[1])
            spread = raw.std(axis=0) if self._rows else np.zeros(raw.shape[1])
            informative = spread > MIN_SPREAD
            weights = np.where(informative, _WEIGHT_VECTOR, 0.0)
            total = weights.sum()
            # Dividing by the weight sum makes the distance an RMS z-score, whatever is left out.
            self._scale = np.where(
                informative,
                np.sqrt(weights / max(total, MIN_SPREAD)) / np.where(informative, spread, 1.0),
                0.0,
            )
            self._centre = centre
            # Dimension-major: the one product per query then reads each dimension's row.
            self._scaled = np.ascontiguousarray(((raw - centre) * self._scale).T, np.float32)
            self._norms = np.einsum("ij,ij->j", self._scaled, self._scaled)
        return self._scaled

    def _point(self, path: str) -> tuple[int, FloatArray]:
        position = self._position.get(path)
        if position is None:
            raise KeyError(path)
        return position, (self._raw[position] - self._centre) * self._scale

    def _exact(self, rows: NDArray[np.int64], point: FloatArray) -> FloatArray:
        diff = (self._raw[rows] - self._centre) * self._scale - point
        return np.asarray(np.sqrt(np.einsum("ij,ij->i", diff, diff)), dtype=np.float64)

    def _ranked(self, point: FloatArray, candidates: int) -> tuple[NDArray[np.int64], FloatArray]:
        """Up to ``candidates`` rows nearest ``point``, nearest first, with exact distances."""
        scaled = self._standardised()
        assert self._norms is not None
        q = point.astype(np.float32)
        approx = self._norms - 2.0 * (q @ scaled)  # + |q|², the same for every row
        if candidates < self._rows:
            rows = np.argpartition(approx, candidates)[:candidates].astype(np.int64)
        else:
            rows = np.arange(self._rows, dtype=np.int64)
        distances = self._exact(rows, point)
        order = np.lexsort((rows, distances))
        return rows[order], distances[order]

    def scaled_point(self, row: int) -> FloatArray:
        return np.asarray((self._raw[row] - self._centre) * self._scale, dtype=np.float64)

    def _pairwise(self, a: int, b: int) -> float:
        self._standardised()
        diff = (self._raw[a] - self._raw[b]) * self._scale
        return float(math.sqrt(float(diff @ diff)))

    def similar(self, path: str, options: SimilarOptions) -> list[Neighbour]:
        """The ``options.count`` nearest tracks to the indexed track ``path`` (never itself).

        Raises KeyError when ``path`` is not indexed.
        """
        self._standardised()
        query, point = self._point(path)
        me = self._tracks[query]
        wanted = max(0, options.count)
        candidates = max(_MIN_CANDIDATES, _CANDIDATES_PER_RESULT * wanted)
        while True:
            rows, distances = self._ranked(point, candidates)
            picked = self._filter(query, me, rows, distances, options, wanted)
            if len(picked) >= wanted or candidates >= self._rows:
                return picked
            candidates = self._rows

    def _filter(
        self,
        query: int,
        me: IndexedTrack,
        rows: NDArray[np.int64],
        distances: FloatArray,
        options: SimilarOptions,
        wanted: int,
    ) -> list[Neighbour]:
        picked: list[Neighbour] = []
        kept = _Kept(self)
        kept.add(query)
        per_artist: dict[str, int] = {}
        for row, distance in zip(rows.tolist(), distances.tolist(), strict=True):
            if len(picked) >= wanted:
                break
            track = self._tracks[row]
            if row == query:
                continue
            if options.exclude_same_album and track.album_id == me.album_id:
                continue
            artist = track.artist.casefold().strip()
            if (
                options.max_per_artist > 0
                and artist
                and per_artist.get(artist, 0) >= options.max_per_artist
            ):
                continue
            if options.distinct and kept.duplicates(row):
                continue
            if artist:
                per_artist[artist] = per_artist.get(artist, 0) + 1
            kept.add(row)
            picked.append(Neighbour(track.path, distance, similarity_of(distance)))
        return picked

    def sonic_path(self, start: str, end: str, count: int) -> list[Neighbour]:
        """``count`` tracks (≥ 2) from ``start`` to ``end``: the first is ``start``, the last
        ``end``, and each one between is the unused track nearest its evenly spaced point on the
        straight line between them, so the walk moves steadily and never repeats. Duplicates of
        a track already on the path are skipped. Distances are to the previous track.

        Raises KeyError for a path not indexed, ValueError for ``count`` < 2 or equal ends.
        """
        if count < 2:
            raise ValueError("a sonic path has at least its two ends")
        self._standardised()
        first, a = self._point(start)
        last, b = self._point(end)
        if first == last:
            raise ValueError("a sonic path needs two different tracks")
        chosen = [first]
        used = _Kept(self)
        used.add(first)
        used.add(last)
        for step in range(1, count - 1):
            target = a + (b - a) * (step / (count - 1))
            rows, _ = self._ranked(target, self._rows)
            for row in rows.tolist():
                if row in used.rows or used.duplicates(row):
                    continue
                chosen.append(row)
                used.add(row)
                break
        chosen.append(last)
        return self._as_walk(chosen)

    def _as_walk(self, rows: Sequence[int]) -> list[Neighbour]:
        walk: list[Neighbour] = []
        previous: int | None = None
        for row in rows:
            distance = 0.0 if previous is None else self._pairwise(previous, row)
            walk.append(Neighbour(self._tracks[row].path, distance, similarity_of(distance)))
            previous = row
        return walk


class _Kept:
    """Rows already chosen, to tell whether another is a duplicate of any of them at once."""

    def __init__(self, index: SimilarityIndex) -> None:
        self._index = index
        self.rows: set[int] = set()
        self._hashes: set[str] = set()
        self._points: list[FloatArray] = []

    def add(self, row: int) -> None:
        self.rows.add(row)
        self._hashes.add(self._index.track_at(row).content_sha256)
        self._points.append(self._index.scaled_point(row))

    def duplicates(self, row: int) -> bool:
        """Same content as a kept row, or within ``DUPLICATE_DISTANCE`` of one."""
        if self._index.track_at(row).content_sha256 in self._hashes:
            return True
        diff = np.asarray(self._points) - self._index.scaled_point(row)
        return bool(np.einsum("ij,ij->i", diff, diff).min() < DUPLICATE_DISTANCE**2)
