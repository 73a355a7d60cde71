"""Content hashing: the cache key of a track is the SHA-256 of its encoded bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

_READ_BYTES = 1 << 20  # 1 MiB reads: hashing speed is flat above this, memory stays small


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
