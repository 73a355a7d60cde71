"""Media-root path resolution: the only way a request path becomes a file on disk.

A request path is relative to the media root. Absolute paths, '..' segments, NUL bytes and
symlinks that resolve outside the root are refused with PathOutsideRoot; messages quote only the
caller's relative path, never the server's absolute one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from shared.errors import InvalidArgument, PathOutsideRoot, TrackNotFound


class MediaFile(NamedTuple):
    """A request path resolved: the real file, and its stat (taken once, by the check)."""

    path: Path
    stat: os.stat_result


def resolve_media_file(media_root: Path, relative: str) -> MediaFile:
    """The real path of ``relative`` under ``media_root`` and its stat, or a typed error.

    On the warm path of every call: one ``realpath`` of the root and of the candidate (strings,
    not ``pathlib``, which costs as much again) and one ``stat``."""
    if not relative:
        raise InvalidArgument("track.path is empty: give a path relative to the media root")
    if "\x00" in relative:
        raise PathOutsideRoot("track.path contains a NUL byte: it is outside the media root")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("\\") or ".." in pure.parts:
        raise PathOutsideRoot(f"track.path {relative!r} is outside the media root")
    root = os.path.realpath(media_root)
    inside = root if root.endswith(os.sep) else root + os.sep
    try:
        candidate = os.path.realpath(os.path.join(root, relative))
        if not candidate.startswith(inside):
            raise PathOutsideRoot(f"track.path {relative!r} is outside the media root")
        found = os.stat(candidate)
    except OSError:
        # Missing, a symlink loop, or a name too long for the OS.
        raise TrackNotFound(f"track not found: {relative}") from None
    if not stat.S_ISREG(found.st_mode):
        raise TrackNotFound(f"track is not a regular file: {relative}")
    return MediaFile(Path(candidate), found)
