"""Two fingerprint service processes sharing one PostgreSQL cache (SPEC section 7, issue 5).

Runs against the throwaway cluster that ``make test`` starts through scripts/with-postgres; it
is skipped, with the reason, when no cluster is running.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fingerprint_service.store import FingerprintStore
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.integration.fingerprint_harness import by_path, write_track
from tests.postgres import fresh_postgres_url
from tests.servers import ServiceProcess, channel


@pytest.fixture
def shared_url() -> Iterator[str]:
    with fresh_postgres_url() as url:
        yield url


@pytest.fixture
def two_replicas(tmp_path: Path, shared_url: str) -> Iterator[list[ServiceProcess]]:
    media = tmp_path / "media"
    media.mkdir()
    write_track(media, "shared.wav", duration_s=4.0)
    replicas: list[ServiceProcess] = []
    try:
        for name in ("a", "b"):
            env = {"MEDIA_ROOT": str(media), "DATA_DIR": str(tmp_path / f"data-{name}"),
                   "DATABASE_URL": shared_url, "FINGERPRINT_WORKERS": "1",
                   "LOG_LEVEL": "info"}
            replicas.append(ServiceProcess("fingerprint_service", env, "FINGERPRINT_LISTEN"))
        yield replicas
    finally:
        for replica in replicas:
            # SIGTERM, so each replica also shuts its worker processes down.
            replica.terminate()


def _ask(port: int, request: pb.GetFingerprintRequest) -> pb.GetFingerprintResponse:
    with channel(port) as ch:
        response: pb.GetFingerprintResponse = pb_grpc.FingerprintServiceStub(ch).GetFingerprint(
            request, timeout=120)
        return response


def test_same_cold_track_through_two_replicas_gives_one_row_and_identical_answers(
    two_replicas: list[ServiceProcess], shared_url: str
) -> None:
    answers: dict[int, pb.GetFingerprintResponse] = {}
    errors: list[grpc.RpcError] = []
    start = threading.Barrier(len(two_replicas))

    def ask(index: int, replica: ServiceProcess) -> None:
        start.wait()
        try:
            answers[index] = _ask(replica.port, by_path("shared.wav"))
        except grpc.RpcError as error:
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(i, r)) for i, r in enumerate(two_replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    first, second = answers[0], answers[1]
    assert first.fingerprint == second.fingerprint
    assert first.track_info == second.track_info

    store = FingerprintStore(shared_url)
    try:
        assert store.healthy
        assert store.count_rows() == 1
    finally:
        store.close()

    # Whichever replica computed it, the other one now answers from the shared database.
    for replica in two_replicas:
        warm = _ask(replica.port, by_path("shared.wav"))
        assert warm.source == pb.DATABASE
        assert warm.fingerprint == first.fingerprint
