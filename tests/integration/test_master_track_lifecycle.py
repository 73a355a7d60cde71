"""A MasterTrack stream's life on a real server: cancellation and an expired deadline stop the
server's work and free the stream's slot; beyond the stream limit new calls get
RESOURCE_EXHAUSTED while health still answers SERVING; SIGTERM drains a stream in flight and
the process exits 0 (SPEC sections 3 and 8)."""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2

from mastering_service.engine import QUANTUM_FRAMES
from shared.proto.mastering.v1 import mastering_pb2_grpc as pb_grpc
from tests.integration.fingerprint_harness import wait_until
from tests.integration.mastering_harness import by_path, split_stream, write_track
from tests.servers import ServiceProcess, Stack, channel, mastering_stack

#: Long enough that an unread stream is held by flow control long before its end.
LONG_TRACK_S = 30.0
SMALL_CHUNK_FRAMES = 1024
MAX_STREAMS = 2
CALL_TIMEOUT_S = 120.0
#: A stream that is abandoned may still finish the processing step in hand and the one rendered
#: ahead: each step's chunks hold at most a step of frames plus the part of a chunk it finishes.
FRAMES_AFTER_STOP = 2 * (QUANTUM_FRAMES + SMALL_CHUNK_FRAMES)
#: How long the render counter is watched after a stream ends; a bound, not a speed claim.
WATCH_S = 1.0


def read(call: Any, count: int) -> list[str]:
    return [next(call).WhichOneof("event") for _ in range(count)]


@dataclass
class Abandonment:
    """When the server itself saw the stream abandoned, and how much it had rendered then."""

    frames_rendered: list[int] = field(default_factory=list)

    def wait(self) -> int:
        wait_until(lambda: bool(self.frames_rendered), "the server to see the stream abandoned")
        (at_abandonment,) = self.frames_rendered
        return at_abandonment


