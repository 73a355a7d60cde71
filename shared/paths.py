"""Media-root path resolution: the only way a request path becomes a file on disk.

A request path is relative to the media root. Absolute paths, '..' segments, NUL bytes and
symlinks that resolve outside the root are refused with PathOutsideRoot; messages quote only the
caller's relative path, never the server's absolute one.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from shared.errors import InvalidArgument, PathOutsideRoot, TrackNotFound


def resolve_media_path(media_root: Path, relative: str) -> Path:
    """Return the real path of ``relative`` under ``media_root``, or raise a typed error."""
    if not relative:
        raise InvalidArgument("track.path is empty: give a path relative to the media root")
    if "\x00" in relative:
        raise PathOutsideRoot("track.path contains a NUL byte: it is outside the media root")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("\\") or ".." in pure.parts:
        raise PathOutsideRoot(f"track.path {relative!r} is outside the media root")
    root = media_root.resolve()
    try:
        candidate = (root / pure).resolve()
        if not candidate.is_relative_to(root):
            raise PathOutsideRoot(f"track.path {relative!r} is outside the media root")
        exists, is_file = candidate.exists(), candidate.is_file()
    except (OSError, RuntimeError):
        # A symlink loop (RuntimeError before Python 3.13) or a name too long for the OS.
        raise TrackNotFound(f"track not found: {relative}") from None
    if not exists:
        raise TrackNotFound(f"track not found: {relative}")
    if not is_file:
        raise TrackNotFound(f"track is not a regular file: {relative}")
    return candidate
