"""Both images, built and run (issue 13): the fingerprint and mastering containers on one media
folder mounted read-only and a data volume, talked to over their published ports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.proto.fingerprint.v1 import fingerprint_pb2 as fp_pb
from tests.images.containers import (
    APP_UID,
    FINGERPRINT_IMAGE,
    FINGERPRINT_PORT,
    IMAGE_TEST_TIMEOUT_S,
    MASTERING_IMAGE,
    MASTERING_PORT,
    STOP_GRACE_S,
    declared_healthcheck,
    free_port,
    hardening_args,
    media_folder,
    network,
    podman,
    running,
    stop_timed,
    unique_name,
    volume,
    wait_serving,
)
from tests.images.smoke import (
    assert_fingerprint_from_service,
    assert_fingerprinted,
    assert_mastered_as_planned,
    get_fingerprint,
    master_to_wav,
    write_media_track,
)
from tests.postgres import fresh_postgres_url

pytestmark = [pytest.mark.images, pytest.mark.slow, pytest.mark.timeout(IMAGE_TEST_TIMEOUT_S)]


@dataclass(frozen=True)
class Stack:
    """The two containers of one test module, and how to reach them from the host."""

    fingerprint: str
    mastering: str
    fingerprint_address: str
    mastering_address: str
    media: Path
    track: str


@pytest.fixture(scope="module")
def stack(images_built: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    media = media_folder(tmp_path_factory.mktemp("container-media"))
    track = write_media_track(media)
    fp_port, ms_port = free_port(), free_port()
    with network(unique_name("images-net")) as net, \
            volume(unique_name("images-data")) as data:
        fp_name, ms_name = unique_name("images-fingerprint"), unique_name("images-mastering")
        media_mount = ["--volume", f"{media}:/media:ro"]
        with running(fp_name, FINGERPRINT_IMAGE, [
                *hardening_args(), *media_mount, "--network", net, "--volume", f"{data}:/data",
                "--publish", f"127.0.0.1:{fp_port}:{FINGERPRINT_PORT}",
                "--env", "FINGERPRINT_WORKERS=1", "--env", "FINGERPRINT_WRITE_SIDECARS=false"]), \
             running(ms_name, MASTERING_IMAGE, [
                *hardening_args(), *media_mount, "--network", net,
                "--publish", f"127.0.0.1:{ms_port}:{MASTERING_PORT}",
                # The container's name is its DNS name on the network, as a Compose service's is.
                "--env", f"FINGERPRINT_TARGET={fp_name}:{FINGERPRINT_PORT}"]):
            stack = Stack(fp_name, ms_name, f"127.0.0.1:{fp_port}", f"127.0.0.1:{ms_port}",
                          media, track)
            wait_serving(stack.fingerprint_address, fp_name)
            wait_serving(stack.mastering_address, ms_name)
            yield stack


def test_get_fingerprint_over_the_container_port(stack: Stack) -> None:
    assert_fingerprinted(get_fingerprint(stack.fingerprint_address, stack.track))


def test_master_track_uses_the_fingerprint_container_and_meets_its_plan(
    stack: Stack, tmp_path: Path
) -> None:
    header = master_to_wav(stack.mastering_address, stack.track, tmp_path / "master.wav")
    assert_fingerprint_from_service(header)
    assert_mastered_as_planned(header, tmp_path / "master.wav")


@pytest.mark.parametrize("service", ["fingerprint", "mastering"])
def test_declared_healthcheck_reports_serving(stack: Stack, service: str) -> None:
    image = FINGERPRINT_IMAGE if service == "fingerprint" else MASTERING_IMAGE
    container = getattr(stack, service)
    proc = podman("exec", container, *declared_healthcheck(image), check_rc=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("SERVING"), proc.stdout


@pytest.mark.parametrize("service", ["fingerprint", "mastering"])
def test_process_runs_as_uid_10001_and_cannot_write_media(stack: Stack, service: str) -> None:
    container = getattr(stack, service)
    status = podman("exec", container, "cat", "/proc/1/status").stdout
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert uids == [str(APP_UID)] * 4, status
    probe = podman("exec", container, "python", "-c",
                   "open('/media/written-by-the-service', 'w')", check_rc=False)
    assert probe.returncode != 0
    assert "Read-only file system" in probe.stderr, probe.stderr
    assert not (stack.media / "written-by-the-service").exists()


def test_fingerprint_container_caches_in_postgresql(
    images_built: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """DATABASE_URL pointing at the throwaway PostgreSQL: the first answer is computed and
    stored there, the second comes from it, and the row is in PostgreSQL's table."""
    import psycopg2  # type: ignore[import-untyped]  # only this test needs it

    media = media_folder(tmp_path_factory.mktemp("postgres-media"))
    track = write_media_track(media)
    with fresh_postgres_url() as database_url:
        port = free_port()
        name = unique_name("images-fingerprint-pg")
        # The throwaway cluster listens on the host's loopback only: share the host's network.
        with running(name, FINGERPRINT_IMAGE, [
                *hardening_args(), "--network", "host", "--volume", f"{media}:/media:ro",
                "--tmpfs", "/data", "--env", f"FINGERPRINT_LISTEN=127.0.0.1:{port}",
                "--env", f"DATABASE_URL={database_url}", "--env", "FINGERPRINT_WORKERS=1",
                "--env", "FINGERPRINT_WRITE_SIDECARS=false"]):
            address = f"127.0.0.1:{port}"
            wait_serving(address, name)
            first = get_fingerprint(address, track)
            assert_fingerprinted(first)
            assert first.source == fp_pb.COMPUTED
            connection = psycopg2.connect(database_url)
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM fingerprints")
                    assert cursor.fetchone() == (1,)
            finally:
                connection.close()

            exit_code, elapsed_s = stop_timed(name)
            assert exit_code == 0
            assert elapsed_s < STOP_GRACE_S


# Last in the module: it stops the module's containers.
@pytest.mark.parametrize("service", ["mastering", "fingerprint"])
def test_podman_stop_exits_zero_within_the_grace_period(stack: Stack, service: str) -> None:
    exit_code, elapsed_s = stop_timed(getattr(stack, service))
    assert exit_code == 0, json.dumps(exit_code)
    assert elapsed_s < STOP_GRACE_S
