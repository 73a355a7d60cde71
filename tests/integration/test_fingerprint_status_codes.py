"""SPEC section 3, status code table: every row that applies to GetFingerprint, over a real
server. Each test checks the code and what the message says, then that the server still answers
a good request and that nothing in the media root was deleted or rewritten."""

from __future__ import annotations

import asyncio
import hashlib
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile as sf
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fingerprint_service.app import FingerprintServer
from shared.errors import MAX_MESSAGE_CHARS
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.integration.fingerprint_harness import (
    SAFETY_TIMEOUT_S,
    GatedPool,
    by_path,
    serve,
    wait_until,
    write_track,
)
from tests.servers import channel, make_config

MAX_CONTENT_BYTES = 100_000
GOOD_TRACK = "good.wav"


@dataclass
class Env:
    server: FingerprintServer
    stub: pb_grpc.FingerprintServiceStub
    media_root: Path
    outside: Path  # a folder next to the media root, with a valid track in it


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp_path = tmp_path_factory.mktemp("status-codes")
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1",
                         MAX_CONTENT_BYTES=str(MAX_CONTENT_BYTES))
    write_track(config.media_root, GOOD_TRACK, duration_s=1.0)
    outside = tmp_path / "outside"
    write_track(outside, "secret.wav", duration_s=1.0)
    with serve(config) as (server, _loop), channel(server.app.port) as ch:
        yield Env(server, pb_grpc.FingerprintServiceStub(ch), config.media_root, outside)


