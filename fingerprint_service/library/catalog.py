"""The library's read side: albums and similar tracks over the store, the index kept current.

``Catalog`` answers GetAlbum, SimilarTracks and SonicPath with domain objects (the servicer
translates). The similarity index is loaded from the store on first use and then kept current
two ways:

- the scans this process runs tell it about every file they store or mark gone (``on_track``),
  so its own scans show at once;
- replicas sharing one PostgreSQL (or a ``scan`` CLI or Kubernetes job writing into it) are seen
  by a delta read before a query, at most every ``REFRESH_INTERVAL_S``: the rows whose indexed
  ``scanned_at`` is at or after the newest one already seen, minus ``CLOCK_SKEW_ALLOWANCE_S``.
  A timestamp rather than a row counter because every write (new file, changed file, file gone)
  already sets it and it is indexed, so an idle check is one empty index range read, and no
  schema change is needed; the allowance covers writers whose clocks disagree by up to a
  minute, and re-reading a row that did not change costs nothing (an unchanged track is not
  re-indexed, so the standardised matrix is not rebuilt for it).

Library paths are checked as the store names them (relative to the media root, POSIX form),
without touching the disk: the library answers from what the scan saw.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

import structlog

from fingerprint_service.library.album_loudness import AlbumLoudness, TrackLoudness, album_loudness
from fingerprint_service.library.albums import album_order
from fingerprint_service.library.scan import AnalysedFile
from fingerprint_service.library.similarity import (
    IndexedTrack,
    Neighbour,
    SimilarityIndex,
    SimilarOptions,
)
from fingerprint_service.library.tags import Tags
from fingerprint_service.store import FingerprintStore, LibraryEntry, LibraryTrack
from shared.errors import InvalidArgument, LibraryUnavailable, PathOutsideRoot, TrackNotFound
from shared.fingerprint import Fingerprint

log = structlog.get_logger(__name__)

#: How stale the index may be about other writers: one delta read per second at most.
REFRESH_INTERVAL_S = 1.0
#: Writers' clocks may disagree by this much; the delta read reaches back that far.
CLOCK_SKEW_ALLOWANCE_S = 60.0
#: SimilarTracks: results when ``count`` is unset, and the most allowed.
DEFAULT_SIMILAR_COUNT = 10
MAX_SIMILAR_COUNT = 1000
#: SonicPath: tracks on the path when ``count`` is unset, and the range allowed.
DEFAULT_PATH_COUNT = 10
MIN_PATH_COUNT = 2
MAX_PATH_COUNT = 200


@dataclass(frozen=True, slots=True)
class SimilarTrack:
    """One result: a library track, its distance (to the query, or on a path to the previous
    track) and its similarity, with the labels a client shows."""

    path: str
    distance: float
    similarity: float
    artist: str
    title: str
    album_id: str


@dataclass(frozen=True, slots=True)
class AlbumTrack:
    path: str
    tags: Tags
    duration_s: float
    content_sha256: str
    loudness_lufs: float
    true_peak_dbtp: float
    replaygain_track_gain_db: float
    replaygain_track_peak: float


@dataclass(frozen=True, slots=True)
class Album:
    album_id: str
    album_artist: str
    album_title: str
    grouped_by_folder: bool
    loudness: AlbumLoudness
    tracks: tuple[AlbumTrack, ...]


def library_path(field: str, value: str) -> str:
    """``value`` as a library path, or the typed error naming ``field``."""
    if not value:
        raise InvalidArgument(f"{field} is empty: give a scanned track's path relative to the "
                              "media root")
    pure = PurePosixPath(value)
    if "\x00" in value or pure.is_absolute() or value.startswith("\\") or ".." in pure.parts:
        raise PathOutsideRoot(f"{field} {value!r} is outside the media root")
    return pure.as_posix()


def checked_count(field: str, count: int | None, default: int, low: int, high: int) -> int:
    if count is None:
        return default
    if not low <= count <= high:
        raise InvalidArgument(f"{field} must be {low} to {high}, got {count}")
    return count


def _tags_of(entry: LibraryEntry) -> Tags:
    try:
        return Tags.from_dict(json.loads(entry.tags_json))
    except (ValueError, TypeError):
        return Tags()


def _indexed(track: LibraryTrack) -> tuple[IndexedTrack, Tags] | None:
    """The index's view of a stored track; None for a row this code could not have written."""
    try:
        fingerprint = Fingerprint.from_dict(json.loads(track.features_json))
    except (ValueError, TypeError, KeyError):
        return None
    tags = _tags_of(track.entry)
    return IndexedTrack(
        path=track.entry.path,
        content_sha256=track.entry.content_sha256,
        artist=tags.artist,
        album_id=track.entry.album_id,
        fingerprint=fingerprint,
    ), tags


