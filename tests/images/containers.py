"""Podman as the image tests drive it: every call goes through ``scripts/podman`` (the storage and
runtime settings the images were built with), every container and volume gets a unique name, and
whatever a test starts is removed when it ends."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.healthcheck import check

REPO_ROOT = Path(__file__).resolve().parents[2]
PODMAN = str(REPO_ROOT / "scripts" / "podman")
VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
FINGERPRINT_IMAGE = f"localhost/fingerprint-service:{VERSION}"
MASTERING_IMAGE = f"localhost/mastering-service:{VERSION}"
FINGERPRINT_PORT = 50051
MASTERING_PORT = 50052
APP_UID = 10001

#: What the images, Compose and Kubernetes give a container to stop: more than the services'
#: SHUTDOWN_GRACE_S (20 s), so a drained server exits by itself before the engine kills it.
STOP_GRACE_S = 30
#: A cold container on vfs storage imports numpy, scipy and PyAV from a fresh copy of the image.
READY_TIMEOUT_S = 120
#: Both images from scratch on two cores: the debootstrap base, then two multi-stage builds.
BUILD_TIMEOUT_S = 3600
#: A test whose set-up builds the images (when `make images` has not run just before).
IMAGE_TEST_TIMEOUT_S = BUILD_TIMEOUT_S + 600
#: Any single podman command other than a build.
COMMAND_TIMEOUT_S = 300
#: How often readiness is polled.
POLL_INTERVAL_S = 0.5


def podman(*args: str, check_rc: bool = True,
           timeout_s: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/podman ARGS``; a failure (when ``check_rc``) shows podman's stderr."""
    proc = subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout_s)
    if check_rc and proc.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {proc.returncode}:\n{proc.stderr.strip()}"
        )
    return proc


def build_images() -> None:
    """``make images`` with podman; skips (fails under CI=true) only when podman is missing
    and could not be installed."""
    env = {**os.environ, "IMAGE_BUILDER": "podman"}
    proc = subprocess.run(["make", "images"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=BUILD_TIMEOUT_S)
    if proc.returncode == 0:
        return
    log_tail = (proc.stdout + proc.stderr)[-4000:]
    if shutil.which("podman") is None:
        reason = f"podman is not installed and `make images` could not install it:\n{log_tail}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: the image tier must run, but {reason}")
        pytest.skip(reason)
    raise AssertionError(f"make images failed (exit {proc.returncode}):\n{log_tail}")


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def logs(name: str) -> str:
    proc = podman("logs", "--tail", "40", name, check_rc=False)
    return (proc.stdout + proc.stderr).strip()


def wait_serving(address: str, name: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll ``grpc.health.v1`` at ``address`` until SERVING; on timeout show the container's log."""
    deadline = time.monotonic() + timeout_s
    verdict = ""
    while time.monotonic() < deadline:
        serving, verdict = check(address, timeout_s=2.0)
        if serving:
            return
        time.sleep(POLL_INTERVAL_S)
    raise AssertionError(f"{name} not SERVING at {address} after {timeout_s} s ({verdict}):\n"
                         f"{logs(name)}")


def remove_container(name: str) -> None:
    podman("rm", "--force", "--time", "0", name, check_rc=False)


@contextmanager
def running(name: str, image: str, run_args: Sequence[str],
            command: Sequence[str] = ()) -> Iterator[str]:
    """``podman run -d --name NAME RUN_ARGS IMAGE COMMAND``; removed whatever happens."""
    try:
        podman("run", "--detach", "--name", name, *run_args, image, *command)
        yield name
    finally:
        remove_container(name)


@contextmanager
def volume(name: str) -> Iterator[str]:
    try:
        podman("volume", "create", name)
        yield name
    finally:
        podman("volume", "rm", "--force", name, check_rc=False)


@contextmanager
def network(name: str) -> Iterator[str]:
    """A podman network whose containers find each other by name (as on a Compose network)."""
    try:
        podman("network", "create", name)
        yield name
    finally:
        podman("network", "rm", "--force", name, check_rc=False)


def hardening_args() -> list[str]:
    """What deploy/compose.yaml and the Kubernetes manifests impose on both containers."""
    return ["--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges"]


def declared_healthcheck(image: str) -> list[str]:
    """The HEALTHCHECK command as the image declares it (``CMD`` form), as an argv."""
    config = json.loads(podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}",
                               image).stdout)
    assert config and config.get("Test"), f"{image} declares no HEALTHCHECK"
    kind, *argv = config["Test"]
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", *argv]
    assert kind == "CMD", f"unexpected HEALTHCHECK form {config['Test']}"
    return list(argv)


def stop_timed(name: str) -> tuple[int, float]:
    """``podman stop`` with the deploy files' grace period: (exit code, seconds it took)."""
    started = time.monotonic()
    podman("stop", "--time", str(STOP_GRACE_S), name, timeout_s=STOP_GRACE_S + 60)
    elapsed_s = time.monotonic() - started
    state = json.loads(podman("inspect", "--format", "{{json .State}}", name).stdout)
    return int(state["ExitCode"]), elapsed_s


def media_folder(path: Path) -> Path:
    """A media folder anybody may write on the host, so only the read-only mount keeps the
    containers from writing it."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path
