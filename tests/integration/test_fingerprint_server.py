"""The fingerprint service as a real gRPC server on 127.0.0.1:0: cache tiers, invalidation,
single flight, cancellation, content by bytes, limits, request ids and the access log
(SPEC sections 3, 7 and 8)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from fingerprint_service.app import FingerprintServer
from fingerprint_service.service import FingerprintResult, TrackQuery
from shared.fingerprint import ALGORITHM_VERSION
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.integration.fingerprint_harness import (
    SAFETY_TIMEOUT_S,
    TRACK_RATE_HZ,
    GatedPool,
    by_path,
    poll_cached,
    serve,
    values,
    wait_until,
    write_track,
)
from tests.servers import ServiceProcess, channel, make_config

CONCURRENT_CALLERS = 20


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[FingerprintServer, pb_grpc.FingerprintServiceStub, Path]]:
    """One server for the scenarios that each use tracks of their own."""
    tmp_path = tmp_path_factory.mktemp("fingerprint-server")
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    with serve(config) as (server, _loop), channel(server.app.port) as ch:
        yield server, pb_grpc.FingerprintServiceStub(ch), config.media_root


# -- tiers ---------------------------------------------------------------------------------------


def test_cold_request_is_computed_then_served_from_database(shared_server: Any) -> None:
    server, stub, media_root = shared_server
    write_track(media_root, "tiers/cold.wav")
    before = server.service.computations

    cold = stub.GetFingerprint(by_path("tiers/cold.wav"))
    warm = stub.GetFingerprint(by_path("tiers/cold.wav"))

    assert cold.source == pb.COMPUTED
    assert warm.source == pb.DATABASE
    assert values(warm) == values(cold)
    assert warm.track_info == cold.track_info
    assert cold.algorithm_version == warm.algorithm_version == ALGORITHM_VERSION
    assert cold.compute_ms > 0
    assert warm.compute_ms == pytest.approx(cold.compute_ms)
    assert server.service.computations == before + 1


def test_sidecar_is_written_and_back_fills_a_fresh_database(tmp_path: Path, media: Path) -> None:
    track = write_track(media, "album/side.wav")
    sidecar = Path(str(track) + ".25d")
    writing = make_config(tmp_path, FINGERPRINT_WORKERS="1", FINGERPRINT_WRITE_SIDECARS="true",
                          DATABASE_URL=f"sqlite:///{tmp_path / 'first.sqlite3'}")
    with serve(writing) as (server, _loop), channel(server.app.port) as ch:
        computed = pb_grpc.FingerprintServiceStub(ch).GetFingerprint(by_path("album/side.wav"))
    assert computed.source == pb.COMPUTED
    assert sidecar.is_file()

    # A new replica with an empty database (and sidecar writing off) finds the sidecar.
    fresh = make_config(tmp_path, FINGERPRINT_WORKERS="1",
                        DATABASE_URL=f"sqlite:///{tmp_path / 'second.sqlite3'}")
    with serve(fresh) as (server, _loop), channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        from_sidecar = stub.GetFingerprint(by_path("album/side.wav"))
        back_filled = stub.GetFingerprint(by_path("album/side.wav"))
        computations = server.service.computations

    assert from_sidecar.source == pb.SIDECAR
    assert back_filled.source == pb.DATABASE
    assert values(from_sidecar) == values(computed) == values(back_filled)
    assert from_sidecar.track_info.content_sha256 == computed.track_info.content_sha256
    assert computations == 0


def test_sidecar_of_an_older_file_state_is_ignored(tmp_path: Path, media: Path) -> None:
    track = write_track(media, "stale.wav")
    writing = make_config(tmp_path, FINGERPRINT_WORKERS="1", FINGERPRINT_WRITE_SIDECARS="true",
                          DATABASE_URL=f"sqlite:///{tmp_path / 'first.sqlite3'}")
    with serve(writing) as (server, _loop), channel(server.app.port) as ch:
        pb_grpc.FingerprintServiceStub(ch).GetFingerprint(by_path("stale.wav"))
    assert Path(str(track) + ".25d").is_file()
    stat = track.stat()
    os.utime(track, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    fresh = make_config(tmp_path, FINGERPRINT_WORKERS="1",
                        DATABASE_URL=f"sqlite:///{tmp_path / 'second.sqlite3'}")
    with serve(fresh) as (server, _loop), channel(server.app.port) as ch:
        response = pb_grpc.FingerprintServiceStub(ch).GetFingerprint(by_path("stale.wav"))
    assert response.source == pb.COMPUTED


def test_changed_file_is_recomputed(shared_server: Any) -> None:
    server, stub, media_root = shared_server
    track = write_track(media_root, "changing.wav", duration_s=3.0, freq_hz=440.0)
    first = stub.GetFingerprint(by_path("changing.wav"))
    assert stub.GetFingerprint(by_path("changing.wav")).source == pb.DATABASE
    old_mtime_ns = track.stat().st_mtime_ns

    write_track(media_root, "changing.wav", duration_s=2.5, freq_hz=3000.0)
    # Make sure the new mtime differs even on a coarse-grained filesystem clock.
    os.utime(track, ns=(old_mtime_ns + 2_000_000_000, old_mtime_ns + 2_000_000_000))
    before = server.service.computations
    changed = stub.GetFingerprint(by_path("changing.wav"))

    assert changed.source == pb.COMPUTED
    assert server.service.computations == before + 1
    assert changed.track_info.content_sha256 != first.track_info.content_sha256
    assert changed.fingerprint.spectral_centroid_hz > first.fingerprint.spectral_centroid_hz + 1000
    assert changed.track_info.frames != first.track_info.frames
    assert stub.GetFingerprint(by_path("changing.wav")).source == pb.DATABASE


def test_rows_of_an_older_algorithm_version_count_as_missing(tmp_path: Path, media: Path) -> None:
    write_track(media, "versioned.wav")
    database_file = tmp_path / "cache.sqlite3"
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1",
                         DATABASE_URL=f"sqlite:///{database_file}")
    with serve(config) as (server, _loop), channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        first = stub.GetFingerprint(by_path("versioned.wav"))
        assert stub.GetFingerprint(by_path("versioned.wav")).source == pb.DATABASE

    # The row on disk is now one written by the previous algorithm, as after an upgrade.
    with sqlite3.connect(database_file) as db:
        db.execute("UPDATE fingerprints SET algorithm_version = ?", (ALGORITHM_VERSION - 1,))
    db.close()

    with serve(config) as (server, _loop), channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        recomputed = stub.GetFingerprint(by_path("versioned.wav"))
        warm_again = stub.GetFingerprint(by_path("versioned.wav"))
        computations = server.service.computations
    with sqlite3.connect(database_file) as db:
        versions = sorted(v for (v,) in db.execute("SELECT algorithm_version FROM fingerprints"))
    db.close()

    assert first.source == pb.COMPUTED
    assert recomputed.source == pb.COMPUTED
    assert recomputed.algorithm_version == ALGORITHM_VERSION
    assert warm_again.source == pb.DATABASE
    assert computations == 1
    assert versions == [ALGORITHM_VERSION - 1, ALGORITHM_VERSION]


def test_force_recompute_computes_even_when_cached(shared_server: Any) -> None:
    server, stub, media_root = shared_server
    write_track(media_root, "forced.wav")
    cached = stub.GetFingerprint(by_path("forced.wav"))
    assert stub.GetFingerprint(by_path("forced.wav")).source == pb.DATABASE
    before = server.service.computations

    forced = stub.GetFingerprint(by_path("forced.wav", force_recompute=True))

    assert forced.source == pb.COMPUTED
    assert server.service.computations == before + 1
    assert values(forced) == values(cached)
    assert stub.GetFingerprint(by_path("forced.wav")).source == pb.DATABASE


# -- content by bytes ----------------------------------------------------------------------------


def test_content_by_bytes_is_computed_then_served_from_database(shared_server: Any,
                                                                tmp_path: Path) -> None:
    _server, stub, _media_root = shared_server
    content = write_track(tmp_path, "upload.wav").read_bytes()
    request = pb.GetFingerprintRequest(track=pb.TrackRef(content=content))

    cold = stub.GetFingerprint(request)
    warm = stub.GetFingerprint(request)

    assert cold.source == pb.COMPUTED
    assert warm.source == pb.DATABASE
    assert values(warm) == values(cold)
    assert cold.track_info.content_sha256 == hashlib.sha256(content).hexdigest()


def test_content_sha256_after_a_content_request_is_served_from_database(
        shared_server: Any, tmp_path: Path) -> None:
    _server, stub, _media_root = shared_server
    content = write_track(tmp_path, "by-hash.wav").read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    computed = stub.GetFingerprint(pb.GetFingerprintRequest(track=pb.TrackRef(content=content)))

    looked_up = stub.GetFingerprint(
        pb.GetFingerprintRequest(track=pb.TrackRef(content_sha256=digest)))

    assert looked_up.source == pb.DATABASE
    assert values(looked_up) == values(computed)
    assert looked_up.track_info == computed.track_info


def test_unknown_content_sha256_is_not_found(shared_server: Any) -> None:
    _server, stub, _media_root = shared_server
    digest = hashlib.sha256(b"never sent to this server").hexdigest()
    with pytest.raises(grpc.RpcError) as failure:
        stub.GetFingerprint(pb.GetFingerprintRequest(track=pb.TrackRef(content_sha256=digest)))
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert digest in failure.value.details()


# -- the response --------------------------------------------------------------------------------


def test_track_info_describes_the_file(shared_server: Any) -> None:
    _server, stub, media_root = shared_server
    track = write_track(media_root, "info.wav", duration_s=2.0, level_dbfs=-6.0)

    info = stub.GetFingerprint(by_path("info.wav")).track_info

    assert info.sample_rate == TRACK_RATE_HZ
    assert info.channels == 2
    assert info.frames == 2 * TRACK_RATE_HZ
    assert info.duration_s == pytest.approx(2.0)
    assert info.content_sha256 == hashlib.sha256(track.read_bytes()).hexdigest()
    assert info.codec == "pcm_s16le"
    assert info.sample_peak_dbfs == pytest.approx(-6.0, abs=0.2)
    assert info.true_peak_dbtp >= info.sample_peak_dbfs - 0.01


def test_request_id_is_echoed_in_trailing_metadata(shared_server: Any) -> None:
    _server, stub, media_root = shared_server
    write_track(media_root, "request-id.wav")

    _response, call = stub.GetFingerprint.with_call(
        by_path("request-id.wav"), metadata=[("x-request-id", "play-42")])
    with pytest.raises(grpc.RpcError) as failure:
        stub.GetFingerprint(by_path("no-such.wav"), metadata=[("x-request-id", "play-43")])
    _plain, anonymous = stub.GetFingerprint.with_call(by_path("request-id.wav"))

    assert ("x-request-id", "play-42") in call.trailing_metadata()
    assert ("x-request-id", "play-43") in failure.value.trailing_metadata()
    generated = dict(anonymous.trailing_metadata()).get("x-request-id")
    assert generated and generated not in ("play-42", "play-43")


# -- concurrency ---------------------------------------------------------------------------------


def _count_arrivals(server: FingerprintServer) -> list[int]:
    """Wrap the service's ``get`` so the test can see how many requests have reached it."""
    arrivals = [0]
    original = server.service.get

    async def counted(query: TrackQuery, **options: bool) -> FingerprintResult:
        arrivals[0] += 1
        return await original(query, **options)

    server.service.get = counted  # type: ignore[method-assign]
    return arrivals


