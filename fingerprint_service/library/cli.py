"""``python -m fingerprint_service scan DIR``: the library scan from a terminal.

Runs the same scan as the ``ScanLibrary`` RPC, in this process with its own worker pool, into
the database ``DATABASE_URL`` names (so a scan here and a server sharing that database see the
same library). A progress bar goes to stderr, the JSON summary to stdout. Interrupted (Ctrl-C,
kill), it resumes where it stopped the next time: every finished file is already committed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from fingerprint_service.library.scan import (
    AnalysedFile,
    ScanProgress,
    ScanRequest,
    analyse_file,
    scan_library,
)
from fingerprint_service.library.walker import Shard
from fingerprint_service.store import FingerprintStore
from fingerprint_service.workers import warm_up
from shared.config import Config
from shared.worker_pool import make_worker_pool

#: Width of the progress bar, in characters.
_BAR_CHARS = 30
#: The bar is redrawn at most this often (a 10 000-file rescan would otherwise print 10 000 lines).
_REDRAW_INTERVAL_S = 0.2


def scan_folder_of(media_root: Path, directory: str) -> str:
    """``directory`` (absolute, or relative to the working directory or the media root) as a
    folder relative to the media root; raises ValueError when it lies outside the root."""
    root = media_root.resolve()
    for candidate in (Path(directory), root / directory):
        resolved = candidate.resolve()
        if resolved.is_dir() and resolved.is_relative_to(root):
            relative = resolved.relative_to(root).as_posix()
            return "" if relative == "." else relative
    raise ValueError(
        f"{directory} is not a folder inside the media root {root} (set MEDIA_ROOT or --media-root)"
    )


def _draw(progress: ScanProgress, out: TextIO) -> None:
    share = progress.finished / progress.found if progress.found else 1.0
    filled = round(share * _BAR_CHARS)
    bar = "#" * filled + "-" * (_BAR_CHARS - filled)
    out.write(
        f"\r[{bar}] {progress.finished}/{progress.found} "
        f"new {progress.fingerprinted} same {progress.unchanged} failed {progress.failed} "
        f"{progress.bytes_per_s / 1e6:.1f} MB/s ETA {progress.eta_s:.0f} s "
    )
    out.flush()


async def _scan(config: Config, folder: str, shard: Shard, out: TextIO) -> dict[str, float | int]:
    store = FingerprintStore(config.database_url)
    if not store.healthy:
        raise RuntimeError(f"the database is unusable: {store.degraded_reason}")
    pool = make_worker_pool(config.fingerprint_workers)
    loop = asyncio.get_running_loop()
    # Workers ready before the first file, as the server's are when a ScanLibrary call arrives.
    await asyncio.gather(*(loop.run_in_executor(pool, warm_up)
                           for _ in range(config.fingerprint_workers)))

    async def run_job(path: Path) -> AnalysedFile:
        return await loop.run_in_executor(pool, analyse_file, path)

    last_draw = -1.0
    summary: dict[str, float | int] = {}
    try:
        request = ScanRequest(media_root=config.media_root, folder=folder, shard=shard)
        async for progress in scan_library(request, store, run_job,
                                           concurrency=config.fingerprint_workers):
            if progress.done or progress.elapsed_s - last_draw >= _REDRAW_INTERVAL_S:
                _draw(progress, out)
                last_draw = progress.elapsed_s
            if progress.done:
                summary = progress.summary()
    finally:
        out.write("\n")
        pool.shutdown(wait=True, cancel_futures=True)
        store.close()
    return summary


def run_scan(config: Config, directory: str, shard_text: str) -> int:
    """The ``scan`` command; returns the exit status (0, or 2 for a bad argument)."""
    try:
        folder = scan_folder_of(config.media_root, directory)
        shard = Shard.parse(shard_text)
    except ValueError as exc:
        print(f"scan: {exc}", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(_scan(config, folder, shard, sys.stderr))
    except RuntimeError as exc:
        print(f"scan: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"folder": folder, "shard": shard_text, **summary}))
    return 0
