"""How the library scan schedules its jobs (``fingerprint_service.library.scan``): the largest
files first, and the next job out before the last result is stored."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from fingerprint_service.library.scan import AnalysedFile, ScanRequest, scan_library
from fingerprint_service.library.tags import Tags
from fingerprint_service.store import FingerprintStore

SIZES = {"a.flac": 300, "b/c.mp3": 5_000, "b/d.ogg": 40, "e.wav": 1_200, "f.m4a": 1_200}
#: How long storing one result takes in the slow store below.
SAVE_S = 0.05


class SlowStore(FingerprintStore):
    """An SQLite store that records when each result has been stored."""

    def __init__(self, url: str, events: list[str]) -> None:
        super().__init__(url)
        self.events = events

    def save_library_file(self, entry: Any, **kwargs: Any) -> bool:
        time.sleep(SAVE_S)
        stored = super().save_library_file(entry, **kwargs)
        self.events.append(f"stored {entry.path}")
        return stored


def _scan(tmp_path: Path, concurrency: int) -> list[str]:
    media = tmp_path / "media"
    for relative, size in SIZES.items():
        (media / relative).parent.mkdir(parents=True, exist_ok=True)
        (media / relative).write_bytes(b"\0" * size)
    events: list[str] = []
    store = SlowStore(f"sqlite:///{tmp_path / 'cache.sqlite3'}", events)

    async def run_job(path: Path) -> AnalysedFile:
        events.append(f"started {path.relative_to(media).as_posix()}")
        await asyncio.sleep(0)
        return AnalysedFile(tags=Tags(), error="not audio")

    async def scan() -> None:
        async for _ in scan_library(ScanRequest(media), store, run_job, concurrency=concurrency):
            pass

    try:
        asyncio.run(scan())
    finally:
        store.close()
    return events


def test_the_largest_files_are_scanned_first(tmp_path: Path) -> None:
    started = [e.removeprefix("started ") for e in _scan(tmp_path, 1) if e.startswith("started")]
    # By size, largest first; files of one size by path.
    assert started == ["b/c.mp3", "e.wav", "f.m4a", "a.flac", "b/d.ogg"]


def test_the_next_job_starts_before_the_last_result_is_stored(tmp_path: Path) -> None:
    events = _scan(tmp_path, 1)
    assert events[:3] == ["started b/c.mp3", "started e.wav", "stored b/c.mp3"]
    assert sum(e.startswith("stored") for e in events) == len(SIZES)
