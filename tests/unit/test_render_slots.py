"""The mastering service renders at most one processing step per CPU at a time, whatever the
number of streams: more threads in one process only trade the interpreter lock back and forth."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mastering_service.engine import EncodedChunk
from mastering_service.fp_client import FingerprintClient
from mastering_service.service import MasteringService
from tests.servers import make_config

STREAMS = 8
CHUNK_WORK_S = 0.02


class Steps(Iterator[list[EncodedChunk]]):
    """A stream's processing steps: each takes a while, and the most rendering at once is
    counted."""

    def __init__(self, counter: dict[str, int], lock: threading.Lock, chunks: int) -> None:
        self.counter, self.lock, self.left = counter, lock, chunks

    def __next__(self) -> list[EncodedChunk]:
        if not self.left:
            raise StopIteration
        self.left -= 1
        with self.lock:
            self.counter["now"] += 1
            self.counter["most"] = max(self.counter["most"], self.counter["now"])
        time.sleep(CHUNK_WORK_S)
        with self.lock:
            self.counter["now"] -= 1
        return [EncodedChunk(0, 0, 0, b"")]


def test_at_most_one_step_per_cpu_renders_at_once(tmp_path: Path) -> None:
    config = make_config(tmp_path, FINGERPRINT_TARGET="127.0.0.1:9")
    counter = {"now": 0, "most": 0}
    lock = threading.Lock()

    def streams(service: MasteringService) -> None:
        def stream() -> None:
            steps = Steps(counter, lock, 5)
            while service._next(steps) is not None:  # type: ignore[arg-type]
                pass

        threads = [threading.Thread(target=stream) for _ in range(STREAMS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    async def scenario() -> int:
        # The service's fingerprint client is an aio channel: it is made inside a loop.
        service = MasteringService(config, FingerprintClient.from_config(config),
                                   pool_factory=lambda: ThreadPoolExecutor(1))
        try:
            await asyncio.to_thread(streams, service)
            return service.render_slots
        finally:
            await service.close()

    slots = asyncio.run(scenario())
    assert counter["most"] == min(slots, STREAMS)
