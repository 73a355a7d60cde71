"""Process-wide settings both services apply at start-up, before numpy is imported."""

from __future__ import annotations

import os

#: Thread-pool variables of the BLAS/OpenMP libraries numpy and scipy may load: one native
#: thread per computation, because our parallelism is worker processes and streams and BLAS
#: pools on top of them only contend (measured: 10–27 s instead of ~1.5 s for one fingerprint
#: on a busy 2-core machine).
_NATIVE_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: glibc malloc: keep blocks up to 32 MiB on the heap and trim only above 128 MiB, so the large
#: numpy temporaries of block processing are reused instead of mapped and faulted in again for
#: every block (measured: the loudness meter ran ~2x faster). glibc reads these when a process
#: starts, so they reach the fingerprint workers from here, and the service processes through
#: the container images and scripts/run-services.
_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "134217728"}


#: Everything this module sets; the container images set the same (a test keeps them equal).
RUNTIME_ENVIRONMENT: dict[str, str] = {**_NATIVE_THREADS, **_MALLOC}


def apply_runtime_environment() -> None:
    """Set the defaults above; explicit settings in the environment win. Child processes (the
    fingerprint workers) inherit them."""
    for name, value in RUNTIME_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
