"""Issue 10, the cold burst's mechanism: while a stream is starting, a stream already playing
renders no further than the lead ahead of real time, yet never falls behind it; once none is
starting it runs at full speed again (mastering_service.pacing)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from mastering_service.analysis import analyze, analyze_excerpts
from mastering_service.engine import QUANTUM_FRAMES
from tests.integration.mastering_harness import by_path, split_stream, write_track
from tests.servers import mastering_stack

TRACK_S = 120.0
RATE_HZ = 44_100
LEAD_S = 1.0
#: How long the second stream is held in its fallback analysis.
HELD_S = 2.0
#: Slack: the stream renders one processing step ahead of what it sends and is held between
#: steps, so it can be two steps past the lead; then the transport and a busy machine.
SLACK_S = 2 * QUANTUM_FRAMES / RATE_HZ + 0.5
CALL_TIMEOUT_S = 120.0


class GatedPool(Executor):
    """Fallback analyses in threads; while ``held`` is set, each waits for ``release``."""

    def __init__(self) -> None:
        self._threads = ThreadPoolExecutor(2)
        self.held = threading.Event()
        self.release = threading.Event()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        held = self.held.is_set() and fn in (analyze, analyze_excerpts)

        def run() -> Any:
            if held:
                self.release.wait(CALL_TIMEOUT_S)
            return fn(*args, **kwargs)

        return self._threads.submit(run)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.release.set()
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)


class Listener:
    """Reads a stream in a thread, noting the audio received and when its first chunk came."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.responses: list[Any] = []
        self.first_chunk_at: float | None = None
        self.received_s = 0.0
        self.error: grpc.RpcError | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for response in self.call:
                self.responses.append(response)
                if response.WhichOneof("event") == "chunk":
                    if self.first_chunk_at is None:
                        self.first_chunk_at = time.monotonic()
                    self.received_s += (len(response.chunk.pcm) // 4) / RATE_HZ
        except grpc.RpcError as error:
            self.error = error

    def playing_s(self) -> float:
        assert self.first_chunk_at is not None
        return time.monotonic() - self.first_chunk_at


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CALL_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


@pytest.mark.slow
def test_a_playing_stream_keeps_the_lead_while_another_starts_and_no_more(tmp_path: Any) -> None:
    pool = GatedPool()
    # No fingerprint service: each stream falls back at once, and its analysis is the pool's.
    with mastering_stack(tmp_path, fingerprint=False, fallback_pool_factory=lambda: pool) as stack:
        for name in ("playing.wav", "starting.wav"):
            write_track(stack.media, name, duration_s=TRACK_S, rate_hz=RATE_HZ)
        service = stack.mastering.service
        service.pacing.lead_s = LEAD_S
        stub = stack.mastering_stub()
        playing = Listener(stub.MasterTrack(by_path("playing.wav"), timeout=CALL_TIMEOUT_S))
        _wait_for(lambda: playing.first_chunk_at is not None, "the first stream's first chunk")
        pool.held.set()
        starting = Listener(stub.MasterTrack(by_path("starting.wav"), timeout=CALL_TIMEOUT_S))
        _wait_for(lambda: service.pacing.starting == 1, "the second stream to be admitted")
        time.sleep(HELD_S)
        played_s, received_s = playing.playing_s(), playing.received_s
        pool.release.set()
        for listener in (playing, starting):
            listener.thread.join(CALL_TIMEOUT_S)
            assert listener.error is None, listener.error
    assert played_s - SLACK_S <= received_s <= played_s + LEAD_S + SLACK_S, (played_s, received_s)
    for listener in (playing, starting):
        stream = split_stream(listener.responses)
        assert stream.summary.frames_sent == stream.header.total_frames