class Catalog:
    """Albums and similarity over ``store``. Used from one event loop (no locking needed: index
    changes and searches run on it, store reads in threads)."""

    def __init__(self, store: FingerprintStore, *, clock: Callable[[], float] = time.monotonic,
                 refresh_interval_s: float = REFRESH_INTERVAL_S) -> None:
        self._store = store
        self._clock = clock
        self._refresh_interval_s = refresh_interval_s
        self._index = SimilarityIndex()
        self._titles: dict[str, str] = {}
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._watermark: datetime | None = None
        self._checked_at = -float("inf")

    @property
    def index(self) -> SimilarityIndex:
        return self._index

    # -- keeping the index current ---------------------------------------------------------

    def on_track(self, entry: LibraryEntry, analysed: AnalysedFile | None) -> None:
        """A scan of this process stored ``entry`` (``analysed`` None: marked gone)."""
        if not self._loaded:
            return  # the first query loads everything, this row included
        if analysed is None or entry.status != "ok" or analysed.fingerprint is None:
            self._remove(entry.path)
            return
        self._upsert(IndexedTrack(path=entry.path, content_sha256=entry.content_sha256,
                                  artist=analysed.tags.artist, album_id=entry.album_id,
                                  fingerprint=analysed.fingerprint), analysed.tags)

    def _upsert(self, track: IndexedTrack, tags: Tags) -> None:
        self._titles[track.path] = tags.title
        if self._index.track(track.path) != track:  # unchanged rows leave the matrix alone
            self._index.upsert(track)

    def _remove(self, path: str) -> None:
        self._titles.pop(path, None)
        self._index.remove(path)

    async def _current(self) -> SimilarityIndex:
        """The index, loaded on first use and refreshed from the store when due."""
        async with self._load_lock:
            now = self._clock()
            if not self._loaded:
                await self._load()
                self._checked_at = now
            elif now - self._checked_at >= self._refresh_interval_s:
                await self._refresh()
                self._checked_at = now
        return self._index

    async def _load(self) -> None:
        started = time.perf_counter()
        # Read the watermark first: rows written during the load are read again, not missed.
        since = datetime.now(UTC).replace(tzinfo=None)
        tracks = await asyncio.to_thread(self._store.library_tracks)
        if tracks is None:
            raise LibraryUnavailable("the library database is unusable right now; retry later")
        for track in tracks:
            indexed = _indexed(track)
            if indexed is not None:
                self._upsert(*indexed)
        self._loaded = True
        self._watermark = since
        log.info("similarity_index_loaded", tracks=len(self._index),
                 load_ms=round((time.perf_counter() - started) * 1000.0, 1))

    async def _refresh(self) -> None:
        assert self._watermark is not None
        since = self._watermark - timedelta(seconds=CLOCK_SKEW_ALLOWANCE_S)
        changes = await asyncio.to_thread(self._store.library_changes, since)
        if changes is None:
            return  # degraded: answer from what is loaded
        tracks, removed, latest = changes
        for track in tracks:
            indexed = _indexed(track)
            if indexed is not None:
                self._upsert(*indexed)
        for path in removed:
            self._remove(path)
        if latest is not None and latest > self._watermark:
            self._watermark = latest

    # -- queries -----------------------------------------------------------------------------

    def _result(self, neighbour: Neighbour) -> SimilarTrack:
        track = self._index.track(neighbour.path)
        assert track is not None
        return SimilarTrack(path=neighbour.path, distance=neighbour.distance,
                            similarity=neighbour.similarity, artist=track.artist,
                            title=self._titles.get(neighbour.path, ""), album_id=track.album_id)

    async def similar(self, track_path: str, count: int | None, *, exclude_same_album: bool,
                      max_per_artist: int, distinct: bool) -> list[SimilarTrack]:
        path = library_path("track_path", track_path)
        wanted = checked_count("count", count, DEFAULT_SIMILAR_COUNT, 1, MAX_SIMILAR_COUNT)
        index = await self._current()
        if path not in index:
            raise TrackNotFound(f"track not in the library: {path} (scan its folder first)")
        options = SimilarOptions(count=wanted, exclude_same_album=exclude_same_album,
                                 max_per_artist=max_per_artist, distinct=distinct)
        return [self._result(n) for n in index.similar(path, options)]

    async def sonic_path(self, start_path: str, end_path: str, count: int | None
                         ) -> list[SimilarTrack]:
        start = library_path("start_path", start_path)
        end = library_path("end_path", end_path)
        steps = checked_count("count", count, DEFAULT_PATH_COUNT, MIN_PATH_COUNT, MAX_PATH_COUNT)
        if start == end:
            raise InvalidArgument("start_path and end_path must be different tracks")
        index = await self._current()
        for field, path in (("start_path", start), ("end_path", end)):
            if path not in index:
                raise TrackNotFound(f"{field}: track not in the library: {path}")
        return [self._result(n) for n in index.sonic_path(start, end, steps)]

    async def album(self, *, album_id: str | None = None, track_path: str | None = None
                    ) -> Album:
        """The album named by id, or the album of a scanned track."""
        if (album_id is None) == (track_path is None):
            raise InvalidArgument("set exactly one of album_id or track_path")
        if track_path is not None:
            path = library_path("track_path", track_path)
            entry = await asyncio.to_thread(self._store.library_entry, path)
            if entry is None or entry.status != "ok":
                raise TrackNotFound(f"track not in the library: {path} (scan its folder first)")
            album_id = entry.album_id
        assert album_id is not None
        album_id = album_id.strip().lower()
        if not album_id:
            raise InvalidArgument("album_id is empty")
        rows = await asyncio.to_thread(self._store.library_tracks, album_id)
        if rows is None:
            raise LibraryUnavailable("the library database is unusable right now; retry later")
        return album_of_rows(album_id, rows)


