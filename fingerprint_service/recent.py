"""The path lookups answered lately, held in memory in front of the path table.

A player asks for the same tracks again and again (a playlist, an album, a page of a library).
The database tier answers such a call with one indexed read and three JSON documents to
decode: most of the call's own time. This keeps what the path table returned, under the same
key — request path, size and mtime_ns — so a repeat costs a dictionary read after the
stat that every call takes anyway.

It holds nothing the database did not say, and it cannot go stale in a way the table could not:
a changed file has a new size or mtime and misses here as it misses there, and a fingerprint is a
pure function of the content and the algorithm version, which is fixed for the process.
The one write to a key it may hold — a forced recomputation — drops the key (``forget``).
Least recently used entries leave first; ``RECENT_LOOKUPS`` of them are about 12 MB.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

#: Entries kept: a few large playlists' worth.
RECENT_LOOKUPS = 4096

#: (request path, size in bytes, mtime_ns): the path table's key.
PathKey = tuple[str, int, int]

_V = TypeVar("_V")


class RecentLookups(Generic[_V]):
    """A bounded, thread-safe least-recently-used map from path keys to lookup results (the
    warm path runs in worker threads, so two calls may touch it at once)."""

    def __init__(self, capacity: int = RECENT_LOOKUPS) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[PathKey, _V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: PathKey) -> _V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: PathKey, value: _V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def forget(self, key: PathKey) -> None:
        with self._lock:
            self._entries.pop(key, None)
