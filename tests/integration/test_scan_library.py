"""The library scan (SPEC section 11) through ``python -m fingerprint_service scan``, on a
generated library: albums in folders with tags written by mutagen, a broken file, a duplicate in
another encoding. Incremental, resumable, per-file failures stored, shards cover it once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.flac import FLAC

from tests.postgres import postgres_database_url  # noqa: F401  (fixture)

#: Each test runs the scan command two or three times (a process and a worker pool each).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RATE_HZ = 44_100
ALBUMS = {"Band/First": ("Band", "First"), "Band/Second": ("Band", "Second"),
          "Other/Live": ("Other", "Live")}
TRACKS_PER_ALBUM = 3


def _tone(seconds: float, freq_hz: float, gain: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    mono = gain * np.sin(2 * np.pi * freq_hz * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    return np.stack([mono, 0.7 * mono], axis=1)


def make_library(root: Path, seconds: float = 2.0) -> list[str]:
    """Writes the library; returns every audio file's relative path."""
    paths = []
    for index, (folder, (artist, album)) in enumerate(ALBUMS.items()):
        (root / folder).mkdir(parents=True)
        for track in range(1, TRACKS_PER_ALBUM + 1):
            path = root / folder / f"{track:02d}.flac"
            sf.write(path, _tone(seconds, 220.0 * (index + 1) * track, 0.3), RATE_HZ,
                     format="FLAC")
            tags = FLAC(path)
            tags["artist"], tags["albumartist"], tags["album"] = artist, artist, album
            tags["title"], tags["tracknumber"] = f"Song {track}", str(track)
            tags.save()
            paths.append(f"{folder}/{track:02d}.flac")
    (root / "Untagged").mkdir()
    sf.write(root / "Untagged" / "a.wav", _tone(seconds, 330.0, 0.2), RATE_HZ)
    paths.append("Untagged/a.wav")
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(root / "Band/First/01.flac"), "-b:a",
                    "128k", str(root / "Untagged" / "first-01.mp3")], check=True)
    paths.append("Untagged/first-01.mp3")
    (root / "Untagged" / "broken.mp3").write_bytes(b"\xff\xfb not really an mp3" * 200)
    paths.append("Untagged/broken.mp3")
    return sorted(paths)


def _env(media: Path, database_url: str, workers: int = 2) -> dict[str, str]:
    return {**os.environ, "MEDIA_ROOT": str(media), "DATABASE_URL": database_url,
            "FINGERPRINT_WORKERS": str(workers), "PYTHONPATH": str(ROOT)}


def scan(media: Path, database_url: str, *extra: str, folder: str | None = None,
         workers: int = 2) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "fingerprint_service", "scan", folder or str(media), *extra],
        env=_env(media, database_url, workers), capture_output=True, text=True, timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def rows(db: Path) -> dict[str, tuple[str, str, str]]:
    with sqlite3.connect(db) as connection:
        return {p: (s, e, a) for p, s, e, a in connection.execute(
            "SELECT path, status, error, album_id FROM library_files")}


@pytest.fixture
def library(tmp_path: Path) -> Iterator[tuple[Path, Path, list[str]]]:
    media = tmp_path / "media"
    paths = make_library(media)
    yield media, tmp_path / "cache.sqlite3", paths


def test_first_scan_accounts_for_every_file_and_stores_failures(
    library: tuple[Path, Path, list[str]],
) -> None:
    media, db, paths = library
    summary = scan(media, f"sqlite:///{db}")
    assert summary["found"] == len(paths)
    assert summary["fingerprinted"] == len(paths) - 1 and summary["failed"] == 1
    stored = rows(db)
    assert sorted(stored) == paths
    status, error, _ = stored["Untagged/broken.mp3"]
    assert status == "failed" and error
    assert all(s == "ok" for p, (s, _, _) in stored.items() if p != "Untagged/broken.mp3")
    # Albums: the tagged folders are three albums of three; the untagged folder is one album.
    albums = {a for p, (_, _, a) in stored.items() if p.startswith("Band/First")}
    assert len(albums) == 1
    assert len({a for _, _, a in stored.values()}) == 4


def test_rescan_is_incremental_and_touching_one_file_redoes_only_it(
    library: tuple[Path, Path, list[str]],
) -> None:
    media, db, paths = library
    started = time.perf_counter()
    scan(media, f"sqlite:///{db}")
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    again = scan(media, f"sqlite:///{db}")
    assert again["unchanged"] == len(paths) - 1 and again["skipped"] == 1
    assert again["fingerprinted"] == 0 and again["failed"] == 0
    # The process start dominates both; the scan itself (its own timer) is what must shrink.
    assert float(again["elapsed_s"]) <= 0.1 * first_s
    touched = media / "Band/Second/02.flac"
    os.utime(touched, ns=(time.time_ns(), time.time_ns()))
    (media / "Other/Live/03.flac").unlink()
    third = scan(media, f"sqlite:///{db}")
    assert third["fingerprinted"] == 1 and third["gone"] == 1
    assert third["unchanged"] == len(paths) - 3
    assert rows(db)["Other/Live/03.flac"][0] == "gone"


def test_a_killed_scan_resumes_with_only_the_rest(tmp_path: Path) -> None:
    media = tmp_path / "media"
    paths = make_library(media, seconds=8.0)
    db = tmp_path / "cache.sqlite3"
    process = subprocess.Popen(
        [sys.executable, "-m", "fingerprint_service", "scan", str(media)],
        env=_env(media, f"sqlite:///{db}", workers=1), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if db.exists():
                try:
                    if len(rows(db)) >= 3:
                        break
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    done_before = len(rows(db))
    assert 3 <= done_before < len(paths)
    resumed = scan(media, f"sqlite:///{db}")
    assert resumed["fingerprinted"] + resumed["failed"] == len(paths) - done_before
    assert sorted(rows(db)) == paths


@pytest.mark.postgres
def test_two_shards_into_postgres_cover_the_library_exactly_once(
    library: tuple[Path, Path, list[str]], postgres_database_url: str,  # noqa: F811
) -> None:
    media, _, paths = library
    env = _env(media, postgres_database_url)
    shards = [
        subprocess.Popen([sys.executable, "-m", "fingerprint_service", "scan", str(media),
                          "--shard", f"{i}/2"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    summaries = []
    for process in shards:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(int(s["found"]) for s in summaries) == len(paths)
    assert all(int(s["found"]) > 0 for s in summaries)
    both = scan(media, postgres_database_url)
    assert both["unchanged"] + both["skipped"] == len(paths) and both["fingerprinted"] == 0