def test_concurrent_identical_cold_requests_share_one_computation(tmp_path: Path,
                                                                   media: Path) -> None:
    write_track(media, "popular.wav")
    pool = GatedPool()
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    with serve(config, pool) as (server, _loop), channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        arrivals = _count_arrivals(server)
        with pool.held(), ThreadPoolExecutor(CONCURRENT_CALLERS) as callers:
            calls = [callers.submit(stub.GetFingerprint, by_path("popular.wav"),
                                    timeout=SAFETY_TIMEOUT_S)
                     for _ in range(CONCURRENT_CALLERS)]
            wait_until(lambda: arrivals[0] == CONCURRENT_CALLERS, "every request to arrive")
            wait_until(lambda: server.service.computations >= 1, "the computation to start")
            time.sleep(0.5)  # let the last arrivals get past their cache lookups
            pool.release()
            answers = [call.result(SAFETY_TIMEOUT_S) for call in calls]
        computations = server.service.computations

    assert computations == 1
    assert len(answers) == CONCURRENT_CALLERS
    assert all(values(a) == values(answers[0]) for a in answers)
    assert all(a.track_info == answers[0].track_info for a in answers)
    assert {a.source for a in answers} <= {pb.COMPUTED, pb.DATABASE}


def test_cancelled_call_still_caches_the_fingerprint(tmp_path: Path, media: Path) -> None:
    write_track(media, "skipped.wav")
    pool = GatedPool()
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    with serve(config, pool) as (server, _loop), channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        with pool.held():
            call = stub.GetFingerprint.future(by_path("skipped.wav"))
            wait_until(lambda: server.service.computations == 1, "the computation to start")
            assert call.cancel()
            assert call.cancelled()

        cached = poll_cached(stub, "skipped.wav")
        computations = server.service.computations

    assert cached.source == pb.DATABASE
    assert computations == 1


