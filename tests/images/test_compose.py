"""deploy/compose.yaml brought up by podman-compose (Debian's 1.0.x), and the smoke test through it.

podman-compose 1.0.x knows no ``profiles``: it would start every service, both fingerprint
variants and a postgres:16 that no registry here can provide. So the test selects the default
profile itself (what ``docker compose`` does from deploy/.env) and hands podman-compose that
selection, with the host ports and the media folder pointed at the test's own.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type stubs

from tests.images.containers import (
    COMMAND_TIMEOUT_S,
    FINGERPRINT_PORT,
    IMAGE_TEST_TIMEOUT_S,
    MASTERING_PORT,
    PODMAN,
    REPO_ROOT,
    free_port,
    media_folder,
    podman,
    unique_name,
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

pytestmark = [pytest.mark.images, pytest.mark.slow, pytest.mark.timeout(IMAGE_TEST_TIMEOUT_S)]

COMPOSE_FILE = REPO_ROOT / "deploy" / "compose.yaml"
DEFAULT_PROFILE = "sqlite"
PROJECT_LABEL = "io.podman.compose.project"


def select_profile(compose: dict[str, Any], profile: str) -> dict[str, Any]:
    """The services ``docker compose --profile PROFILE`` would run, without ``profiles`` keys and
    without dependencies on services left out."""
    services = {name: dict(definition) for name, definition in compose["services"].items()
                if profile in definition.get("profiles", [profile])}
    for definition in services.values():
        definition.pop("profiles", None)
        depends_on = definition.get("depends_on")
        if isinstance(depends_on, dict):
            definition["depends_on"] = {name: condition for name, condition in depends_on.items()
                                        if name in services}
    return {**compose, "services": services}


def point_at(compose: dict[str, Any], media: Path, host_ports: dict[int, int]) -> dict[str, Any]:
    """The media bind mount at ``media``, each published container port at its host port."""
    for definition in compose["services"].values():
        definition.pop("build", None)  # the images are already built
        definition["volumes"] = [
            {**mount, "source": str(media)} if isinstance(mount, dict) and mount.get("type") ==
            "bind" else mount for mount in definition.get("volumes", [])]
        definition["ports"] = [
            f"127.0.0.1:{host_ports[int(port.rsplit(':', 1)[1])]}:{port.rsplit(':', 1)[1]}"
            for port in definition.get("ports", [])]
    return compose


def podman_compose(project: str, compose_file: Path, *args: str) -> None:
    proc = subprocess.run(
        ["podman-compose", "--podman-path", PODMAN, "-p", project, "-f", str(compose_file),
         *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    assert proc.returncode == 0, f"podman-compose {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"


def remove_project(project: str) -> None:
    """Whatever podman-compose left of the project: containers, volumes, network."""
    label = f"label={PROJECT_LABEL}={project}"
    for container in podman("ps", "--all", "--quiet", "--filter", label,
                            check_rc=False).stdout.split():
        podman("rm", "--force", "--time", "0", container, check_rc=False)
    for name in podman("volume", "ls", "--quiet", "--filter", label,
                       check_rc=False).stdout.split():
        podman("volume", "rm", "--force", name, check_rc=False)
    podman("network", "rm", "--force", f"{project}_default", check_rc=False)


@pytest.fixture(scope="module")
def compose_ports(images_built: None, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[dict[int, int], str]]:
    """The default profile up under podman-compose; yields (host port by container port, track)."""
    media = media_folder(tmp_path_factory.mktemp("compose-media"))
    track = write_media_track(media)
    host_ports = {FINGERPRINT_PORT: free_port(), MASTERING_PORT: free_port()}
    rendered = select_profile(yaml.safe_load(COMPOSE_FILE.read_text()), DEFAULT_PROFILE)
    compose_file = tmp_path_factory.mktemp("compose") / "compose.yaml"
    compose_file.write_text(yaml.safe_dump(point_at(rendered, media, host_ports)))
    project = unique_name("images-compose")
    try:
        podman_compose(project, compose_file, "up", "--detach", "--no-build")
        for port in host_ports.values():
            wait_serving(f"127.0.0.1:{port}", project)
        yield host_ports, track
    finally:
        podman_compose(project, compose_file, "down", "--volumes")
        remove_project(project)


def test_compose_default_profile_runs_both_services(compose_ports: tuple[dict[int, int], str],
                                                   tmp_path: Path) -> None:
    host_ports, track = compose_ports
    fingerprint = f"127.0.0.1:{host_ports[FINGERPRINT_PORT]}"
    mastering = f"127.0.0.1:{host_ports[MASTERING_PORT]}"
    assert_fingerprinted(get_fingerprint(fingerprint, track))
    # FINGERPRINT_TARGET=fingerprint:50051: the service name resolves on the compose network.
    header = master_to_wav(mastering, track, tmp_path / "master.wav")
    assert_fingerprint_from_service(header)
    assert_mastered_as_planned(header, tmp_path / "master.wav")


def test_select_profile_keeps_only_the_profile_and_its_reachable_dependencies() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    selected = select_profile(compose, DEFAULT_PROFILE)["services"]
    assert set(selected) == {"fingerprint", "mastering"}
    assert set(selected["mastering"]["depends_on"]) == {"fingerprint"}
    assert not any("profiles" in definition for definition in selected.values())
