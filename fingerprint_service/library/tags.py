"""Tags of the user's files, read (never written) with mutagen.

``read_tags`` opens the file read-only through mutagen's "easy" interfaces, which name the same
fields alike across ID3, Vorbis comments, FLAC, MP4 and APE; it never calls ``save``. A file
whose tags cannot be read has empty tags: tags are a convenience of the library, and whether the
audio decodes is the scan's question, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import mutagen

#: Easy-interface key → ``Tags`` field, for the text fields.
_TEXT_KEYS = {
    "artist": "artist",
    "albumartist": "album_artist",
    "album": "album",
    "title": "title",
    "musicbrainz_trackid": "musicbrainz_track_id",
    "musicbrainz_albumid": "musicbrainz_album_id",
    "musicbrainz_artistid": "musicbrainz_artist_id",
    "musicbrainz_albumartistid": "musicbrainz_album_artist_id",
}
#: Tags longer than this are cut: a tag is a label, and a hostile file could carry megabytes.
MAX_TAG_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Tags:
    """The tags the library uses; empty strings and zero numbers mean "not tagged"."""

    artist: str = ""
    album_artist: str = ""
    album: str = ""
    title: str = ""
    track_number: int = 0
    disc_number: int = 0
    musicbrainz_track_id: str = ""
    musicbrainz_album_id: str = ""
    musicbrainz_artist_id: str = ""
    musicbrainz_album_artist_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Tags:
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})


def _first_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return str(value).strip()[:MAX_TAG_CHARS]


def parse_position(text: str) -> int:
    """A track or disc number as tags write it ("3", "3/12", " 03 ") → 3; 0 when unreadable."""
    head = text.split("/", 1)[0].strip()
    return int(head) if head.isdigit() else 0


def read_tags(path: Path) -> Tags:
    """The tags of ``path``; empty ``Tags`` when it has none or they cannot be read."""
    try:
        audio = mutagen.File(path, easy=True)  # opens the file read-only
    except (mutagen.MutagenError, OSError, ValueError, KeyError, IndexError, TypeError):
        return Tags()
    if audio is None or audio.tags is None:
        return Tags()
    values: dict[str, Any] = {}
    for key, name in _TEXT_KEYS.items():
        try:
            found = audio.tags.get(key)
        except (KeyError, ValueError, TypeError):
            found = None
        if found:
            values[name] = _first_text(found)
    for key, name in (("tracknumber", "track_number"), ("discnumber", "disc_number")):
        try:
            found = audio.tags.get(key)
        except (KeyError, ValueError, TypeError):
            found = None
        if found:
            values[name] = parse_position(_first_text(found))
    return Tags(**values)
