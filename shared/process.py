"""Process-wide settings both services apply at start-up, before numpy is imported, whether
this process may fork, and what a child process does about Ctrl-C."""

from __future__ import annotations

import ctypes
import os
import signal
import threading

#: Thread-pool variables of the BLAS/OpenMP libraries numpy and scipy may load: one native
#: thread per computation, because our parallelism is worker processes and streams and BLAS
#: pools on top of them only contend (measured: 10–27 s instead of ~1.5 s for one fingerprint
#: on a busy 2-core machine).
_NATIVE_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: glibc malloc: keep blocks up to 32 MiB on the heap and trim only above 128 MiB, so the large
#: numpy temporaries of block processing are reused instead of mapped and faulted in again for
#: every block (measured: the loudness meter ran ~2x faster). glibc reads these when a process
#: starts, so they reach child processes from here and the service processes through the
#: container images and scripts/run-services; the process applying them sets them with
#: ``mallopt`` (``_MALLOPT``).
_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "134217728"}
#: glibc's mallopt parameter for each variable (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD in malloc.h).
_MALLOPT = {"MALLOC_MMAP_THRESHOLD_": -3, "MALLOC_TRIM_THRESHOLD_": -1}


#: Everything this module sets; the container images set the same (a test keeps them equal).
RUNTIME_ENVIRONMENT: dict[str, str] = {**_NATIVE_THREADS, **_MALLOC}


def apply_runtime_environment() -> None:
    """Set the defaults above; explicit settings in the environment win. Child processes (the
    workers) inherit them, and this process takes the malloc settings at once."""
    for name, value in RUNTIME_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    _apply_malloc_settings()


def _apply_malloc_settings() -> None:
    """The malloc variables, applied to the running process: glibc reads them only when a
    process starts, and a process started without them (the render CLI, a benchmark, a service
    run by hand) would otherwise run with the defaults. Nothing to do on another C library."""
    try:
        libc_version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return
    if not libc_version.startswith("glibc"):
        return
    libc = ctypes.CDLL(None)
    for name, parameter in _MALLOPT.items():
        value = os.environ.get(name, "")
        if value.isdigit():
            libc.mallopt(parameter, int(value))


def fork_is_safe() -> bool:
    """Whether a plain ``fork`` of this process is safe: only while it runs a single thread (a
    lock another thread holds at the fork stays held in the child forever). True in the render
    CLI; never in a server, whose gRPC threads run from its start."""
    return hasattr(os, "fork") and threading.active_count() == 1


def ignore_interrupts() -> None:
    """For a child process: Ctrl-C signals the terminal's whole foreground process group, and
    the parent alone decides what it means (a server drains, the render CLI stops its child
    on the way out); a child interrupted mid-work would hand back a KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
