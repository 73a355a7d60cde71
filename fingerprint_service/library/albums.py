"""What an album is: (album artist, album) from the tags, or else the folder (SPEC section 11).

The key is case- and space-insensitive, so "The Band / Live" and "the band / live " are one
album. Without an album artist the track artist stands in (most untagged-compilation tools do
the same); without an album tag the file's folder is the album. ``album_id`` is a short stable
hash of the key, the name clients use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from fingerprint_service.library.tags import Tags

#: Hex digits of the album id: 64 bits, no collision in any real library.
ALBUM_ID_HEX_DIGITS = 16


@dataclass(frozen=True, slots=True)
class AlbumKey:
    """The album a file belongs to and how it was decided ("tags" or "folder")."""

    kind: str
    artist: str
    title: str

    @property
    def album_id(self) -> str:
        text = f"{self.kind}\x1f{self.artist}\x1f{self.title}"
        return hashlib.sha256(text.encode()).hexdigest()[:ALBUM_ID_HEX_DIGITS]


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def album_of(tags: Tags, relative_path: str) -> AlbumKey:
    """The album of the file at ``relative_path`` (relative to the media root) with ``tags``."""
    if tags.album.strip():
        artist = tags.album_artist if tags.album_artist.strip() else tags.artist
        return AlbumKey("tags", _normalised(artist), _normalised(tags.album))
    folder = str(PurePosixPath(relative_path).parent)
    return AlbumKey("folder", "", folder)


def album_order(tags: Tags, relative_path: str) -> tuple[int, int, str]:
    """Sort key of a track inside its album: disc, track number, then the path."""
    return (tags.disc_number, tags.track_number, relative_path)