def album_of_rows(album_id: str, rows: Sequence[LibraryTrack]) -> Album:
    """The album of its stored tracks (those with album data), in album order."""
    members: list[tuple[tuple[int, int, str], LibraryTrack, Tags, TrackLoudness]] = []
    for row in rows:
        if row.loudness_json is None:
            continue
        try:
            loudness = TrackLoudness.from_json(json.loads(row.loudness_json))
        except (ValueError, TypeError, KeyError):
            continue
        tags = _tags_of(row.entry)
        members.append((album_order(tags, row.entry.path), row, tags, loudness))
    if not members:
        raise TrackNotFound(f"album not found: {album_id}")
    members.sort(key=lambda member: member[0])
    facts = album_loudness(loudness for *_, loudness in members)
    first_tags = members[0][2]
    by_folder = not first_tags.album.strip()
    tracks = tuple(
        AlbumTrack(path=row.entry.path, tags=tags, duration_s=row.duration_s,
                   content_sha256=row.entry.content_sha256, loudness_lufs=gain.loudness_lufs,
                   true_peak_dbtp=gain.true_peak_dbtp,
                   replaygain_track_gain_db=gain.replaygain_track_gain_db,
                   replaygain_track_peak=gain.replaygain_track_peak)
        for (_, row, tags, _), gain in zip(members, facts.tracks, strict=True)
    )
    return Album(
        album_id=album_id,
        album_artist="" if by_folder else (first_tags.album_artist or first_tags.artist),
        album_title=(str(PurePosixPath(members[0][1].entry.path).parent) if by_folder
                     else first_tags.album),
        grouped_by_folder=by_folder,
        loudness=facts,
        tracks=tracks,
    )