def test_expired_deadline_still_caches_the_fingerprint(tmp_path: Path, media: Path) -> None:
    write_track(media, "impatient.wav")
    pool = GatedPool()
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    with serve(config, pool) as (server, _loop), channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        with pool.held(), pytest.raises(grpc.RpcError) as failure:
            stub.GetFingerprint(by_path("impatient.wav"), timeout=0.5)
        assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        cached = poll_cached(stub, "impatient.wav")
        computations = server.service.computations

    assert cached.source == pb.DATABASE
    assert computations == 1


def test_queue_limit_reached_is_resource_exhausted(tmp_path: Path, media: Path) -> None:
    write_track(media, "first.wav")
    write_track(media, "second.wav")
    pool = GatedPool()
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1", FINGERPRINT_QUEUE_LIMIT="1")
    with serve(config, pool) as (server, _loop), channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        with pool.held():
            running = stub.GetFingerprint.future(by_path("first.wav"), timeout=SAFETY_TIMEOUT_S)
            wait_until(lambda: server.service.computations == 1, "the first computation to start")
            with pytest.raises(grpc.RpcError) as failure:
                stub.GetFingerprint(by_path("second.wav"), timeout=SAFETY_TIMEOUT_S)
        first = running.result(SAFETY_TIMEOUT_S)
        # Once the queue has room again, the refused track is computed normally.
        second = stub.GetFingerprint(by_path("second.wav"), timeout=SAFETY_TIMEOUT_S)

    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "limit 1" in failure.value.details()
    assert first.source == pb.COMPUTED
    assert second.source == pb.COMPUTED


