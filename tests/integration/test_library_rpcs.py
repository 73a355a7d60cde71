"""The library over gRPC on a real server (SPEC section 11): ScanLibrary's events and summary,
GetAlbum, SimilarTracks with its options, SonicPath, the index seeing another writer's rows, and
the status codes of SPEC section 3's table."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from fingerprint_service.library.catalog import REFRESH_INTERVAL_S
from fingerprint_service.store import FingerprintStore
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.integration.fingerprint_harness import SAFETY_TIMEOUT_S, GatedPool, serve
from tests.integration.test_scan_library import TRACKS_PER_ALBUM, make_library
from tests.servers import channel, make_config

DUPLICATE = "Untagged/first-01.mp3"  # Band/First/01.flac as a 128 kbit/s MP3
BROKEN = "Untagged/broken.mp3"
COPY = "Untagged/copy-02.flac"  # Band/Second/02.flac (the only 880 Hz tone) byte for byte


def _scan(stub: pb_grpc.FingerprintServiceStub, folder: str = ""
          ) -> tuple[list[pb.ScanProgress], pb.ScanProgress]:
    events = list(stub.ScanLibrary(pb.ScanLibraryRequest(folder=folder),
                                   timeout=SAFETY_TIMEOUT_S))
    assert [e.WhichOneof("event") for e in events][-1] == "summary"
    assert all(e.WhichOneof("event") == "progress" for e in events[:-1])
    return [e.progress for e in events[:-1]], events[-1].summary


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[pb_grpc.FingerprintServiceStub, list[str], Any]]:
    tmp_path = tmp_path_factory.mktemp("library-rpcs")
    config = make_config(tmp_path, FINGERPRINT_WORKERS="2")
    paths = make_library(config.media_root)
    shutil.copyfile(config.media_root / "Band/Second/02.flac", config.media_root / COPY)
    paths = sorted([*paths, COPY])
    pool = GatedPool(workers=2)
    with serve(config, pool) as (server, _loop), channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        events, summary = _scan(stub)
        yield stub, paths, (config, pool, events, summary)


def _codes(call: Any, request: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        answer = call(request, timeout=SAFETY_TIMEOUT_S)
        if isinstance(answer, grpc.Call):  # a stream: its status comes with its events
            list(answer)
    code: grpc.StatusCode = caught.value.code()
    return code


# -- ScanLibrary ---------------------------------------------------------------------------------


def test_scan_library_reports_every_file_then_one_summary(library: Any) -> None:
    _stub, paths, (_config, _pool, events, summary) = library
    assert sorted(e.path for e in events) == paths
    outcomes = {e.path: e.outcome for e in events}
    assert outcomes[BROKEN] == pb.FILE_FAILED
    assert next(e for e in events if e.path == BROKEN).error
    assert all(o == pb.FILE_FINGERPRINTED for p, o in outcomes.items() if p != BROKEN)
    assert summary.files_found == len(paths)
    assert summary.files_fingerprinted == len(paths) - 1
    assert summary.files_failed == 1
    assert summary.bytes_done == summary.bytes_to_do > 0
    assert summary.path == "" and summary.outcome == pb.SCAN_OUTCOME_UNSPECIFIED


def test_rescan_finds_every_file_unchanged_or_skipped(library: Any) -> None:
    stub, paths, _ = library
    events, summary = _scan(stub)
    assert summary.files_unchanged == len(paths) - 1
    assert summary.files_skipped == 1  # the broken file, not retried until it changes
    assert summary.files_fingerprinted == 0 and summary.bytes_to_do == 0
    assert len(events) == len(paths)


def test_second_concurrent_scan_is_resource_exhausted(library: Any) -> None:
    stub, _paths, (config, pool, _e, _s) = library
    (config.media_root / "Band" / "First" / "01.flac").touch()  # one file to redo
    with pool.held():
        first = stub.ScanLibrary(pb.ScanLibraryRequest(), timeout=SAFETY_TIMEOUT_S)
        next(first)  # the scan has started (its unchanged files come first)
        assert _codes(stub.ScanLibrary, pb.ScanLibraryRequest()) == \
            grpc.StatusCode.RESOURCE_EXHAUSTED
    assert [e for e in first][-1].summary.files_fingerprinted == 1


def test_scan_folder_errors(library: Any) -> None:
    stub, _paths, _ = library
    assert _codes(stub.ScanLibrary, pb.ScanLibraryRequest(folder="../")) == \
        grpc.StatusCode.PERMISSION_DENIED
    assert _codes(stub.ScanLibrary, pb.ScanLibraryRequest(folder="/etc")) == \
        grpc.StatusCode.PERMISSION_DENIED
    assert _codes(stub.ScanLibrary, pb.ScanLibraryRequest(folder="No/Such")) == \
        grpc.StatusCode.NOT_FOUND
    assert _codes(stub.ScanLibrary, pb.ScanLibraryRequest(folder="Band/First/01.flac")) == \
        grpc.StatusCode.NOT_FOUND


# -- GetAlbum ------------------------------------------------------------------------------------


def test_get_album_of_a_track_has_its_tracks_in_order_with_replaygain(library: Any) -> None:
    stub, _paths, _ = library
    album = stub.GetAlbum(pb.GetAlbumRequest(track_path="Other/Live/02.flac"),
                          timeout=SAFETY_TIMEOUT_S)
    assert [t.path for t in album.tracks] == [f"Other/Live/{n:02d}.flac"
                                              for n in range(1, TRACKS_PER_ALBUM + 1)]
    assert [t.track_number for t in album.tracks] == [1, 2, 3]
    assert (album.album_artist, album.album_title, album.grouped_by_folder) == \
        ("Other", "Live", False)
    loudest = max(t.loudness_lufs for t in album.tracks)
    quietest = min(t.loudness_lufs for t in album.tracks)
    assert quietest - 0.05 <= album.integrated_lufs <= loudest + 0.05
    assert album.replaygain_album_gain_db == pytest.approx(-18.0 - album.integrated_lufs)
    assert album.true_peak_dbtp == max(t.true_peak_dbtp for t in album.tracks)
    assert album.replaygain_album_peak == pytest.approx(10 ** (album.true_peak_dbtp / 20))
    for track in album.tracks:
        assert track.replaygain_track_gain_db == pytest.approx(-18.0 - track.loudness_lufs)
        assert track.duration_s == pytest.approx(2.0, abs=0.01)
    same = stub.GetAlbum(pb.GetAlbumRequest(album_id=album.album_id), timeout=SAFETY_TIMEOUT_S)
    assert same == album


def test_untagged_files_are_an_album_by_folder(library: Any) -> None:
    stub, _paths, _ = library
    album = stub.GetAlbum(pb.GetAlbumRequest(track_path="Untagged/a.wav"),
                          timeout=SAFETY_TIMEOUT_S)
    assert album.grouped_by_folder and album.album_title == "Untagged"
    # The broken file has no loudness and is no track of the album; the duplicate carries the
    # original's tags (ffmpeg copies them), so its album is the original's.
    assert [t.path for t in album.tracks] == ["Untagged/a.wav"]
    first = stub.GetAlbum(pb.GetAlbumRequest(track_path=DUPLICATE), timeout=SAFETY_TIMEOUT_S)
    assert DUPLICATE in [t.path for t in first.tracks] and first.album_title == "First"


def test_get_album_errors(library: Any) -> None:
    stub, _paths, _ = library
    assert _codes(stub.GetAlbum, pb.GetAlbumRequest()) == grpc.StatusCode.INVALID_ARGUMENT
    assert _codes(stub.GetAlbum, pb.GetAlbumRequest(album_id="0" * 16)) == \
        grpc.StatusCode.NOT_FOUND
    assert _codes(stub.GetAlbum, pb.GetAlbumRequest(track_path="nope.flac")) == \
        grpc.StatusCode.NOT_FOUND
    assert _codes(stub.GetAlbum, pb.GetAlbumRequest(track_path=BROKEN)) == \
        grpc.StatusCode.NOT_FOUND
    assert _codes(stub.GetAlbum, pb.GetAlbumRequest(track_path="../x.flac")) == \
        grpc.StatusCode.PERMISSION_DENIED


# -- SimilarTracks and SonicPath -----------------------------------------------------------------


def _similar(stub: pb_grpc.FingerprintServiceStub, path: str, **options: Any
             ) -> list[pb.SimilarTrack]:
    response = stub.SimilarTracks(pb.SimilarTracksRequest(track_path=path, **options),
                                  timeout=SAFETY_TIMEOUT_S)
    return list(response.tracks)


def test_similar_tracks_rank_the_duplicate_first_and_never_the_query(library: Any) -> None:
    stub, paths, _ = library
    found = _similar(stub, "Band/First/01.flac")
    indexed = len(paths) - 1  # every file but the broken one
    assert len(found) == min(10, indexed - 1)
    assert found[0].path == DUPLICATE
    assert "Band/First/01.flac" not in [t.path for t in found]
    distances = [t.distance for t in found]
    assert distances == sorted(distances)
    for track in found:
        assert 0.0 < track.similarity <= 1.0
        assert track.similarity == pytest.approx(1.0 / (1.0 + track.distance))
    tagged = next(t for t in found if t.path.startswith("Band/"))
    assert tagged.artist == "Band" and tagged.title.startswith("Song ") and tagged.album_id


def test_similar_tracks_options_hold(library: Any) -> None:
    stub, _paths, _ = library
    query = "Band/First/01.flac"
    own_album = stub.GetAlbum(pb.GetAlbumRequest(track_path=query),
                              timeout=SAFETY_TIMEOUT_S).album_id
    excluded = _similar(stub, query, exclude_same_album=True, count=50)
    assert excluded and all(t.album_id != own_album for t in excluded)
    capped = _similar(stub, query, max_per_artist=1, count=50)
    per_artist = Counter(t.artist for t in capped if t.artist)
    assert per_artist and max(per_artist.values()) == 1
    assert any(not t.artist for t in capped)  # untagged tracks are not capped
    # distinct folds the same content away (corpus transcodes: tests/corpus); without it the
    # copy ranks first, at distance 0.
    copies = _similar(stub, "Band/Second/02.flac", count=50)
    assert copies[0].path == COPY and copies[0].distance == 0.0
    distinct = _similar(stub, "Band/Second/02.flac", distinct=True, count=50)
    assert COPY not in [t.path for t in distinct]
    assert 0 < len(distinct) < len(copies)
    assert len(_similar(stub, query, count=2)) == 2


def test_sonic_path_starts_and_ends_where_asked_and_repeats_nothing(library: Any) -> None:
    stub, paths, _ = library
    start, end = "Band/First/01.flac", "Other/Live/03.flac"
    walk = stub.SonicPath(pb.SonicPathRequest(start_path=start, end_path=end, count=6),
                          timeout=SAFETY_TIMEOUT_S).tracks
    names = [t.path for t in walk]
    assert len(names) == 6
    assert names[0] == start and names[-1] == end
    assert len(set(names)) == len(names)
    from_copied = stub.SonicPath(pb.SonicPathRequest(start_path="Band/Second/02.flac",
                                                     end_path=end, count=8),
                                 timeout=SAFETY_TIMEOUT_S).tracks
    assert COPY not in [t.path for t in from_copied]  # the same content is no step away
    assert walk[0].distance == 0.0 and all(t.distance > 0.0 for t in walk[1:])
    everything = stub.SonicPath(pb.SonicPathRequest(start_path=start, end_path=end, count=200),
                                timeout=SAFETY_TIMEOUT_S).tracks
    assert len({t.path for t in everything}) == len(everything) <= len(paths) - 1


def test_similarity_errors(library: Any) -> None:
    stub, _paths, _ = library
    similar, sonic = stub.SimilarTracks, stub.SonicPath
    track = "Band/First/01.flac"
    assert _codes(similar, pb.SimilarTracksRequest()) == grpc.StatusCode.INVALID_ARGUMENT
    assert _codes(similar, pb.SimilarTracksRequest(track_path=track, count=0)) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert _codes(similar, pb.SimilarTracksRequest(track_path=track, count=1001)) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert _codes(similar, pb.SimilarTracksRequest(track_path="../../etc/passwd")) == \
        grpc.StatusCode.PERMISSION_DENIED
    assert _codes(similar, pb.SimilarTracksRequest(track_path="Band/None.flac")) == \
        grpc.StatusCode.NOT_FOUND
    assert _codes(similar, pb.SimilarTracksRequest(track_path=BROKEN)) == \
        grpc.StatusCode.NOT_FOUND
    other = "Other/Live/01.flac"
    assert _codes(sonic, pb.SonicPathRequest(start_path=track, end_path=track)) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert _codes(sonic, pb.SonicPathRequest(start_path=track, end_path=other, count=1)) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert _codes(sonic, pb.SonicPathRequest(start_path=track, end_path="x/y.flac")) == \
        grpc.StatusCode.NOT_FOUND
    assert _codes(sonic, pb.SonicPathRequest(start_path="/abs.flac", end_path=other)) == \
        grpc.StatusCode.PERMISSION_DENIED


def test_index_sees_rows_another_replica_writes(library: Any) -> None:
    """A second store on the same database stands in for a replica (or a scan job)."""
    stub, _paths, (config, _pool, _e, _s) = library
    gone = "Other/Live/02.flac"
    assert gone in [t.path for t in _similar(stub, "Other/Live/01.flac", count=50)]
    other = FingerprintStore(config.database_url)
    try:
        other.mark_gone([gone])
    finally:
        other.close()
    deadline = time.monotonic() + 10 * REFRESH_INTERVAL_S + 5.0
    while gone in [t.path for t in _similar(stub, "Other/Live/01.flac", count=50)]:
        assert time.monotonic() < deadline, "the index never saw the row marked gone"
        time.sleep(0.1)
    assert _codes(stub.SimilarTracks, pb.SimilarTracksRequest(track_path=gone)) == \
        grpc.StatusCode.NOT_FOUND
