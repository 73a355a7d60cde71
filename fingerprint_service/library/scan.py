"""The library scan: incremental, resumable, one worker-pool job per changed file.

Shell around the pure parts. The walk (``walker``) lists the folder's audio files with their
stat; each is compared with the file's ``library_files`` row:

- same size and mtime → *unchanged* (a ``stat``, nothing more), or *skipped* when it failed last
  time (a failure is stored and not retried until the file changes);
- new or changed → one job (``analyse_file``) decodes it once for the fingerprint and the album
  data, reads its tags, and the result is committed at once, in one transaction — so a scan that
  is cancelled or killed resumes where it stopped;
- a row under the folder (and shard) whose file is no longer found → marked *gone*.

A file that cannot be decoded is stored as failed with the decoder's reason; nothing a single
file does stops the scan. Jobs run on the caller's worker pool, at most ``concurrency`` at a
time, and a new one is submitted only when one finishes: an interactive request queued on the
same pool in between runs before the scan's next file, so it waits for one computation at most.
The next job goes out as soon as one finishes, before its result is stored, so no worker waits
on the database; the largest files go first, so the last jobs are short ones and the workers
finish together.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath

from fingerprint_service import extractor
from fingerprint_service.library.album_loudness import TrackLoudness
from fingerprint_service.library.albums import album_of
from fingerprint_service.library.tags import Tags, read_tags
from fingerprint_service.library.walker import FoundFile, Shard, walk_audio
from fingerprint_service.store import FingerprintStore, LibraryEntry
from shared.errors import PathOutsideRoot, ServiceError, TrackNotFound
from shared.fingerprint import Fingerprint, TrackInfo
from shared.hashing import sha256_file
from shared.loudness import LoudnessMeter


class Outcome(StrEnum):
    FINGERPRINTED = "fingerprinted"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class AnalysedFile:
    """What a worker sends back for one file: a fingerprint and album data, or an error."""

    tags: Tags
    content_sha256: str = ""
    fingerprint: Fingerprint | None = None
    info: TrackInfo | None = None
    loudness: TrackLoudness | None = None
    compute_ms: float = 0.0
    error: str = ""


def analyse_file(path: Path) -> AnalysedFile:
    """Runs in a worker process: hash, one decode pass (fingerprint + album data), tags."""
    started = time.perf_counter()
    tags = read_tags(path)
    meters: list[LoudnessMeter] = []
    try:
        content_sha256 = sha256_file(path)
        fingerprint, info = extractor.extract(
            path, content_sha256=content_sha256, on_loudness=meters.append
        )
    except ServiceError as exc:
        return AnalysedFile(tags=tags, error=str(exc))
    except OSError as exc:
        return AnalysedFile(tags=tags, error=f"cannot read the file: {exc.strerror or exc}")
    return AnalysedFile(
        tags=tags,
        content_sha256=content_sha256,
        fingerprint=fingerprint,
        info=info,
        loudness=TrackLoudness.of_meter(meters[0]),
        compute_ms=(time.perf_counter() - started) * 1000.0,
    )


@dataclass(slots=True)
class ScanProgress:
    """Counters of one scan; ``path``/``outcome``/``error`` describe the file just finished."""

    found: int = 0
    fingerprinted: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    gone: int = 0
    bytes_done: int = 0
    bytes_to_do: int = 0
    elapsed_s: float = 0.0
    path: str = ""
    outcome: Outcome | None = None
    error: str = ""
    done: bool = False

    @property
    def finished(self) -> int:
        return self.fingerprinted + self.unchanged + self.skipped + self.failed

    @property
    def bytes_per_s(self) -> float:
        return self.bytes_done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float:
        """Seconds left at the rate so far (0 when unknown or done)."""
        rate = self.bytes_per_s
        left = self.bytes_to_do - self.bytes_done
        return left / rate if rate > 0 and left > 0 else 0.0

    def summary(self) -> dict[str, float | int]:
        return {
            "found": self.found,
            "fingerprinted": self.fingerprinted,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": self.failed,
            "gone": self.gone,
            "bytes_done": self.bytes_done,
            "elapsed_s": round(self.elapsed_s, 3),
            "bytes_per_s": round(self.bytes_per_s, 1),
        }


@dataclass(frozen=True, slots=True)
class ScanRequest:
    media_root: Path
    folder: str = ""  # relative to the media root; "" = all of it
    shard: Shard = field(default_factory=Shard)


#: Runs ``analyse_file`` for one absolute path somewhere (a worker pool), asynchronously.
JobRunner = Callable[[Path], Awaitable[AnalysedFile]]
#: Told about every track the scan stored or marked gone (path, stored entry).
TrackListener = Callable[[LibraryEntry, AnalysedFile | None], None]


def resolve_scan_folder(media_root: Path, folder: str) -> str:
    """``folder`` (relative to the media root; "" = all of it) checked and normalised, or the
    typed error: outside the root (absolute, "..", NUL, a symlink leading out), missing, or not
    a folder. Messages quote only the caller's folder."""
    if not folder.strip("/"):
        return ""
    pure = PurePosixPath(folder)
    if "\x00" in folder or pure.is_absolute() or folder.startswith("\\") or ".." in pure.parts:
        raise PathOutsideRoot(f"folder {folder!r} is outside the media root")
    root = media_root.resolve()
    try:
        real = (root / pure).resolve()
        if not real.is_relative_to(root):
            raise PathOutsideRoot(f"folder {folder!r} is outside the media root")
        is_dir = real.is_dir()
    except (OSError, RuntimeError):
        raise TrackNotFound(f"folder not found: {folder}") from None
    if not is_dir:
        raise TrackNotFound(f"folder not found (or not a folder): {folder}")
    relative = real.relative_to(root).as_posix()
    return "" if relative == "." else relative


