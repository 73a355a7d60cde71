"""Process-wide settings both services apply at start-up, before numpy is imported."""

from __future__ import annotations

import os

#: Thread-pool variables of the BLAS/OpenMP libraries numpy and scipy may load.
_NATIVE_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_native_threads() -> None:
    """One native thread per computation: our parallelism is worker processes and streams, and
    BLAS pools on top of them only contend (measured: 10–27 s instead of ~1.5 s for one
    fingerprint on a busy 2-core machine). Explicit settings in the environment win. Child
    processes (the fingerprint workers) inherit the variables."""
    for name in _NATIVE_THREAD_VARS:
        os.environ.setdefault(name, "1")
