"""A request's track, resolved to something the server can read: a file under the media root or
an in-memory encoded file. Both services resolve tracks here, so path rules and content limits
are the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.errors import InvalidArgument, LimitExceeded, TrackNotFound
from shared.hashing import sha256_bytes, sha256_file
from shared.paths import resolve_media_file


@dataclass(frozen=True, slots=True)
class LocalTrack:
    source: Path | bytes          # what the decoder opens
    relative_path: str | None     # the caller's path, for cache keys and messages
    size: int                     # bytes of the encoded file
    mtime_ns: int | None          # None for content sent in the request

    def describe(self) -> str:
        return self.relative_path if self.relative_path is not None else f"<{self.size} bytes>"

    def content_sha256(self) -> str:
        """SHA-256 of the encoded bytes: the track's identity in the cache and for dither."""
        if isinstance(self.source, bytes):
            return sha256_bytes(self.source)
        try:
            return sha256_file(self.source)
        except OSError:
            # Deleted or made unreadable after it was resolved: gone, as far as the caller knows.
            raise TrackNotFound(f"track cannot be read: {self.describe()}") from None


def resolve_track(
    media_root: Path, *, path: str | None, content: bytes | None, max_content_bytes: int
) -> LocalTrack:
    """Exactly one of ``path`` and ``content``; raises the typed error for each way it fails."""
    if (path is None) == (content is None):
        raise InvalidArgument("track: set exactly one of track.path or track.content")
    if content is not None:
        if len(content) > max_content_bytes:
            raise LimitExceeded(
                f"track.content is {len(content)} bytes; the limit is {max_content_bytes} bytes"
            )
        if not content:
            raise InvalidArgument("track.content is empty")
        return LocalTrack(source=content, relative_path=None, size=len(content), mtime_ns=None)
    assert path is not None
    real, stat = resolve_media_file(media_root, path)
    return LocalTrack(source=real, relative_path=path, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
