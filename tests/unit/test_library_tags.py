"""Tags are read with mutagen and never written (SPEC section 11); an album is (album artist,
album) or the folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
from mutagen.flac import FLAC

from fingerprint_service.library.albums import album_of, album_order
from fingerprint_service.library.tags import Tags, parse_position, read_tags


def _flac(path: Path, **tags: str) -> Path:
    sf.write(path, np.zeros((4_410, 2)), 44_100, format="FLAC")
    audio = FLAC(path)
    for key, value in tags.items():
        audio[key] = value
    audio.save()
    return path


def test_tags_are_read_into_the_library_fields(tmp_path: Path) -> None:
    path = _flac(
        tmp_path / "a.flac",
        artist="Artist",
        albumartist="Band",
        album="Live",
        title="Song",
        tracknumber="3/12",
        discnumber="2",
        musicbrainz_trackid="0f8c7a39-1111-2222-3333-444455556666",
    )
    tags = read_tags(path)
    assert tags == Tags(
        artist="Artist",
        album_artist="Band",
        album="Live",
        title="Song",
        track_number=3,
        disc_number=2,
        musicbrainz_track_id="0f8c7a39-1111-2222-3333-444455556666",
    )


def test_reading_tags_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = _flac(tmp_path / "a.flac", artist="Artist", album="Live")
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    read_tags(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_an_unreadable_file_has_empty_tags(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"\x00not audio" * 100)
    assert read_tags(broken) == Tags()
    assert read_tags(tmp_path / "missing.flac") == Tags()


def test_positions_parse_like_taggers_write_them() -> None:
    assert [parse_position(t) for t in ("3", "03/12", " 7 ", "x", "")] == [3, 3, 7, 0, 0]


def test_an_album_is_album_artist_and_album_case_insensitively() -> None:
    one = album_of(Tags(album_artist="The Band", album="Live", artist="A"), "x/1.flac")
    two = album_of(Tags(album_artist="the band ", album="LIVE", artist="B"), "y/2.flac")
    assert one == two and one.album_id == two.album_id and one.kind == "tags"
    other = album_of(Tags(album_artist="The Band", album="Studio"), "x/3.flac")
    assert other.album_id != one.album_id


def test_without_album_artist_the_artist_stands_in() -> None:
    assert album_of(Tags(artist="Solo", album="First"), "a.flac") == album_of(
        Tags(album_artist="Solo", album="First"), "b.flac"
    )


def test_without_tags_the_folder_is_the_album() -> None:
    one = album_of(Tags(), "Artist/Album/01.ogg")
    assert one.kind == "folder" and one == album_of(Tags(title="t"), "Artist/Album/02.ogg")
    assert one != album_of(Tags(), "Artist/Other/01.ogg")


def test_album_order_is_disc_then_track_then_path() -> None:
    rows = [
        (Tags(disc_number=2, track_number=1), "a"),
        (Tags(disc_number=1, track_number=2), "b"),
        (Tags(disc_number=1, track_number=1), "c"),
    ]
    assert [p for t, p in sorted(rows, key=lambda r: album_order(*r))] == ["c", "b", "a"]
