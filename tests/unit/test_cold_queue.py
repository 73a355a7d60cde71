"""Issue 10, the cold burst: the mastering service expects a cold fingerprint back after the audio
queued ahead of it has been computed, and learns how fast the fingerprint service computes."""

from __future__ import annotations

import pytest

from mastering_service.cold_queue import ColdQueue

PRIOR_AUDIO_S_PER_S = 60.0
TRACK_S = 240.0


def test_a_lone_computation_is_expected_after_its_own_audio() -> None:
    queue = ColdQueue(PRIOR_AUDIO_S_PER_S)
    assert queue.expected_wait_s(TRACK_S) == pytest.approx(TRACK_S / PRIOR_AUDIO_S_PER_S)


def test_queued_computations_push_the_next_one_back() -> None:
    queue = ColdQueue(PRIOR_AUDIO_S_PER_S)
    tickets = [queue.enter(TRACK_S) for _ in range(3)]
    assert queue.expected_wait_s(TRACK_S) == pytest.approx(4 * TRACK_S / PRIOR_AUDIO_S_PER_S)
    for ticket in tickets:
        queue.leave(ticket, None)
    assert queue.in_flight == 0 and queue.queued_audio_s == 0.0
    assert queue.expected_wait_s(TRACK_S) == pytest.approx(TRACK_S / PRIOR_AUDIO_S_PER_S)


def test_a_slow_computation_lowers_the_learned_throughput() -> None:
    queue = ColdQueue(PRIOR_AUDIO_S_PER_S)
    ticket = queue.enter(TRACK_S)
    queue.leave(ticket, elapsed_s=TRACK_S / (PRIOR_AUDIO_S_PER_S / 4))  # four times slower
    assert queue.audio_s_per_s < PRIOR_AUDIO_S_PER_S
    assert queue.expected_wait_s(TRACK_S) > TRACK_S / PRIOR_AUDIO_S_PER_S


def test_a_failure_teaches_nothing() -> None:
    queue = ColdQueue(PRIOR_AUDIO_S_PER_S)
    queue.leave(queue.enter(TRACK_S), None)
    assert queue.audio_s_per_s == PRIOR_AUDIO_S_PER_S
