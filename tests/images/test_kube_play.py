"""The Kubernetes base's Deployments under ``podman kube play``: their commands, env (ConfigMaps
included), volumes, security context and ports fit the images.

What podman cannot play is left out of the played YAML, and stays covered only by the offline
schema checks in tests/integration/test_deploy.py: Services (no cluster DNS: the mastering pod's
``dns:///fingerprint-headless…`` target does not resolve, so its plans are FALLBACK here),
the downward API's namespace, native gRPC probes, the HorizontalPodAutoscaler and the
PodDisruptionBudgets.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type stubs

from shared.proto.mastering.v1 import mastering_pb2 as ms_pb
from tests.images.containers import (
    APP_UID,
    COMMAND_TIMEOUT_S,
    IMAGE_TEST_TIMEOUT_S,
    REPO_ROOT,
    free_port,
    podman,
    unique_name,
    volume,
    wait_serving,
)
from tests.images.smoke import (
    assert_fingerprinted,
    assert_mastered_as_planned,
    get_fingerprint,
    master_to_wav,
    write_media_track,
)

pytestmark = [pytest.mark.images, pytest.mark.slow, pytest.mark.timeout(IMAGE_TEST_TIMEOUT_S)]

OVERLAY = REPO_ROOT / "deploy" / "k8s" / "overlays" / "sqlite"
PLAYED_KINDS = {"ConfigMap", "Deployment"}
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
#: podman has no namespaces, and its downward API no metadata.namespace: the value it stands for.
NAMESPACE = "default"


def render_overlay() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl") or "/usr/bin/kubectl"
    proc = subprocess.run([kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr
    return [document for document in yaml.safe_load_all(proc.stdout) if document]


def playable(documents: list[dict[str, Any]], prefix: str, claims: dict[str, str],
             host_ports: dict[int, int]) -> list[dict[str, Any]]:
    """The ConfigMaps and Deployments, with podman's limits worked around: Deployment names
    prefixed (podman names pods after them), claims renamed to the test's volumes, grpc probes
    dropped (podman does not run them), the namespace from the downward API written in, each
    container port published on its host port."""
    played = []
    for document in documents:
        if document["kind"] not in PLAYED_KINDS:
            continue
        if document["kind"] == "Deployment":
            document["metadata"]["name"] = f"{prefix}-{document['metadata']['name']}"
            pod = document["spec"]["template"]["spec"]
            for entry in pod.get("volumes", []):
                claim = entry.get("persistentVolumeClaim")
                if claim:
                    claim["claimName"] = claims[claim["claimName"]]
            for container in pod["containers"]:
                for variable in container.get("env", []):
                    if variable.get("valueFrom", {}).get("fieldRef", {}).get(
                            "fieldPath") == "metadata.namespace":
                        variable.pop("valueFrom")
                        variable["value"] = NAMESPACE
                for probe in PROBES:
                    container.pop(probe, None)
                for port in container.get("ports", []):
                    port["hostIP"] = "127.0.0.1"
                    port["hostPort"] = host_ports[port["containerPort"]]
        played.append(document)
    return played


def fill_volume(name: str, source: Path) -> None:
    mountpoint = Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", name)
                      .stdout.strip())
    for path in source.iterdir():
        shutil.copy2(path, mountpoint / path.name)


def remove_pods(prefix: str) -> None:
    for pod in podman("pod", "ps", "--quiet", "--filter", f"name={prefix}",
                      check_rc=False).stdout.split():
        podman("pod", "rm", "--force", "--time", "0", pod, check_rc=False)


@pytest.fixture(scope="module")
def played(images_built: None, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[dict[int, int], str, str]]:
    """The overlay's Deployments played; yields (host port by container port, track, prefix)."""
    media = tmp_path_factory.mktemp("kube-media")
    track = write_media_track(media)
    prefix = unique_name("images-kube")
    host_ports = {50051: free_port(), 50052: free_port()}
    with volume(f"{prefix}-media") as media_volume, volume(f"{prefix}-data") as data_volume:
        fill_volume(media_volume, media)
        documents = playable(render_overlay(), prefix,
                             {"media": media_volume, "fingerprint-data": data_volume},
                             host_ports)
        manifest = tmp_path_factory.mktemp("kube") / "deployments.yaml"
        manifest.write_text(yaml.safe_dump_all(documents))
        try:
            podman("kube", "play", str(manifest))
            for port in host_ports.values():
                wait_serving(f"127.0.0.1:{port}", prefix)
            yield host_ports, track, prefix
        finally:
            podman("kube", "down", str(manifest), check_rc=False)
            remove_pods(prefix)


def test_kube_play_fingerprint_deployment_answers(
    played: tuple[dict[int, int], str, str]
) -> None:
    host_ports, track, _ = played
    assert_fingerprinted(get_fingerprint(f"127.0.0.1:{host_ports[50051]}", track))


def test_kube_play_mastering_deployment_streams_a_master(
    played: tuple[dict[int, int], str, str], tmp_path: Path
) -> None:
    host_ports, track, _ = played
    header = master_to_wav(f"127.0.0.1:{host_ports[50052]}", track, tmp_path / "master.wav")
    # No cluster DNS under podman: the headless Service's name does not resolve.
    assert header.plan.fingerprint_source == ms_pb.FALLBACK
    assert_mastered_as_planned(header, tmp_path / "master.wav")


def test_kube_play_pods_run_as_uid_10001(played: tuple[dict[int, int], str, str]) -> None:
    _, _, prefix = played
    # Pod containers are named after their pod, so after the prefix; infra containers are not.
    app_containers = podman("ps", "--filter", f"name={prefix}", "--format",
                            "{{.Names}}").stdout.split()
    assert len(app_containers) == 2, app_containers
    for name in app_containers:
        status = podman("exec", name, "cat", "/proc/1/status").stdout
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()
        assert uids[1:] == [str(APP_UID)] * 4, status
