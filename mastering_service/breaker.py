"""The circuit breaker in front of the fingerprint service, as a state machine on an injected clock.

While the fingerprint service is hung, every call to it costs its full timeout. After
``failures_to_open`` calls in a row fail for want of an answer (deadline exceeded, unavailable),
the breaker opens: streams fall back at once instead of asking. It stays open for at least
``cooldown_s``; from then on the first probe that finds the service answering closes it. The
probing itself (a health check on the client's channel) lives in ``fp_client``; this module only
decides, so it can be tested without a server or a real clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "CLOSED"  # calls go to the fingerprint service
    OPEN = "OPEN"  # calls fall back at once; a probe watches for the service's return


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of state, for the log: where to, and how long the breaker was in the old one."""

    state: BreakerState
    after_s: float
    failures: int


class Breaker:
    """Counts consecutive no-answer failures; opens at ``failures_to_open``; a probe closes it."""

    def __init__(self, failures_to_open: int, cooldown_s: float,
                 clock: Clock = time.monotonic) -> None:
        if failures_to_open < 1:
            raise ValueError("failures_to_open must be at least 1")
        self.failures_to_open = failures_to_open
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._since = clock()

    @property
    def is_open(self) -> bool:
        return self.state is BreakerState.OPEN

    def open_for_s(self) -> float:
        """How long the breaker has been open (0 when closed)."""
        return self._clock() - self._since if self.is_open else 0.0

    def probe_due_in_s(self) -> float:
        """How long until a probe's success may close the breaker (0 once the cool-down ran)."""
        return max(0.0, self.cooldown_s - self.open_for_s()) if self.is_open else 0.0

    def record_answer(self) -> Transition | None:
        """The service answered a call (any answer but a timeout or an unreachable server)."""
        self.consecutive_failures = 0
        return None

    def record_no_answer(self) -> Transition | None:
        """A call got no answer in time. Returns the transition when this one opens the breaker."""
        self.consecutive_failures += 1
        if self.is_open or self.consecutive_failures < self.failures_to_open:
            return None
        return self._move(BreakerState.OPEN)

    def record_probe(self, answered: bool) -> Transition | None:
        """A probe's outcome. Closes the breaker when the service answered after the cool-down."""
        if not self.is_open or not answered or self.probe_due_in_s() > 0.0:
            return None
        self.consecutive_failures = 0
        return self._move(BreakerState.CLOSED)

    def _move(self, state: BreakerState) -> Transition:
        now = self._clock()
        transition = Transition(state=state, after_s=now - self._since,
                                failures=self.consecutive_failures)
        self.state, self._since = state, now
        return transition
