"""The fallback analyses of one mastering process, run so that a burst of them degrades gently.

The analyses run in worker processes (``shared.worker_pool``): in threads they would share the
interpreter lock with each other and with every stream's rendering, and two at once took as long
as two in turn. At most ``slots`` run at a time (the usable CPUs): sixteen at once would share
the cores and all finish late, where a bounded number finish in turn. An analysis that has the
machine to itself measures the whole track when that is quick; while others run or wait, or when
the whole track would take long, it measures excerpts, a bounded cost whatever the track's length,
so the burst's last stream still starts in time. The full pass's cost is learned
(``FallbackCost``) and, with the mode, gives the fingerprint wait its budget.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import soundfile as sf
import structlog

from mastering_service.analysis import (
    EXCERPTS_TOTAL_S,
    LocalAnalysis,
    analyze,
    analyze_excerpts,
)
from mastering_service.fallback_budget import FallbackCost
from shared.errors import WorkerLost
from shared.worker_pool import make_worker_pool

log = structlog.get_logger(__name__)

#: A whole-track pass is chosen only when expected to take at most this long: the cold first
#: chunk's goal (SPEC section 9), so a lone fallback starts as fast as a computed fingerprint.
WHOLE_PASS_MAX_S = 1.5
#: The warm-up's track: long enough to touch every path of the analysis (a cold worker costs
#: about half a second of imports, paid before the first fallback needs it).
_WARM_UP_RATE = 44_100
_WARM_UP_FRAMES = 22_050


def warm_up() -> None:
    """Runs in a worker: one tiny analysis, so every import is done before a stream needs it."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((_WARM_UP_FRAMES, 2)), _WARM_UP_RATE, format="WAV")
    analyze(buffer.getvalue())


class FallbackPool:
    """Fallback analyses, ``slots`` at a time: whole tracks when alone, excerpts in a crowd."""

    def __init__(self, slots: int, cost: FallbackCost | None = None,
                 pool_factory: Callable[[], Executor] | None = None) -> None:
        self.slots = slots
        self.cost = cost or FallbackCost()
        self._pool_factory = pool_factory or (lambda: make_worker_pool(slots))
        self._pool = self._pool_factory()
        self._semaphore = asyncio.Semaphore(slots)
        #: Analyses running or waiting for a slot.
        self.pending = 0

    async def warm_up(self) -> None:
        """Start every worker and have it import what an analysis needs."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, warm_up)
                               for _ in range(self.slots)))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def whole_pass(self, duration_s: float) -> bool:
        """Whether a fallback of ``duration_s`` asked now would measure the whole track."""
        return self.pending == 0 and self.cost.estimate_s(duration_s) <= WHOLE_PASS_MAX_S

    def estimate_s(self, duration_s: float) -> float:
        """What a fallback asked now would cost: the whole track's pass, or the excerpts' plus
        the wait for a slot."""
        if self.whole_pass(duration_s):
            return self.cost.estimate_s(duration_s)
        rounds = 1 + self.pending // self.slots
        return rounds * self.cost.estimate_s(min(duration_s, EXCERPTS_TOTAL_S))

    async def analyze(self, source: Path | bytes, duration_s: float) -> LocalAnalysis:
        """Measure the track at ``source`` (a path, or the bytes sent), ``duration_s`` long."""
        whole = self.whole_pass(duration_s)
        self.pending += 1
        try:
            async with self._semaphore:
                started = time.perf_counter()
                loop = asyncio.get_running_loop()
                try:
                    analysis = await loop.run_in_executor(
                        self._pool, analyze if whole else analyze_excerpts, source)
                except BrokenProcessPool:
                    log.error("fallback_worker_pool_broken")
                    self._pool = self._pool_factory()
                    raise WorkerLost(
                        "the fallback analysis's worker process died; retry") from None
                elapsed_s = time.perf_counter() - started
                if whole:
                    self.cost.observe(duration_s, elapsed_s)
                log.info("fallback_analysis", mode="whole" if whole else "excerpts",
                         duration_s=round(duration_s, 2), elapsed_s=round(elapsed_s, 3))
                return analysis
        finally:
            self.pending -= 1
