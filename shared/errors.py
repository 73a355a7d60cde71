"""Typed errors raised by the domain code.

Every error a caller can cause has a class here; the gRPC runtime maps each class to one status
code in one place (``shared.grpc_runtime.STATUS_FOR``), so no servicer chooses codes ad hoc and
bad input is never reported as INTERNAL.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: an error whose message is safe to show to the caller."""


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


class Draining(ServiceError):
    """The server is shutting down and refuses new work."""


class StoreUnavailable(Exception):
    """The fingerprint cache cannot be read or written (internal; the service degrades)."""
