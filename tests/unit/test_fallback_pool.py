"""The fallback analyses' pool (mastering_service.fallback_pool): worker processes give the same
analysis as the in-process one, and a worker that dies is answered UNAVAILABLE and replaced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pytest

from mastering_service.analysis import analyze, analyze_excerpts
from mastering_service.fallback_pool import FallbackPool
from shared.errors import WorkerLost
from tests.servers import BrokenPool
from tests.signals import music_like, write_wav

RATE = 44_100


class InlinePool(Executor):
    """Runs each call at once, in the caller's thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


@pytest.fixture(scope="module")
def track(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fallback") / "track.wav"
    return write_wav(path, music_like(60.0, RATE, level_dbfs=-12.0), RATE)


def test_the_worker_processes_measure_what_the_service_would(track: Path) -> None:
    async def scenario() -> tuple[object, object]:
        pool = FallbackPool(2)
        try:
            await pool.warm_up()
            alone = await pool.analyze(track, 60.0)
            pool.pending = 1  # another analysis waiting: this one measures excerpts
            crowded = await pool.analyze(track, 60.0)
            return alone, crowded
        finally:
            pool.close()

    alone, crowded = asyncio.run(scenario())
    assert alone == analyze(track)
    assert crowded == analyze_excerpts(track)


def test_a_dead_worker_is_answered_unavailable_and_the_pool_replaced(track: Path) -> None:
    pools: list[Executor] = [BrokenPool(), InlinePool()]
    made: list[Executor] = []

    def factory() -> Executor:
        made.append(pools[len(made)])
        return made[-1]

    async def scenario() -> object:
        pool = FallbackPool(1, pool_factory=factory)
        with pytest.raises(WorkerLost, match="worker process died"):
            await pool.analyze(track, 60.0)
        assert pool.pending == 0
        return await pool.analyze(track, 60.0)

    assert asyncio.run(scenario()) == analyze(track)
    assert len(made) == 2
