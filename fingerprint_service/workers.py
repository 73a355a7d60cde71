"""The fingerprint worker processes: what runs in them, and how they live and die.

Workers are forkserver children, so they never inherit the gRPC server's threads (fork after
gRPC has started is unsafe). Each one, when it starts:

- ignores SIGINT: Ctrl-C in a terminal signals the whole foreground process group, and a worker
  interrupted mid-computation would hand a KeyboardInterrupt back to the server instead of
  finishing while the server drains; the server alone decides when to stop (SIGTERM or SIGINT);
- exits when the server process is gone: after a ``kill -9`` of the server nothing else would
  ever tell it (its parent is the forkserver, and it holds both ends of its own task pipe), and
  it would sit under PID 1 holding its memory. A thread waits on a pidfd of the server (Linux
  ≥ 5.3), or polls ``getppid()`` where pidfds are unavailable.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import select
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from fingerprint_service import extractor
from shared.fingerprint import Fingerprint, TrackInfo

_WARM_UP_RATE = 44_100
_WARM_UP_FRAMES = 22_050  # half a second: long enough to touch every feature path
#: Exit status of a worker whose server died (it has nobody to report to).
_ORPHAN_EXIT_STATUS = 1
#: Where pidfds are unavailable: how often a worker checks that its parent is the same.
_PARENT_POLL_INTERVAL_S = 1.0


def compute(source: Path | bytes, content_sha256: str) -> tuple[Fingerprint, TrackInfo, float]:
    """Runs in a worker process: decode, extract, and time it."""
    started = time.perf_counter()
    fingerprint, info = extractor.extract(source, content_sha256=content_sha256)
    return fingerprint, info, (time.perf_counter() - started) * 1000.0


def warm_up() -> None:
    """Run one tiny extraction so a worker has imported and initialised everything before the
    first real request needs it (a cold worker costs about a second)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((_WARM_UP_FRAMES, 2)), _WARM_UP_RATE, format="WAV")
    extractor.extract(buffer.getvalue(), content_sha256="0" * 64)


def _wait_for_exit(server_pid: int) -> None:
    """Return once the process ``server_pid`` has exited."""
    try:
        pidfd = os.pidfd_open(server_pid)
    except ProcessLookupError:
        return  # already gone
    except (OSError, AttributeError):
        parent = os.getppid()
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_INTERVAL_S)
        return
    select.select([pidfd], [], [])  # a pidfd turns readable when its process exits


def _exit_with(server_pid: int) -> None:
    _wait_for_exit(server_pid)
    os._exit(_ORPHAN_EXIT_STATUS)


def init_worker(server_pid: int) -> None:
    """Worker initializer: ignore Ctrl-C, and exit when the server process exits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(server_pid,), name="exit-with-server",
                     daemon=True).start()


def make_worker_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("forkserver"),
                               initializer=init_worker, initargs=(os.getpid(),))
