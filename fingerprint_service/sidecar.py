"""The ``.25d`` sidecar tier of SPEC section 7: a fingerprint stored as JSON next to its track.

The sidecar of ``music/track.ogg`` is ``music/track.ogg.25d``: the full file name plus ``.25d``,
so ``track.ogg`` and ``track.flac`` in one directory never share a sidecar. Its content::

    {"sidecar_version": 1, "algorithm_version": 1, "size": 4711, "mtime_ns": 1700000000000000000,
     "fingerprint": {<the 25 fields of SPEC section 4>},
     "track_info": {<the TrackInfo fields>}}

A sidecar counts only when its algorithm version, and the track's size and mtime_ns it was written
for, all match; anything else (missing, unreadable, malformed, out of range, stale) reads as
"no sidecar" and the track is fingerprinted again. Writes go to a temp file in the same directory
and are renamed into place, so a reader sees the old sidecar or the new one, never half of one;
a torn write after a crash is caught by the same validation. The audio file is never opened.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from shared.fingerprint import Fingerprint, TrackInfo, out_of_range_fields

SIDECAR_SUFFIX = ".25d"

#: Layout of the JSON document itself (independent of the fingerprint's algorithm version).
SIDECAR_VERSION = 1

#: A genuine sidecar is about 2 KB; anything far larger is not one and is not read into memory.
MAX_SIDECAR_BYTES = 64 * 1024

#: Sidecars are plain data other tools may read, whatever the creating process's temp-file mode.
SIDECAR_FILE_MODE = 0o644

#: Everything a malformed or unreadable sidecar can raise while being read and decoded
#: (deeply nested JSON raises RecursionError).
_READ_ERRORS = (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError)


def sidecar_path(track: Path) -> Path:
    """``<track>.25d`` in the track's directory, e.g. ``a/song.ogg`` → ``a/song.ogg.25d``."""
    return track.with_name(track.name + SIDECAR_SUFFIX)


def read_sidecar(
    track: Path, size: int, mtime_ns: int, algorithm_version: int
) -> tuple[Fingerprint, TrackInfo] | None:
    """The fingerprint stored beside ``track``, if it was written for this exact file state and
    algorithm version; None otherwise. Never raises."""
    try:
        with sidecar_path(track).open("rb") as handle:
            raw = handle.read(MAX_SIDECAR_BYTES + 1)
        if len(raw) > MAX_SIDECAR_BYTES:
            return None
        document = json.loads(raw)
        if not isinstance(document, dict):
            return None
        expected = {
            "sidecar_version": SIDECAR_VERSION,
            "algorithm_version": algorithm_version,
            "size": size,
            "mtime_ns": mtime_ns,
        }
        if any(not _is_int_equal(document.get(key), value) for key, value in expected.items()):
            return None
        fingerprint_data = document["fingerprint"]
        if not _all_numbers(fingerprint_data):
            return None
        fingerprint = Fingerprint.from_dict(fingerprint_data)
        if out_of_range_fields(fingerprint):
            return None
        info = TrackInfo.from_dict(document["track_info"])
    except _READ_ERRORS:
        return None
    return fingerprint, info


def write_sidecar(
    track: Path,
    fingerprint: Fingerprint,
    info: TrackInfo,
    size: int,
    mtime_ns: int,
    algorithm_version: int,
) -> bool:
    """Atomically write ``<track>.25d``; False (never an exception) when the directory is
    read-only or the write fails for any other filesystem reason."""
    document = {
        "sidecar_version": SIDECAR_VERSION,
        "algorithm_version": algorithm_version,
        "size": size,
        "mtime_ns": mtime_ns,
        "fingerprint": fingerprint.to_dict(),
        "track_info": info.to_dict(),
    }
    payload = json.dumps(document, indent=1, sort_keys=True).encode("utf-8") + b"\n"
    target = sidecar_path(track)
    temp_name: str | None = None
    try:
        fd, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(temp_name, SIDECAR_FILE_MODE)
        os.replace(temp_name, target)
    except OSError:
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        return False
    return True


def _is_int_equal(value: Any, expected: int) -> bool:
    # bool is an int in Python; `true` must not pass for version 1.
    return isinstance(value, int) and not isinstance(value, bool) and value == expected


def _all_numbers(data: Any) -> bool:
    return isinstance(data, dict) and all(
        isinstance(value, int | float) and not isinstance(value, bool) for value in data.values()
    )
