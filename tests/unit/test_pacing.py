"""Pacing (mastering_service.pacing): while a stream is starting, a playing stream waits once it
is more than ``lead_s`` ahead of real time, and runs free again the moment none is starting."""

from __future__ import annotations

import asyncio
import time

from mastering_service.pacing import Pacing

LEAD_S = 2.0
#: Long enough that a wait which should have ended early is told apart from one that ran out.
LONG_AHEAD_S = 60.0


def test_a_playing_stream_runs_free_while_none_is_starting() -> None:
    pacing = Pacing(LEAD_S)
    assert not pacing.holds(LONG_AHEAD_S, time.monotonic())


def test_a_stream_within_the_lead_runs_free_while_another_starts() -> None:
    pacing = Pacing(LEAD_S)
    pacing.start()
    assert not pacing.holds(LEAD_S / 2, time.monotonic())


def test_a_stream_beyond_the_lead_waits_while_another_starts() -> None:
    pacing = Pacing(LEAD_S)
    pacing.start()
    assert pacing.holds(LONG_AHEAD_S, time.monotonic())


def test_the_lead_counts_the_time_played_since_the_first_chunk() -> None:
    pacing = Pacing(LEAD_S)
    pacing.start()
    assert not pacing.holds(LONG_AHEAD_S, time.monotonic() - LONG_AHEAD_S)


def test_the_wait_ends_when_the_last_starting_stream_starts() -> None:
    async def scenario() -> float:
        pacing = Pacing(LEAD_S)
        first, second = pacing.start(), pacing.start()
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, first.done)
        loop.call_later(0.1, second.done)
        second_done = loop.time() + 0.1
        await asyncio.wait_for(pacing.pace(LONG_AHEAD_S, time.monotonic()), LONG_AHEAD_S / 2)
        assert pacing.starting == 0
        return loop.time() - second_done

    assert asyncio.run(scenario()) >= -0.01


def test_the_wait_ends_when_the_stream_falls_back_to_the_lead() -> None:
    async def scenario() -> float:
        pacing = Pacing(LEAD_S)
        pacing.start()
        started = time.monotonic()
        await pacing.pace(LEAD_S + 0.1, started)
        return time.monotonic() - started

    waited_s = asyncio.run(scenario())
    assert 0.09 <= waited_s < LEAD_S


def test_a_start_counts_once_however_often_it_is_done() -> None:
    pacing = Pacing(LEAD_S)
    start = pacing.start()
    pacing.start()
    start.done()
    start.done()
    assert pacing.starting == 1
