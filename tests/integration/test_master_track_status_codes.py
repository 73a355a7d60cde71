"""Every status-code row of SPEC section 3 for MasterTrack, one test each, against a real server:
the code and what the message says. Bad input is never INTERNAL, and a refused call sends
nothing before its status. (Too many streams is in test_master_track_lifecycle.py, beside the
health check it must not block.)"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import soundfile as sf
from grpc_health.v1 import health_pb2

from mastering_service.request import MAX_CHUNK_FRAMES
from shared.proto.mastering.v1 import mastering_pb2 as pb
from tests.integration.fingerprint_harness import wait_until
from tests.integration.mastering_harness import (
    RATE_HZ,
    TRACK_S,
    by_path,
    split_stream,
    write_track,
)
from tests.servers import Stack, mastering_stack

MAX_CONTENT_BYTES = 200_000
CALL_TIMEOUT_S = 60.0
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def numbers_in(message: str) -> set[float]:
    return {float(text) for text in _NUMBER.findall(message)}


def refused(stub: Any, request: pb.MasterTrackRequest) -> grpc.RpcError:
    """The status of a call that must fail before it streams anything."""
    received = []
    with pytest.raises(grpc.RpcError) as failure:
        for response in stub.MasterTrack(request, timeout=CALL_TIMEOUT_S):
            received.append(response.WhichOneof("event"))
    assert received == [], f"a refused call streamed {received}"
    error = failure.value
    assert error.code() != grpc.StatusCode.INTERNAL, error.details()
    return error


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # No fingerprint service: every refusal here happens before the fingerprint is asked for.
    with mastering_stack(tmp_path_factory.mktemp("status-codes"), fingerprint=False,
                         mastering_env={"MAX_CONTENT_BYTES": str(MAX_CONTENT_BYTES)}) as servers:
        write_track(servers.media, "good.wav")
        yield servers


@pytest.fixture(scope="module")
def stub(stack: Stack) -> Any:
    return stack.mastering_stub()


# -- INVALID_ARGUMENT: no source, parameters out of range -----------------------------------------


def test_neither_path_nor_content_is_invalid_argument(stub: Any) -> None:
    error = refused(stub, pb.MasterTrackRequest(chunk_frames=1024))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "track.path" in error.details() and "track.content" in error.details()


@pytest.mark.parametrize(
    ("field", "value", "low", "high"),
    [
        ("target_lufs", -41.0, -40.0, -5.0),
        ("target_lufs", -4.0, -40.0, -5.0),
        ("true_peak_ceiling_dbtp", 0.5, -9.0, 0.0),
        ("true_peak_ceiling_dbtp", -10.0, -9.0, 0.0),
        ("intensity", 1.5, 0.0, 1.0),
        ("intensity", -0.1, 0.0, 1.0),
        ("chunk_frames", MAX_CHUNK_FRAMES + 1, 0, MAX_CHUNK_FRAMES),
        ("fingerprint_timeout_ms", 60_001, 0, 60_000),
    ],
    ids=lambda v: str(v),
)
def test_parameter_out_of_range_is_invalid_argument_naming_field_and_range(
        stub: Any, field: str, value: float, low: float, high: float) -> None:
    error = refused(stub, by_path("good.wav", **{field: value}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.details()
    assert {low, high} <= numbers_in(error.details()), error.details()


def test_negative_start_s_is_invalid_argument(stub: Any) -> None:
    error = refused(stub, by_path("good.wav", start_s=-1.0))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "start_s" in error.details()


# -- PERMISSION_DENIED: outside the media root ----------------------------------------------------


def assert_outside_media_root(error: grpc.RpcError, stack: Stack) -> None:
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "outside the media root" in error.details()
    assert str(stack.media.resolve()) not in error.details()
    assert str(stack.media) not in error.details()


def test_dot_dot_path_is_permission_denied(stub: Any, stack: Stack) -> None:
    assert_outside_media_root(refused(stub, by_path("../good.wav")), stack)
    assert_outside_media_root(refused(stub, by_path("albums/../../x.wav")), stack)


def test_absolute_path_is_permission_denied(stub: Any, stack: Stack) -> None:
    assert_outside_media_root(refused(stub, by_path("/etc/passwd")), stack)


def test_symlink_leading_outside_is_permission_denied(
        stub: Any, stack: Stack, tmp_path: Path) -> None:
    secret = write_track(tmp_path, "secret.wav", duration_s=1.0)
    link = stack.media / "innocent-link.wav"
    link.symlink_to(tmp_path / secret)
    try:
        error = refused(stub, by_path("innocent-link.wav"))
    finally:
        link.unlink()
    assert_outside_media_root(error, stack)
    assert str(tmp_path) not in error.details()


def test_nul_in_path_is_permission_denied(stub: Any, stack: Stack) -> None:
    assert_outside_media_root(refused(stub, by_path("good.wav\x00.txt")), stack)


# -- NOT_FOUND: missing file, directory -----------------------------------------------------------


def test_missing_file_is_not_found_with_the_relative_path(stub: Any, stack: Stack) -> None:
    error = refused(stub, by_path("albums/missing.wav"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "albums/missing.wav" in error.details()
    assert str(stack.media) not in error.details()


def test_directory_is_not_found_with_the_relative_path(stub: Any, stack: Stack) -> None:
    (stack.media / "a-folder").mkdir(exist_ok=True)
    error = refused(stub, by_path("a-folder"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "a-folder" in error.details()
    assert str(stack.media) not in error.details()


# -- INVALID_ARGUMENT: what the decoder refuses ---------------------------------------------------


def test_corrupt_file_is_invalid_argument_with_the_decoders_reason(
        stub: Any, stack: Stack) -> None:
    noise = np.random.default_rng(5).integers(0, 256, 8192, dtype=np.uint8).tobytes()
    (stack.media / "corrupt.wav").write_bytes(noise)
    error = refused(stub, by_path("corrupt.wav"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "decode" in error.details()
    assert str(stack.media) not in error.details()


def test_text_named_wav_is_invalid_argument(stub: Any, stack: Stack) -> None:
    (stack.media / "notes.wav").write_text("these are liner notes, not audio\n" * 20)
    error = refused(stub, by_path("notes.wav"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "decode" in error.details()


def test_zero_frame_file_is_invalid_argument(stub: Any, stack: Stack) -> None:
    sf.write(str(stack.media / "empty.wav"), np.zeros((0, 2)), RATE_HZ, subtype="PCM_16")
    error = refused(stub, by_path("empty.wav"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "frames" in error.details()


def test_undecodable_content_is_invalid_argument(stub: Any) -> None:
    error = refused(stub, pb.MasterTrackRequest(
        track=pb.TrackRef(content=b"RIFF\x00\x00\x00\x00WAVEnot really" * 10)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "decode" in error.details()


def test_three_channels_is_invalid_argument_too_many_channels(stub: Any, stack: Stack) -> None:
    write_track(stack.media, "three.wav", duration_s=1.0, channels=3)
    error = refused(stub, by_path("three.wav"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "channels" in error.details()
    assert 3.0 in numbers_in(error.details()) and 2.0 in numbers_in(error.details())


@pytest.mark.parametrize("rate_hz", [4_000, 384_000])
def test_sample_rate_outside_8_to_192_khz_is_invalid_argument_naming_the_range(
    stub: Any, stack: Stack, rate_hz: int
) -> None:
    """Issue 10, item 1: the fallback analysis used to raise a plain ValueError (INTERNAL)."""
    name = f"rate-{rate_hz}.wav"
    sf.write(str(stack.media / name), np.zeros((rate_hz // 2, 2)), rate_hz, subtype="PCM_16")
    error = refused(stub, by_path(name))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sample rate" in error.details()
    assert {float(rate_hz), 8000.0, 192000.0} <= numbers_in(error.details())
    healthy = list(stub.MasterTrack(by_path("good.wav"), timeout=CALL_TIMEOUT_S))
    assert healthy[-1].WhichOneof("event") == "summary"


# -- RESOURCE_EXHAUSTED: content too large --------------------------------------------------------


def test_content_over_the_limit_is_resource_exhausted_naming_the_limit(stub: Any) -> None:
    error = refused(stub, pb.MasterTrackRequest(
        track=pb.TrackRef(content=bytes(MAX_CONTENT_BYTES + 1000))))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert float(MAX_CONTENT_BYTES) in numbers_in(error.details()), error.details()


# -- OUT_OF_RANGE: seeking past the end -----------------------------------------------------------


@pytest.mark.parametrize("start_s", [TRACK_S, TRACK_S + 6.0], ids=["at-end", "beyond-end"])
def test_start_s_at_or_beyond_the_end_is_out_of_range_naming_the_duration(
        stub: Any, start_s: float) -> None:
    error = refused(stub, by_path("good.wav", start_s=start_s))
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "duration" in error.details()
    assert any(abs(n - TRACK_S) < 0.01 for n in numbers_in(error.details())), error.details()


# -- UNAVAILABLE: draining ------------------------------------------------------------------------


def test_draining_server_refuses_new_calls_with_unavailable(tmp_path: Path) -> None:
    with mastering_stack(tmp_path, fingerprint=False) as servers:
        track = write_track(servers.media, "long.wav", duration_s=30.0)
        stub = servers.mastering_stub(slow_reader=True)
        held = stub.MasterTrack(by_path(track, chunk_frames=4096), timeout=CALL_TIMEOUT_S)
        first = [next(held), next(held)]
        assert [r.WhichOneof("event") for r in first] == ["header", "chunk"]
        app = servers.mastering.app
        stopping = asyncio.run_coroutine_threadsafe(app.stop(30.0),
                                                    servers.mastering_loop.loop)
        health = servers.health_stub()

        def not_serving() -> bool:
            try:
                status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            except grpc.RpcError:
                return True
            return bool(status.status == health_pb2.HealthCheckResponse.NOT_SERVING)

        wait_until(not_serving, "the server to start draining")
        error = refused(stub, by_path(track))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        # The stream in flight still finishes.
        rest = split_stream(held)
        assert rest.kinds[-1] == "summary"
        assert rest.summary.frames_sent == first[0].header.total_frames
        stopping.result(60)
