"""SimilarTracks on real music over a real server (SPEC section 11): each corpus track's
transcodes (MP3 128 kbit/s, FLAC at 48 kHz, made here with ffmpeg) are its two nearest
neighbours, ``distinct`` folds them away, and SonicPath between two corpus tracks repeats
nothing. The figures behind ``DUPLICATE_DISTANCE`` come from the same library."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fingerprint_service.library.similarity import DUPLICATE_DISTANCE
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.conftest import corpus_tracks
from tests.integration.fingerprint_harness import serve
from tests.servers import channel, make_config

pytestmark = [pytest.mark.corpus, pytest.mark.slow]
#: 63 files of about 4 minutes scanned on 2 workers.
SCAN_TIMEOUT_S = 1800.0
#: Transcodes that ``distinct`` must fold, of the 42 (calibration: 39 fall within the distance).
MIN_FOLDED = 36


def _transcode(source: Path, target: Path, *args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), *args, str(target)],
                   check=True)


def test_transcodes_are_each_tracks_two_nearest_neighbours(tmp_path: Path) -> None:
    config = make_config(tmp_path, FINGERPRINT_WORKERS="2")
    media = config.media_root
    stems = []
    jobs = []
    for track in corpus_tracks():
        shutil.copy(track, media / track.name)
        stems.append(track.stem)
        jobs.append((track, media / f"{track.stem}.mp3", ("-b:a", "128k")))
        jobs.append((track, media / f"{track.stem}.48k.flac", ("-ar", "48000")))
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda job: _transcode(job[0], job[1], *job[2]), jobs))
    with serve(config) as (server, _loop), channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        events = list(stub.ScanLibrary(pb.ScanLibraryRequest(), timeout=SCAN_TIMEOUT_S))
        assert events[-1].summary.files_fingerprinted == 3 * len(stems)
        folded = 0
        for stem in stems:
            original = f"{stem}.ogg"
            transcodes = {f"{stem}.mp3", f"{stem}.48k.flac"}
            nearest = stub.SimilarTracks(pb.SimilarTracksRequest(track_path=original, count=3),
                                         timeout=60).tracks
            assert {t.path for t in nearest[:2]} == transcodes, (stem, list(nearest))
            assert nearest[2].path not in transcodes
            distinct = stub.SimilarTracks(
                pb.SimilarTracksRequest(track_path=original, count=3, distinct=True),
                timeout=60).tracks
            kept = {t.path for t in distinct}
            folded += len(transcodes - kept)
            # Never a different recording folded: what distinct leaves out is a transcode.
            assert all(t.distance >= DUPLICATE_DISTANCE for t in distinct)
        assert folded >= MIN_FOLDED
        start, end = f"{stems[0]}.ogg", f"{stems[-1]}.ogg"
        walk = [t.path for t in stub.SonicPath(
            pb.SonicPathRequest(start_path=start, end_path=end, count=8), timeout=60).tracks]
        assert walk[0] == start and walk[-1] == end and len(set(walk)) == len(walk) == 8
