"""Which files a scan sees, and ``--shard I/N`` by a stable hash of the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingerprint_service.library.walker import Shard, walk_audio


def _library(root: Path) -> None:
    for album in ("A", "B", "C"):
        (root / album).mkdir(parents=True)
        for i in range(7):
            (root / album / f"{i:02d}.flac").write_bytes(b"x")
    (root / "A" / "cover.jpg").write_bytes(b"x")
    (root / "A" / "01.flac.25d").write_bytes(b"x")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.mp3").write_bytes(b"x")
    (root / "A" / ".partial.mp3").write_bytes(b"x")


def test_only_visible_audio_files_are_found_in_a_stable_order(tmp_path: Path) -> None:
    _library(tmp_path)
    found = [f.relative_path for f in walk_audio(tmp_path, tmp_path)]
    assert len(found) == 21 and found == sorted(found)
    assert all(p.endswith(".flac") for p in found)
    assert next(f.relative_path for f in walk_audio(tmp_path, tmp_path / "B")) == "B/00.flac"


def test_symlinks_leaving_the_media_root_are_skipped(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "x.mp3").write_bytes(b"x")
    (root / "link.mp3").symlink_to(outside / "x.mp3")
    assert list(walk_audio(root, root)) == []


def test_shards_cover_the_library_exactly_once(tmp_path: Path) -> None:
    _library(tmp_path)
    everything = {f.relative_path for f in walk_audio(tmp_path, tmp_path)}
    for count in (2, 3, 5):
        parts = [
            {f.relative_path for f in walk_audio(tmp_path, tmp_path, Shard(i, count))}
            for i in range(count)
        ]
        assert sum(len(p) for p in parts) == len(everything)
        assert set().union(*parts) == everything


def test_shard_of_a_path_does_not_depend_on_the_process() -> None:
    # SHA-256 of the path, not Python's salted hash(): fixed answers.
    assert [Shard(i, 4).owns("Artist/Album/01.flac") for i in range(4)] == [
        False,
        False,
        False,
        True,
    ]
    assert [Shard(i, 7).owns("x/y.mp3") for i in range(7)].index(True) == 3
    assert Shard.parse("1/4") == Shard(1, 4)


@pytest.mark.parametrize("text", ["4/4", "1", "a/b", "-1/2", "0/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Shard.parse(text)