@pytest.fixture
def abandonment(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Abandonment:
    """Records ``frames_rendered`` at the moment the servicer closes the service's event stream
    early (the caller cancelled, or its deadline expired): the explicit signal the stop is
    measured from, instead of guessing when rendering has come to rest."""
    service = stack.mastering.service
    record = Abandonment()
    master = service.master

    async def watched(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        finished = False
        async with aclosing(master(*args, **kwargs)) as events:
            try:
                async for event in events:
                    yield event
                finished = True
            finally:
                if not finished:
                    record.frames_rendered.append(service.frames_rendered)

    monkeypatch.setattr(service, "master", watched)
    return record


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The plan comes from the fallback analysis: the fingerprint service plays no part here.
    with mastering_stack(tmp_path_factory.mktemp("lifecycle"), fingerprint=False,
                         mastering_env={"MASTERING_MAX_STREAMS": str(MAX_STREAMS)}) as servers:
        write_track(servers.media, "long.wav", duration_s=LONG_TRACK_S)
        write_track(servers.media, "short.wav", duration_s=2.0)
        yield servers


@pytest.fixture(scope="module")
def stub(stack: Stack) -> Any:
    return stack.mastering_stub(slow_reader=True)


def assert_stopped(service: Any, since: int) -> None:
    """The stream's slot is free and rendering stays stopped."""
    wait_until(lambda: service.active_streams == 0, "the stream's slot to be freed")
    stopped_at = service.frames_rendered
    assert stopped_at - since <= FRAMES_AFTER_STOP
    time.sleep(WATCH_S)
    assert service.frames_rendered == stopped_at


def test_cancel_mid_stream_stops_server_side_work(
        stack: Stack, stub: Any, abandonment: Abandonment) -> None:
    service = stack.mastering.service
    before = service.frames_rendered
    call = stub.MasterTrack(by_path("long.wav", chunk_frames=SMALL_CHUNK_FRAMES),
                            timeout=CALL_TIMEOUT_S)
    header = next(call).header
    assert read(call, 3) == ["chunk"] * 3
    assert service.active_streams == 1
    call.cancel()
    assert_stopped(service, since=abandonment.wait())
    assert service.frames_rendered - before < header.total_frames
    assert call.code() == grpc.StatusCode.CANCELLED


def test_expired_deadline_mid_stream_stops_server_side_work(
        stack: Stack, stub: Any, abandonment: Abandonment) -> None:
    service = stack.mastering.service
    before = service.frames_rendered
    deadline_s = 8.0
    call = stub.MasterTrack(by_path("long.wav", chunk_frames=SMALL_CHUNK_FRAMES),
                            timeout=deadline_s)
    header = next(call).header
    assert read(call, 3) == ["chunk"] * 3
    # Stop reading: flow control holds the render, and the deadline expires with the stream in
    # flight.
    assert_stopped(service, since=abandonment.wait())
    assert service.frames_rendered - before < header.total_frames
    with pytest.raises(grpc.RpcError) as failure:
        for _ in call:
            pass
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_stream_limit_is_resource_exhausted_while_health_serves(stack: Stack, stub: Any) -> None:
    service = stack.mastering.service
    held = [stub.MasterTrack(by_path("long.wav", chunk_frames=SMALL_CHUNK_FRAMES),
                             timeout=CALL_TIMEOUT_S) for _ in range(MAX_STREAMS)]
    try:
        for call in held:
            assert read(call, 1) == ["header"]
        assert service.active_streams == MAX_STREAMS
        with pytest.raises(grpc.RpcError) as failure:
            split_stream(stub.MasterTrack(by_path("short.wav"), timeout=CALL_TIMEOUT_S))
        assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert str(MAX_STREAMS) in failure.value.details()
        assert "stream" in failure.value.details()
        health = stack.health_stub()
        for name in ("", "mastering.v1.MasteringService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
    finally:
        for call in held:
            call.cancel()
    wait_until(lambda: service.active_streams == 0, "the held streams' slots to be freed")
    # The freed slots take new streams again.
    again = split_stream(stub.MasterTrack(by_path("short.wav"), timeout=CALL_TIMEOUT_S))
    assert again.summary.frames_sent == again.header.total_frames


def test_sigterm_drains_the_stream_in_flight_and_exits_zero(tmp_path: Path) -> None:
    media = tmp_path / "media"
    track = write_track(media, "long.wav", duration_s=LONG_TRACK_S)
    common = {"MEDIA_ROOT": str(media), "LOG_LEVEL": "info"}
    fingerprint = ServiceProcess(
        "fingerprint_service",
        {**common, "DATA_DIR": str(tmp_path / "data"), "FINGERPRINT_WORKERS": "1"},
        "FINGERPRINT_LISTEN")
    mastering = None
    try:
        mastering = ServiceProcess(
            "mastering_service",
            {**common, "FINGERPRINT_TARGET": f"127.0.0.1:{fingerprint.port}",
             "SHUTDOWN_GRACE_S": "20"},
            "MASTERING_LISTEN")
        with channel(mastering.port, slow_reader=True) as ch:
            call = pb_grpc.MasteringServiceStub(ch).MasterTrack(
                by_path(track), timeout=CALL_TIMEOUT_S)
            header = next(call).header
            early = [next(call).chunk for _ in range(2)]
            mastering.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: bool(mastering.events("server_draining")),
                       "the mastering server to start draining")
            with channel(mastering.port) as fresh, pytest.raises(grpc.RpcError) as refused:
                split_stream(pb_grpc.MasteringServiceStub(fresh).MasterTrack(
                    by_path(track), timeout=10))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            rest = split_stream(call)
            assert rest.kinds[-1] == "summary"
            assert rest.summary.frames_sent == header.total_frames
            sent_bytes = sum(len(c.pcm) for c in [*early, *rest.chunks])
            assert sent_bytes == header.total_frames * 2 * header.channels
        assert mastering.proc.wait(30) == 0
    finally:
        if mastering is not None:
            mastering.kill()
        assert fingerprint.terminate() == 0
