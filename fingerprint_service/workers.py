"""What runs in the fingerprint worker processes (``shared.worker_pool`` says how they live and
die): the computation, and a warm-up so the first request finds a worker ready."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from fingerprint_service import extractor
from shared.fingerprint import Fingerprint, TrackInfo

_WARM_UP_RATE = 44_100
_WARM_UP_FRAMES = 22_050  # half a second: long enough to touch every feature path


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