# -- as a process --------------------------------------------------------------------------------


@pytest.fixture
def service_process(tmp_path: Path, media: Path) -> Iterator[ServiceProcess]:
    env = {"MEDIA_ROOT": str(media), "DATA_DIR": str(tmp_path / "data"),
           "FINGERPRINT_WORKERS": "1", "LOG_LEVEL": "info", "SHUTDOWN_GRACE_S": "10"}
    process = ServiceProcess("fingerprint_service", env, "FINGERPRINT_LISTEN")
    try:
        yield process
    finally:
        process.kill()


def test_sigterm_drains_and_exits_0(service_process: ServiceProcess, media: Path) -> None:
    write_track(media, "process.wav")
    with channel(service_process.port) as ch:
        response = pb_grpc.FingerprintServiceStub(ch).GetFingerprint(
            by_path("process.wav"), timeout=SAFETY_TIMEOUT_S)
    assert response.source == pb.COMPUTED

    assert service_process.terminate() == 0
    assert service_process.events("server_draining")
    assert service_process.events("server_stopped")


def test_access_log_has_one_event_per_rpc_with_its_fields(service_process: ServiceProcess,
                                                           media: Path) -> None:
    write_track(media, "logged.wav")
    with channel(service_process.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        stub.GetFingerprint(by_path("logged.wav"), metadata=[("x-request-id", "log-1")],
                            timeout=SAFETY_TIMEOUT_S)
        stub.GetFingerprint(by_path("logged.wav"), metadata=[("x-request-id", "log-2")],
                            timeout=SAFETY_TIMEOUT_S)
        with pytest.raises(grpc.RpcError):
            stub.GetFingerprint(by_path("absent.wav"), metadata=[("x-request-id", "log-3")],
                                timeout=SAFETY_TIMEOUT_S)
    assert service_process.terminate() == 0

    method = "/fingerprint.v1.FingerprintService/GetFingerprint"
    logged = [e for e in service_process.events("rpc") if e.get("method") == method]
    # Exactly one event per call: counted, not keyed, so a duplicate cannot hide.
    assert sorted(e["request_id"] for e in logged) == ["log-1", "log-2", "log-3"]
    events = {e["request_id"]: e for e in logged}
    for event in events.values():
        assert isinstance(event["duration_ms"], int | float)
        assert event["duration_ms"] >= 0
        assert "127.0.0.1" in event["peer"]
    assert (events["log-1"]["status"], events["log-1"]["source"]) == ("OK", "COMPUTED")
    assert (events["log-2"]["status"], events["log-2"]["source"]) == ("OK", "DATABASE")
    assert events["log-3"]["status"] == "NOT_FOUND"

