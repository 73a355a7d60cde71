"""Issue 10, items 5 and 12: the fingerprint cache's SQLite files changing underneath a running
service. Files made unwritable (``chattr +i``, the -shm file alone was enough to SIGBUS the
process through SQLite's memory-mapped WAL index) degrade the store: the service keeps answering
by computing and stays SERVING (item 5). A database file deleted while the service runs is
noticed and reopened, so a row written after the deletion survives a restart (item 12)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.integration.fingerprint_harness import by_path, serve, write_track
from tests.servers import ServiceProcess, channel, make_config

CALL_TIMEOUT_S = 60.0
DATABASE_NAME = "fingerprints.sqlite3"


def sqlite_files(data_dir: Path) -> list[Path]:
    """The database and whichever journal, WAL and shared-memory files SQLite keeps beside it."""
    return sorted(data_dir.glob(DATABASE_NAME + "*"))


@contextmanager
def immutable(paths: list[Path]) -> Iterator[None]:
    subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=False)


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr")
def test_item5_unwritable_sqlite_files_degrade_the_store_and_the_service_answers(
        tmp_path: Path) -> None:
    media, data = tmp_path / "media", tmp_path / "data"
    for name in ("a.wav", "b.wav", "c.wav"):
        write_track(media, name, duration_s=1.0)
    server = ServiceProcess("fingerprint_service",
                            {"MEDIA_ROOT": str(media), "DATA_DIR": str(data),
                             "FINGERPRINT_WORKERS": "1", "LOG_LEVEL": "info"},
                            "FINGERPRINT_LISTEN")
    try:
        with channel(server.port) as ch:
            stub = pb_grpc.FingerprintServiceStub(ch)
            health = health_pb2_grpc.HealthStub(ch)
            stub.GetFingerprint(by_path("a.wav"), timeout=CALL_TIMEOUT_S)
            files = sqlite_files(data)
            try:
                chattr = subprocess.run(["chattr", "+i", str(files[0])], capture_output=True)
            finally:
                subprocess.run(["chattr", "-i", str(files[0])], check=False)
            if chattr.returncode != 0:
                pytest.skip(f"chattr does not work here: {chattr.stderr!r}")
            with immutable(files):
                computed = stub.GetFingerprint(by_path("b.wav"), timeout=CALL_TIMEOUT_S)
                assert computed.source == pb.COMPUTED
                again = stub.GetFingerprint(by_path("a.wav"), timeout=CALL_TIMEOUT_S)
                assert again.source in (pb.DATABASE, pb.COMPUTED)
                served = health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_S)
                assert served.status == health_pb2.HealthCheckResponse.SERVING
            assert server.proc.poll() is None, "".join(server.lines)
            later = stub.GetFingerprint(by_path("c.wav"), timeout=CALL_TIMEOUT_S)
            assert later.source == pb.COMPUTED
        assert server.terminate() == 0, "".join(server.lines)
    finally:
        server.kill()


def test_item12_a_row_written_after_the_database_file_is_deleted_survives_a_restart(
        tmp_path: Path) -> None:
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    write_track(config.media_root, "before.wav", duration_s=1.0)
    write_track(config.media_root, "after.wav", duration_s=1.0)
    with serve(config, pool=ThreadPoolExecutor(1)) as (server, _loop), \
            channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        stub.GetFingerprint(by_path("before.wav"), timeout=CALL_TIMEOUT_S)
        for path in sqlite_files(config.data_dir):
            path.unlink()
        written = stub.GetFingerprint(by_path("after.wav"), timeout=CALL_TIMEOUT_S)
        assert written.source == pb.COMPUTED
    assert (config.data_dir / DATABASE_NAME).exists()
    with serve(config, pool=ThreadPoolExecutor(1)) as (server, _loop), \
            channel(server.app.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        cached = stub.GetFingerprint(by_path("after.wav", cached_only=True),
                                     timeout=CALL_TIMEOUT_S)
        assert cached.source == pb.DATABASE
