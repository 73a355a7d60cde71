"""Worker processes for CPU-bound work, and how they live and die with the server that owns them.

Python threads share one interpreter lock, so a decode-and-measure pass (many small packets, each
a few Python calls) gains nothing from a second thread: two analyses in two threads took as long
as the two in turn. Both services therefore run such work in processes.

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

import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from shared.process import ignore_interrupts

#: Exit status of a worker whose server died (it has nobody to report to).
_ORPHAN_EXIT_STATUS = 1
#: Where pidfds are unavailable: how often a worker checks that its parent is the same.
_PARENT_POLL_INTERVAL_S = 1.0


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
    ignore_interrupts()
    threading.Thread(target=_exit_with, args=(server_pid,), name="exit-with-server",
                     daemon=True).start()


def make_worker_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` forkserver processes that ignore Ctrl-C and exit with this process."""
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("forkserver"),
                               initializer=init_worker, initargs=(os.getpid(),))
