"""When would a cold fingerprint arrive? The computations this service is waiting for, and how fast
the fingerprint service gets through them.

The fingerprint service computes on a bounded pool of workers, so cold requests queue: in a burst
of sixteen first plays the last one waits for fifteen computations. Asking and then waiting the
full timeout costs the stream its timeout *and* leaves its fallback analysis less time. This
queue keeps the audio seconds of the computations in flight and learns the throughput (audio
seconds computed per wall second, load and worker count included) from the ones that came back,
so a stream whose fingerprint would not arrive in time falls back at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

#: Prior throughput, audio seconds fingerprinted per wall second: a 4-minute track in 4 s, a
#: cautious figure for a busy 2-core machine (an idle one does it in about 1.5 s).
PRIOR_AUDIO_S_PER_S = 60.0
#: Weight of the newest measurement in the learned throughput (an exponential moving average).
_NEWEST_WEIGHT = 0.3
#: Learned throughput stays within this factor of the prior either way: one cached or one
#: pathological computation must not swing the next decision to an extreme.
_BOUND_FACTOR = 8.0


@dataclass(frozen=True, slots=True)
class Ticket:
    """One computation waited for: its audio and the audio queued with it when it was asked."""

    duration_s: float
    queued_audio_s: float


class ColdQueue:
    """Audio seconds of cold computations in flight, and the learned throughput. Thread-safe."""

    def __init__(self, prior_audio_s_per_s: float = PRIOR_AUDIO_S_PER_S) -> None:
        self._lock = threading.Lock()
        self._low = prior_audio_s_per_s / _BOUND_FACTOR
        self._high = prior_audio_s_per_s * _BOUND_FACTOR
        self.audio_s_per_s = prior_audio_s_per_s
        self.in_flight = 0
        self.queued_audio_s = 0.0

    def expected_wait_s(self, duration_s: float) -> float:
        """When a computation of ``duration_s`` of audio asked now would come back."""
        with self._lock:
            return (self.queued_audio_s + max(0.0, duration_s)) / self.audio_s_per_s

    def enter(self, duration_s: float) -> Ticket:
        duration_s = max(0.0, duration_s)
        with self._lock:
            self.in_flight += 1
            self.queued_audio_s += duration_s
            return Ticket(duration_s, self.queued_audio_s)

    def leave(self, ticket: Ticket, elapsed_s: float | None) -> None:
        """The computation came back after ``elapsed_s``, or was given up on after it timed out
        (a lower bound of its time, taken as the measurement: caution errs towards falling
        back). None: it failed otherwise, which says nothing about the throughput."""
        with self._lock:
            self.in_flight -= 1
            self.queued_audio_s = max(0.0, self.queued_audio_s - ticket.duration_s)
            if elapsed_s is None or elapsed_s <= 0.0 or ticket.queued_audio_s <= 0.0:
                return
            measured = ticket.queued_audio_s / elapsed_s
            learned = (1 - _NEWEST_WEIGHT) * self.audio_s_per_s + _NEWEST_WEIGHT * measured
            self.audio_s_per_s = min(self._high, max(self._low, learned))