def _media_state(media_root: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under the media root with its size, mtime and content hash."""
    state = {}
    for entry in sorted(media_root.rglob("*")):
        stat = entry.lstat()
        digest = hashlib.sha256(entry.read_bytes()).hexdigest() if entry.is_file() else ""
        state[str(entry.relative_to(media_root))] = (stat.st_size, stat.st_mtime_ns, digest)
    return state


def expect_error(env: Env, request: pb.GetFingerprintRequest, code: grpc.StatusCode) -> str:
    """Send ``request``, check it fails with ``code`` and harms nothing; return the message."""
    before = _media_state(env.media_root)
    with pytest.raises(grpc.RpcError) as failure:
        env.stub.GetFingerprint(request, timeout=SAFETY_TIMEOUT_S)
    assert failure.value.code() == code, failure.value.details()
    good = env.stub.GetFingerprint(by_path(GOOD_TRACK), timeout=SAFETY_TIMEOUT_S)
    assert good.source in (pb.COMPUTED, pb.DATABASE)
    assert _media_state(env.media_root) == before
    details: str = failure.value.details()
    assert "Traceback" not in details
    return details


def _content(data: bytes) -> pb.GetFingerprintRequest:
    return pb.GetFingerprintRequest(track=pb.TrackRef(content=data))


def assert_no_server_path(env: Env, details: str) -> None:
    for server_path in (env.media_root, env.media_root.resolve(), env.outside):
        assert str(server_path) not in details


# -- INVALID_ARGUMENT: the request itself ---------------------------------------------------------


def test_no_track_source_is_invalid_argument(env: Env) -> None:
    for request in (pb.GetFingerprintRequest(),
                    pb.GetFingerprintRequest(track=pb.TrackRef())):
        details = expect_error(env, request, grpc.StatusCode.INVALID_ARGUMENT)
        assert "track.path" in details and "track.content" in details
    # A source that is set but empty is no track either.
    assert "track.path" in expect_error(env, by_path(""), grpc.StatusCode.INVALID_ARGUMENT)
    assert "track.content" in expect_error(env, _content(b""), grpc.StatusCode.INVALID_ARGUMENT)


def test_cached_only_with_force_recompute_is_invalid_argument(env: Env) -> None:
    request = by_path(GOOD_TRACK, cached_only=True, force_recompute=True)
    details = expect_error(env, request, grpc.StatusCode.INVALID_ARGUMENT)
    assert "cached_only" in details and "force_recompute" in details


@pytest.mark.parametrize("digest", ["abc123", "g" * 64, "0" * 63, "0" * 65])
def test_malformed_content_sha256_is_invalid_argument(env: Env, digest: str) -> None:
    request = pb.GetFingerprintRequest(track=pb.TrackRef(content_sha256=digest))
    details = expect_error(env, request, grpc.StatusCode.INVALID_ARGUMENT)
    assert "content_sha256" in details
    assert "64" in details


# -- PERMISSION_DENIED: outside the media root ----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["../outside/secret.wav", "albums/../../outside/secret.wav", "/etc/passwd",
     "good.wav\x00.txt"],
    ids=["dot-dot", "nested-dot-dot", "absolute", "nul"],
)
def test_path_escaping_the_media_root_is_permission_denied(env: Env, path: str) -> None:
    details = expect_error(env, by_path(path), grpc.StatusCode.PERMISSION_DENIED)
    assert "outside the media root" in details
    assert_no_server_path(env, details)


def test_symlink_out_of_the_media_root_is_permission_denied(env: Env) -> None:
    link = env.media_root / "links" / "escape.wav"
    link.parent.mkdir(exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(env.outside / "secret.wav")
    folder_link = env.media_root / "links" / "elsewhere"
    if not folder_link.is_symlink():
        folder_link.symlink_to(env.outside, target_is_directory=True)

    for path in ("links/escape.wav", "links/elsewhere/secret.wav"):
        details = expect_error(env, by_path(path), grpc.StatusCode.PERMISSION_DENIED)
        assert "outside the media root" in details
        assert_no_server_path(env, details)
    assert (env.outside / "secret.wav").is_file()


# -- NOT_FOUND ------------------------------------------------------------------------------------


def test_missing_file_is_not_found_naming_the_relative_path(env: Env) -> None:
    details = expect_error(env, by_path("albums/missing/nothing.wav"),
                           grpc.StatusCode.NOT_FOUND)
    assert "albums/missing/nothing.wav" in details
    assert_no_server_path(env, details)


def test_directory_is_not_found_naming_the_relative_path(env: Env) -> None:
    (env.media_root / "albums" / "a-folder.wav").mkdir(parents=True, exist_ok=True)
    details = expect_error(env, by_path("albums/a-folder.wav"), grpc.StatusCode.NOT_FOUND)
    assert "albums/a-folder.wav" in details
    assert_no_server_path(env, details)


@pytest.mark.parametrize(
    "path",
    ["loops/self.wav", "loops/ping.wav", "loops/self.wav/x.wav", "n" * 300 + ".wav",
     "deep/" * 1_000 + "x.wav"],
    ids=["symlink-loop", "symlink-cycle", "through-a-loop", "name-too-long", "path-too-long"],
)
def test_unresolvable_path_is_not_found_not_internal(env: Env, path: str) -> None:
    loops = env.media_root / "loops"
    loops.mkdir(exist_ok=True)
    for name, target in (("self.wav", "self.wav"), ("ping.wav", "pong.wav"),
                         ("pong.wav", "ping.wav")):
        if not (loops / name).is_symlink():
            (loops / name).symlink_to(target)
    details = expect_error(env, by_path(path), grpc.StatusCode.NOT_FOUND)
    if len(f"track not found: {path}") <= MAX_MESSAGE_CHARS:
        assert path in details
    else:  # a quoted path is cut in the middle, keeping both ends (issue 10, item 8)
        assert len(details) <= MAX_MESSAGE_CHARS and "characters omitted" in details
        assert path[:200] in details and details.endswith(path[-200:])
    assert_no_server_path(env, details)


def test_cached_only_with_nothing_cached_is_not_found(env: Env) -> None:
    write_track(env.media_root, "uncached.wav", duration_s=1.0)
    env.stub.GetFingerprint(by_path(GOOD_TRACK), timeout=SAFETY_TIMEOUT_S)
    computations = env.server.service.computations
    details = expect_error(env, by_path("uncached.wav", cached_only=True),
                           grpc.StatusCode.NOT_FOUND)
    assert "uncached.wav" in details
    # cached_only never starts a computation.
    assert env.server.service.computations == computations


# -- INVALID_ARGUMENT: the decoder's reason -------------------------------------------------------


def test_corrupt_file_is_invalid_argument_with_the_decoders_reason(env: Env) -> None:
    corrupt = env.media_root / "broken.flac"
    corrupt.write_bytes(np.random.default_rng(5).bytes(50_000))
    details = expect_error(env, by_path("broken.flac"), grpc.StatusCode.INVALID_ARGUMENT)
    assert "cannot decode audio" in details
    assert_no_server_path(env, details)


def test_text_file_named_wav_is_invalid_argument_with_the_decoders_reason(env: Env) -> None:
    (env.media_root / "notes.wav").write_text("these are not the samples you are looking for\n"
                                              * 50)
    details = expect_error(env, by_path("notes.wav"), grpc.StatusCode.INVALID_ARGUMENT)
    assert "cannot decode audio" in details
    assert_no_server_path(env, details)


def test_zero_frame_file_is_invalid_argument(env: Env) -> None:
    empty = env.media_root / "empty.wav"
    with wave.open(str(empty), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(44_100)
    assert sf.info(str(empty)).frames == 0
    details = expect_error(env, by_path("empty.wav"), grpc.StatusCode.INVALID_ARGUMENT)
    assert "zero audio frames" in details


def test_more_than_8_channels_is_invalid_argument(env: Env) -> None:
    sf.write(str(env.media_root / "nine.wav"), np.zeros((8_000, 9)), 8_000, subtype="PCM_16")
    details = expect_error(env, by_path("nine.wav"), grpc.StatusCode.INVALID_ARGUMENT)
    assert "too many channels" in details
    assert "9" in details and "8" in details


@pytest.mark.parametrize("rate_hz", [4_000, 384_000])
def test_sample_rate_outside_8_to_192_khz_is_invalid_argument_naming_the_range(
    env: Env, rate_hz: int
) -> None:
    sf.write(str(env.media_root / f"rate-{rate_hz}.wav"), np.zeros((rate_hz // 2, 2)), rate_hz,
             subtype="PCM_16")
    details = expect_error(env, by_path(f"rate-{rate_hz}.wav"), grpc.StatusCode.INVALID_ARGUMENT)
    assert "unsupported sample rate" in details
    assert str(rate_hz) in details and "8000" in details and "192000" in details


def test_content_that_is_not_audio_is_invalid_argument(env: Env) -> None:
    details = expect_error(env, _content(b"RIFF" + b"\x00" * 4_000),
                           grpc.StatusCode.INVALID_ARGUMENT)
    assert "cannot decode audio" in details


# -- RESOURCE_EXHAUSTED ---------------------------------------------------------------------------


def test_content_over_the_limit_is_resource_exhausted_naming_the_limit(env: Env) -> None:
    just_over = b"\x01" * (MAX_CONTENT_BYTES + 1)
    details = expect_error(env, _content(just_over), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert f"{MAX_CONTENT_BYTES + 1} bytes" in details
    assert f"limit is {MAX_CONTENT_BYTES} bytes" in details

    # Far beyond it the gRPC transport refuses the message before the service sees it; the code
    # is the same and the message still states the size and the limit it was held to.
    far_over = b"\x01" * (2 * MAX_CONTENT_BYTES)
    details = expect_error(env, _content(far_over), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "larger than max" in details


# -- UNAVAILABLE ----------------------------------------------------------------------------------


def test_draining_server_is_unavailable_and_finishes_in_flight_calls(tmp_path: Path) -> None:
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    write_track(config.media_root, "in-flight.wav", duration_s=1.0)
    pool = GatedPool()
    unknown = pb.GetFingerprintRequest(
        track=pb.TrackRef(content_sha256=hashlib.sha256(b"nothing").hexdigest()))
    with serve(config, pool) as (server, loop), channel(server.app.port) as ch, pool.held():
        in_flight = pb_grpc.FingerprintServiceStub(ch).GetFingerprint.future(
            by_path("in-flight.wav"), timeout=SAFETY_TIMEOUT_S)
        wait_until(lambda: server.service.computations == 1, "the computation to start")
        watch = health_pb2_grpc.HealthStub(ch).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=SAFETY_TIMEOUT_S)
        statuses = [next(watch).status]

        stopping = asyncio.run_coroutine_threadsafe(server.app.stop(SAFETY_TIMEOUT_S), loop.loop)
        # Health turns NOT_SERVING as the drain begins; a new call after that is refused.
        statuses.append(next(watch).status)
        watch.cancel()
        codes = []
        for _ in range(3):
            with channel(server.app.port) as fresh, pytest.raises(grpc.RpcError) as refused:
                pb_grpc.FingerprintServiceStub(fresh).GetFingerprint(unknown, timeout=10)
            codes.append(refused.value.code())
        pool.release()
        drained = in_flight.result(SAFETY_TIMEOUT_S)
        stopping.result(SAFETY_TIMEOUT_S)

    assert statuses == [health_pb2.HealthCheckResponse.SERVING,
                        health_pb2.HealthCheckResponse.NOT_SERVING]
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 3
    assert drained.source == pb.COMPUTED
    assert (config.media_root / "in-flight.wav").is_file()

