"""Typed errors raised by the domain code.

Every error a caller can cause has a class here; the gRPC runtime maps each class to one status
code in one place (``shared.grpc_runtime.STATUS_FOR``), so no servicer chooses codes ad hoc and
bad input is never reported as INTERNAL.
"""

from __future__ import annotations

#: Longest message a typed error carries. The message becomes the gRPC status details, sent in a
#: header; one that quotes unbounded input (a 100 000-character path) would exceed the client's
#: metadata limit and hide the real answer behind RESOURCE_EXHAUSTED.
MAX_MESSAGE_CHARS = 1024
#: What a shortened message keeps of its start and of its end (the parts that say what failed).
_KEPT_CHARS = (MAX_MESSAGE_CHARS - 64) // 2


def bounded_message(message: str) -> str:
    """``message`` if short enough, else its start and end around a count of what was left out."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    omitted = len(message) - 2 * _KEPT_CHARS
    return f"{message[:_KEPT_CHARS]}… ({omitted} characters omitted) …{message[-_KEPT_CHARS:]}"


class ServiceError(Exception):
    """Base class: an error whose message is safe to show to the caller, and short enough to
    send (whatever input it quotes, it is bounded here, where every typed error is built)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(bounded_message(str(message)))


class InvalidArgument(ServiceError):
    """A request field is missing, conflicting or out of its allowed range."""


class UnsupportedAudio(InvalidArgument):
    """The input cannot be decoded, has no frames, or has too many channels."""


class PathOutsideRoot(ServiceError):
    """A path is absolute, contains '..' or NUL, or resolves outside the media root."""


class TrackNotFound(ServiceError):
    """A path does not exist or is not a regular file."""


class NotCached(ServiceError):
    """``cached_only`` was asked and nothing usable is cached."""


class LimitExceeded(ServiceError):
    """Content too large, or too many concurrent streams/computations."""


class SeekOutOfRange(ServiceError):
    """``start_s`` lies at or beyond the end of the track."""


class StreamStalled(ServiceError):
    """A stream's client read nothing for the idle timeout: the stream ends, its slot is freed."""


class Draining(ServiceError):
    """The server is shutting down and refuses new work."""


class WorkerLost(ServiceError):
    """A worker process died mid-computation (e.g. the OOM killer took it); a retry may succeed."""


class LibraryUnavailable(ServiceError):
    """The library needs the database, and it is unusable right now (retry later)."""


class StoreUnavailable(Exception):
    """The fingerprint cache cannot be read or written (internal; the service degrades)."""
