"""How long a stream may wait for its fingerprint: what is left of the caller's deadline once the
fallback analysis of *this* track has been paid for.

The fallback decodes and measures the whole track, so its cost grows with the track's duration
(known from the header before anything is asked). The cost per second of audio is learned from
the fallback analyses this process has run, so it follows the codec mix and the machine's load;
until one has run, a generous prior is used.
"""

from __future__ import annotations

import threading

#: Prior cost of the analysis per second of audio: 0.6 s per minute, about three times what an
#: idle machine measured on a 9-minute track (1.7 s), as the first estimate on a busy one.
PRIOR_S_PER_AUDIO_S = 0.01
#: Fixed part of the fallback: opening the decoder, the meters and the render, thread hops.
FIXED_COST_S = 0.5
#: Weight of the newest measurement in the learned cost (an exponential moving average).
_NEWEST_WEIGHT = 0.3
#: The learned cost never falls below this fraction of the prior: one fast analysis of a cached
#: file must not make the next budget too tight to fall back in.
_FLOOR_FRACTION = 0.25


class FallbackCost:
    """The fallback analysis's expected duration, learned from the ones measured. Thread-safe."""

    def __init__(self, prior_s_per_audio_s: float = PRIOR_S_PER_AUDIO_S) -> None:
        self._lock = threading.Lock()
        self._floor = prior_s_per_audio_s * _FLOOR_FRACTION
        self.s_per_audio_s = prior_s_per_audio_s

    def estimate_s(self, duration_s: float) -> float:
        return FIXED_COST_S + self.s_per_audio_s * max(0.0, duration_s)

    def observe(self, duration_s: float, elapsed_s: float) -> None:
        if duration_s <= 0.0:
            return
        measured = max(0.0, elapsed_s - FIXED_COST_S) / duration_s
        with self._lock:
            learned = (1 - _NEWEST_WEIGHT) * self.s_per_audio_s + _NEWEST_WEIGHT * measured
            self.s_per_audio_s = max(self._floor, learned)
