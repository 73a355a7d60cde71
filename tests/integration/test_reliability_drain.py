"""Issue 10, item 10: calls made right at SIGTERM are refused with UNAVAILABLE (which a caller
retries elsewhere), never CANCELLED. gRPC core cancels the calls that have reached the server but
not a handler when its transport shuts down, so the drain keeps the transport open, refusing new
calls, until the calls in flight have finished and the calls on the wire have been answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from fingerprint_service.app import build_server
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.servers import LoopThread, channel, make_config

CLIENTS = 8
TRIALS = 3
#: Calls sent this long after the drain began count as "made right at SIGTERM".
AT_SIGTERM_S = 0.15
#: Calls before the drain, so every client is connected and calling when it begins.
WARM_S = 0.3
CALL_TIMEOUT_S = 10.0
#: A cheap call: by hash, of nothing cached (NOT_FOUND while serving).
CHEAP = pb.GetFingerprintRequest(track=pb.TrackRef(content_sha256="0" * 64))


def hammer(port: int, stop: threading.Event, calls: list[tuple[float, grpc.StatusCode]]) -> None:
    with channel(port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        while not stop.is_set():
            sent = time.monotonic()
            try:
                stub.GetFingerprint(CHEAP, timeout=CALL_TIMEOUT_S)
                code = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                code = exc.code()
            calls.append((sent, code))


def calls_around_a_drain(tmp_path: Path) -> tuple[float, list[tuple[float, grpc.StatusCode]]]:
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    loop = LoopThread()
    try:
        # No computation is asked for: a thread pool spares the worker processes' start-up.
        server = loop.run(build_server(config, listen="127.0.0.1:0",
                                       pool_factory=lambda: ThreadPoolExecutor(1)))
        loop.run(server.app.start())
        stop = threading.Event()
        calls: list[tuple[float, grpc.StatusCode]] = []
        threads = [threading.Thread(target=hammer, args=(server.app.port, stop, calls))
                   for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(WARM_S)
        drain_began = time.monotonic()
        loop.run(server.app.stop())  # what SIGTERM runs
        stop.set()
        for thread in threads:
            thread.join(CALL_TIMEOUT_S)
        return drain_began, calls
    finally:
        loop.close()


@pytest.fixture
def trials(tmp_path: Path) -> Iterator[list[tuple[float, list[tuple[float, grpc.StatusCode]]]]]:
    yield [calls_around_a_drain(tmp_path / f"trial{n}") for n in range(TRIALS)]


def test_item10_calls_at_sigterm_get_unavailable_never_cancelled(
        trials: list[tuple[float, list[tuple[float, grpc.StatusCode]]]]) -> None:
    at_sigterm: list[grpc.StatusCode] = []
    for drain_began, calls in trials:
        before = [code for sent, code in calls if sent < drain_began]
        assert grpc.StatusCode.NOT_FOUND in before  # the clients were being served
        at_sigterm += [code for sent, code in calls
                       if drain_began <= sent < drain_began + AT_SIGTERM_S]
        cancelled = [sent - drain_began for sent, code in calls
                     if code == grpc.StatusCode.CANCELLED and sent < drain_began + AT_SIGTERM_S]
        assert cancelled == [], f"CANCELLED calls sent at {cancelled} s after the drain began"
    assert at_sigterm and set(at_sigterm) == {grpc.StatusCode.UNAVAILABLE}
