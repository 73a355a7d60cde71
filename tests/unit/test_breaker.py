"""Issue 10, the circuit breaker as a state machine (injected clock): three unanswered lookups in
a row open it, an answer in between resets the count, and only a probe answered after the
cool-down closes it."""

from __future__ import annotations

import pytest

from mastering_service.breaker import Breaker, BreakerState

FAILURES = 3
COOLDOWN_S = 5.0


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> Breaker:
    return Breaker(FAILURES, COOLDOWN_S, clock=clock)


def test_opens_after_three_unanswered_lookups_in_a_row(breaker: Breaker) -> None:
    assert breaker.record_no_answer() is None
    assert breaker.record_no_answer() is None
    opened = breaker.record_no_answer()
    assert opened is not None and opened.state is BreakerState.OPEN and opened.failures == 3
    assert breaker.is_open


def test_an_answer_between_failures_resets_the_count(breaker: Breaker) -> None:
    breaker.record_no_answer()
    breaker.record_no_answer()
    breaker.record_answer()
    breaker.record_no_answer()
    breaker.record_no_answer()
    assert not breaker.is_open


def test_a_probe_answered_before_the_cooldown_keeps_it_open(
        breaker: Breaker, clock: FakeClock) -> None:
    for _ in range(FAILURES):
        breaker.record_no_answer()
    clock.now_s += COOLDOWN_S / 2
    assert breaker.probe_due_in_s() == pytest.approx(COOLDOWN_S / 2)
    assert breaker.record_probe(answered=True) is None
    assert breaker.is_open


def test_a_probe_answered_after_the_cooldown_closes_it(
        breaker: Breaker, clock: FakeClock) -> None:
    for _ in range(FAILURES):
        breaker.record_no_answer()
    clock.now_s += COOLDOWN_S + 0.1
    assert breaker.record_probe(answered=False) is None
    assert breaker.is_open
    closed = breaker.record_probe(answered=True)
    assert closed is not None and closed.state is BreakerState.CLOSED
    assert closed.after_s == pytest.approx(COOLDOWN_S + 0.1)
    assert not breaker.is_open and breaker.consecutive_failures == 0
    # Closed again, it needs three fresh failures to reopen.
    breaker.record_no_answer()
    assert not breaker.is_open


def test_failures_while_open_do_not_reopen_or_restart_the_cooldown(
        breaker: Breaker, clock: FakeClock) -> None:
    for _ in range(FAILURES):
        breaker.record_no_answer()
    clock.now_s += 1.0
    assert breaker.record_no_answer() is None
    assert breaker.open_for_s() == pytest.approx(1.0)
