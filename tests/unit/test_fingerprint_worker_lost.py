"""A fingerprint worker that dies mid-computation (the OOM killer, say) is answered UNAVAILABLE
with a message saying so, and the pool is replaced: the next call computes."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from fingerprint_service.service import FingerprintService, TrackQuery
from fingerprint_service.store import FingerprintStore
from shared.errors import WorkerLost
from shared.fingerprint import FingerprintSource
from shared.grpc_runtime import STATUS_FOR
from tests.servers import BrokenPool, make_config
from tests.signals import music_like, write_wav

RATE = 44_100


def test_a_dead_worker_is_unavailable_and_the_next_call_computes(tmp_path: Path) -> None:
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    write_wav(config.media_root / "song.wav", music_like(5.0, RATE), RATE)
    pools: list[Executor] = [BrokenPool(), ThreadPoolExecutor(1)]
    made: list[Executor] = []

    def factory() -> Executor:
        made.append(pools[len(made)])
        return made[-1]

    async def scenario() -> FingerprintSource:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        service = FingerprintService(config, FingerprintStore(config.database_url), factory)
        try:
            with pytest.raises(WorkerLost, match=r"song\.wav died"):
                await service.get(TrackQuery(path="song.wav"))
            return (await service.get(TrackQuery(path="song.wav"))).source
        finally:
            await service.close()

    assert asyncio.run(scenario()) is FingerprintSource.COMPUTED
    assert len(made) == 2
    assert STATUS_FOR[WorkerLost] == grpc.StatusCode.UNAVAILABLE
