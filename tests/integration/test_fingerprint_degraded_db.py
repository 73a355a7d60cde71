"""SPEC section 7: database unavailable (unwritable, locked, corrupt) → the service still starts
and answers by computing, logs the degradation once, never crashes and never deletes or rewrites
anything that is not its own."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.config import Config
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.integration.fingerprint_harness import (
    SAFETY_TIMEOUT_S,
    GatedPool,
    by_path,
    serve,
    write_track,
)
from tests.servers import channel, make_config
from tests.unprivileged import rerun_unprivileged

DEGRADED_EVENT = "fingerprint_store.degraded"


def _file_state(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_size, stat.st_mtime_ns


@contextmanager
def _capture_logs() -> Iterator[list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as events:
        yield events


def assert_answers_by_computing(config: Config, pool: Executor | None = None
                                ) -> list[dict[str, Any]]:
    """Start a server on ``config``, fingerprint one track twice; return the captured log."""
    track = write_track(config.media_root, "degraded.wav", duration_s=2.0)
    audio_before = _file_state(track)
    with _capture_logs() as events:
        with serve(config, pool) as (server, _loop), channel(server.app.port) as ch:
            health = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=SAFETY_TIMEOUT_S)
            stub = pb_grpc.FingerprintServiceStub(ch)
            first = stub.GetFingerprint(by_path("degraded.wav"), timeout=SAFETY_TIMEOUT_S)
            second = stub.GetFingerprint(by_path("degraded.wav"), timeout=SAFETY_TIMEOUT_S)
        captured = list(events)

    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert first.source == pb.COMPUTED
    # Nothing could be cached, so the next play computes again; the answer is the same.
    assert second.source == pb.COMPUTED
    assert second.fingerprint == first.fingerprint
    assert _file_state(track) == audio_before
    assert [e["event"] for e in captured].count(DEGRADED_EVENT) == 1, captured
    return captured


def test_unwritable_data_dir_still_answers_by_computing(tmp_path: Path) -> None:
    # Root ignores permission bits, so make the data dir impossible: its parent is a file.
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"a regular file where the data dir's parent should be\n")
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1", DATA_DIR=str(blocker / "data"))

    assert_answers_by_computing(config)

    assert blocker.read_bytes() == b"a regular file where the data dir's parent should be\n"


def test_read_only_data_dir_still_answers_by_computing(
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if rerun_unprivileged(request):
        return  # root writes into read-only folders: it ran as an unprivileged user instead
    data_dir = tmp_path / "read-only"
    data_dir.mkdir()
    data_dir.chmod(0o555)
    try:
        config = make_config(tmp_path, FINGERPRINT_WORKERS="1", DATA_DIR=str(data_dir))
        # Worker threads, not processes: the unprivileged user this runs as under root may not
        # be allowed to start the interpreter again (it can live in root's home), and the
        # store, not the pool, is what is tested here.
        assert_answers_by_computing(config, GatedPool())
        assert list(data_dir.iterdir()) == []
    finally:
        data_dir.chmod(0o755)


def test_corrupt_database_file_still_answers_and_is_left_as_it_was(tmp_path: Path) -> None:
    database_file = tmp_path / "data" / "fingerprints.sqlite3"
    database_file.parent.mkdir(parents=True)
    garbage = os.urandom(16_384)
    database_file.write_bytes(garbage)
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1",
                         DATABASE_URL=f"sqlite:///{database_file}")

    assert_answers_by_computing(config)

    assert database_file.read_bytes() == garbage


def test_locked_database_still_answers_by_computing(tmp_path: Path) -> None:
    database_file = tmp_path / "data" / "fingerprints.sqlite3"
    database_file.parent.mkdir(parents=True)
    holder = sqlite3.connect(database_file, isolation_level=None)
    try:
        holder.execute("CREATE TABLE other_tool (x INTEGER)")
        holder.execute("INSERT INTO other_tool VALUES (1)")
        holder.execute("BEGIN EXCLUSIVE")
        config = make_config(tmp_path, FINGERPRINT_WORKERS="1",
                             DATABASE_URL=f"sqlite:///{database_file}")

        assert_answers_by_computing(config)

        holder.execute("ROLLBACK")
        assert holder.execute("SELECT x FROM other_tool").fetchall() == [(1,)]
    finally:
        holder.close()