def _under(path: str, folder: str) -> bool:
    return not folder or path == folder or path.startswith(folder.rstrip("/") + "/")


def entry_for(found: FoundFile, analysed: AnalysedFile) -> LibraryEntry:
    album = album_of(analysed.tags, found.relative_path)
    return LibraryEntry(
        path=found.relative_path,
        size=found.size,
        mtime_ns=found.mtime_ns,
        status="failed" if analysed.error else "ok",
        error=analysed.error,
        content_sha256=analysed.content_sha256,
        album_id=album.album_id,
        tags_json=json.dumps(analysed.tags.to_dict(), separators=(",", ":")),
    )


async def scan_library(
    request: ScanRequest,
    store: FingerprintStore,
    run_job: JobRunner,
    *,
    concurrency: int,
    on_track: TrackListener | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[ScanProgress]:
    """Scan ``request.folder``: yields progress after every file, then once with ``done``.

    ``request.folder`` must already be checked to lie inside the media root.
    """
    started = clock()
    progress = ScanProgress()
    folder_path = request.media_root / request.folder if request.folder else request.media_root
    found = await asyncio.to_thread(
        lambda: list(walk_audio(request.media_root, folder_path, request.shard))
    )
    known = await asyncio.to_thread(store.library_entries) or {}
    progress.found = len(found)
    todo: list[FoundFile] = []
    for item in found:
        before = known.get(item.relative_path)
        if before is not None and (before.size, before.mtime_ns) == (item.size, item.mtime_ns) \
                and before.status != "gone":
            outcome = Outcome.UNCHANGED if before.status == "ok" else Outcome.SKIPPED
            _count(progress, outcome, item.relative_path, before.error)
            progress.elapsed_s = clock() - started
            yield progress
        else:
            todo.append(item)
            progress.bytes_to_do += item.size
    present = {f.relative_path for f in found}
    vanished = [
        path for path, entry in known.items()
        if entry.status != "gone" and _under(path, request.folder)
        and request.shard.owns(path) and path not in present
    ]
    if vanished:
        await asyncio.to_thread(store.mark_gone, vanished)
        for path in vanished:
            if on_track is not None:
                on_track(known[path], None)
            _count(progress, Outcome.GONE, path, "")
            yield progress

    pending: set[asyncio.Task[tuple[FoundFile, AnalysedFile]]] = set()
    queue = iter(sorted(todo, key=lambda item: (-item.size, item.relative_path)))

    async def job(item: FoundFile) -> tuple[FoundFile, AnalysedFile]:
        return item, await run_job(request.media_root / item.relative_path)

    def submit() -> None:
        item = next(queue, None)
        if item is not None:
            pending.add(asyncio.create_task(job(item)))

    for _ in range(max(1, concurrency)):
        submit()
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                pending.discard(task)
                item, analysed = task.result()
                submit()
                entry = entry_for(item, analysed)
                computed = None
                if analysed.fingerprint is not None and analysed.info is not None:
                    computed = (analysed.fingerprint, analysed.info, analysed.compute_ms)
                loudness = (None if analysed.loudness is None
                            else json.dumps(analysed.loudness.to_json(), allow_nan=False))
                await asyncio.to_thread(store.save_library_file, entry, computed=computed,
                                        loudness_json=loudness)
                if on_track is not None:
                    on_track(entry, analysed)
                progress.bytes_done += item.size
                outcome = Outcome.FAILED if analysed.error else Outcome.FINGERPRINTED
                _count(progress, outcome, item.relative_path, analysed.error)
                progress.elapsed_s = clock() - started
                yield progress
    finally:
        for task in pending:
            task.cancel()
    progress.elapsed_s = clock() - started
    progress.done = True
    progress.path, progress.outcome, progress.error = "", None, ""
    yield progress


def _count(progress: ScanProgress, outcome: Outcome, path: str, error: str) -> None:
    progress.path, progress.outcome, progress.error = path, outcome, error
    if outcome is Outcome.FINGERPRINTED:
        progress.fingerprinted += 1
    elif outcome is Outcome.UNCHANGED:
        progress.unchanged += 1
    elif outcome is Outcome.SKIPPED:
        progress.skipped += 1
    elif outcome is Outcome.FAILED:
        progress.failed += 1
    else:
        progress.gone += 1
