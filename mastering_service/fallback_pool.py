"""The fallback analyses of one mastering process, run so that a burst of them degrades gently.

At most ``slots`` analyses run at a time (the usable CPUs): sixteen at once would share the cores
and all finish late, where a bounded number finish in turn. An analysis that has the machine to
itself measures the whole track when that is quick; while others run or wait, or when the whole
track would take long, it measures excerpts, a bounded cost whatever the track's length, so the
burst's last stream still starts in time. The full pass's
cost is learned (``FallbackCost``) and, with the mode, gives the fingerprint wait its budget.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from mastering_service.analysis import (
    EXCERPTS_TOTAL_S,
    LocalAnalysis,
    analyze_excerpts_reader,
    analyze_reader,
)
from mastering_service.fallback_budget import FallbackCost
from shared.audio import AudioReader

log = structlog.get_logger(__name__)

#: A whole-track pass is chosen only when expected to take at most this long: the cold first
#: chunk's goal (SPEC section 9), so a lone fallback starts as fast as a computed fingerprint.
WHOLE_PASS_MAX_S = 1.5


class FallbackPool:
    """Fallback analyses, ``slots`` at a time: whole tracks when alone, excerpts in a crowd."""

    def __init__(self, slots: int, cost: FallbackCost | None = None) -> None:
        self.slots = slots
        self.cost = cost or FallbackCost()
        self._semaphore = asyncio.Semaphore(slots)
        #: Analyses running or waiting for a slot.
        self.pending = 0

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

    async def analyze(self, reader: AudioReader) -> LocalAnalysis:
        """Measure ``reader``'s track (the reader stays open; its next pass starts afresh)."""
        whole = self.whole_pass(reader.info.duration_s)
        self.pending += 1
        try:
            async with self._semaphore:
                started = time.perf_counter()
                if whole:
                    analysis = await asyncio.to_thread(analyze_reader, reader)
                    self.cost.observe(reader.info.duration_s, time.perf_counter() - started)
                else:
                    analysis = await asyncio.to_thread(analyze_excerpts_reader, reader)
                log.info("fallback_analysis", mode="whole" if whole else "excerpts",
                         duration_s=round(reader.info.duration_s, 2),
                         elapsed_s=round(time.perf_counter() - started, 3))
                return analysis
        finally:
            self.pending -= 1
