"""Which files a scan sees, and which shard each belongs to.

A scan walks a folder under the media root and keeps regular files with an audio extension,
skipping hidden files and folders (dot-names: ``.25d`` sidecars, ``.Trash``, ``.AppleDouble``)
and symlinks that leave the root. Paths are relative to the media root in POSIX form, the same
names the store and ``TrackRef.path`` use, and they come out sorted so a resumed scan works in
the same order.

Sharding (``scan --shard I/N``): a file belongs to shard ``I`` when a stable hash of its relative
path (SHA-256, not Python's per-process ``hash``) is ``I`` modulo ``N``, so N machines scanning
the same library cover it exactly once with no coordination.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Extensions of the formats FFmpeg decodes that music libraries hold (SPEC section 10).
AUDIO_EXTENSIONS = frozenset(
    {
        ".aac",
        ".aif",
        ".aiff",
        ".alac",
        ".ape",
        ".flac",
        ".m4a",
        ".mka",
        ".mp3",
        ".mp4",
        ".mpc",
        ".oga",
        ".ogg",
        ".opus",
        ".wav",
        ".wma",
        ".wv",
    }
)
#: Bytes of the path hash that decide the shard: 64 bits spread any N evenly.
_SHARD_HASH_BYTES = 8


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (0 ≤ index < count); ``Shard(0, 1)`` is everything."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard must be I/N with 0 <= I < N, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` → Shard(I, N); raises ValueError otherwise."""
        index, sep, count = text.partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise ValueError(f"shard must be written I/N (for example 0/4), got {text!r}")
        return cls(int(index), int(count))

    def owns(self, relative_path: str) -> bool:
        digest = hashlib.sha256(relative_path.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:_SHARD_HASH_BYTES], "big") % self.count == self.index


@dataclass(frozen=True, slots=True)
class FoundFile:
    relative_path: str
    size: int
    mtime_ns: int


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def walk_audio(media_root: Path, folder: Path, shard: Shard = Shard()) -> Iterator[FoundFile]:
    """Audio files under ``folder`` (inside ``media_root``) owned by ``shard``, sorted, with
    their stat. Unreadable folders are skipped; files vanishing mid-walk are left out."""
    root = media_root.resolve()
    for directory, subdirs, files in os.walk(folder, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if not _is_hidden(d))
        for name in sorted(files):
            if _is_hidden(name) or Path(name).suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            full = Path(directory) / name
            try:
                real = full.resolve(strict=True)
                stat = real.stat()
            except OSError:
                continue
            if not real.is_relative_to(root) or not real.is_file():
                continue
            relative = full.relative_to(media_root).as_posix()
            if shard.owns(relative):
                yield FoundFile(relative, stat.st_size, stat.st_mtime_ns)
