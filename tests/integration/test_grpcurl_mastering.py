"""grpcurl against a real mastering server, with no proto files: reflection describes the
service, and a MasterTrack call with JSON input prints the header, the chunks and the summary
(SPEC section 3, "grpcurl list/describe works")."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_grpcurl import grpcurl_binary
from tests.servers import Stack, mastering_stack
from tests.signals import sine, write_wav

RATE_HZ = 44_100
TONE_S = 2.0
GRPCURL_TIMEOUT_S = 120.0


def grpcurl(port: int, *command: str, flags: tuple[str, ...] = ()) -> str:
    proc = subprocess.run(
        [grpcurl_binary(), "-plaintext", "-max-time", str(int(GRPCURL_TIMEOUT_S)), *flags,
         f"127.0.0.1:{port}", *command],
        capture_output=True, text=True, timeout=GRPCURL_TIMEOUT_S + 30,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def json_messages(text: str) -> list[dict[str, Any]]:
    """grpcurl prints one pretty-printed JSON object per response message (proto field names;
    64-bit integers as strings, fields at their zero value left out)."""
    decoder = json.JSONDecoder()
    messages, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return messages
        message, position = decoder.raw_decode(text, position)
        messages.append(message)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with mastering_stack(tmp_path_factory.mktemp("grpcurl")) as servers:
        write_wav(servers.media / "tone.wav", sine(1000.0, -12.0, TONE_S, RATE_HZ, channels=2),
                  RATE_HZ, subtype="PCM_16")
        yield servers


def test_grpcurl_lists_and_describes_the_mastering_service(stack: Stack) -> None:
    listed = grpcurl(stack.mastering_port, "list").split()
    assert "mastering.v1.MasteringService" in listed
    assert "grpc.health.v1.Health" in listed
    described = grpcurl(stack.mastering_port, "describe", "mastering.v1.MasteringService")
    assert "mastering.v1.MasteringService is a service" in described
    assert ("rpc MasterTrack ( .mastering.v1.MasterTrackRequest ) "
            "returns ( stream .mastering.v1.MasterTrackResponse )") in described
    request_type = grpcurl(stack.mastering_port, "describe", "mastering.v1.MasterTrackRequest")
    for field in ("target_lufs", "true_peak_ceiling_dbtp", "fingerprint_timeout_ms"):
        assert field in request_type


def test_grpcurl_master_track_prints_header_chunks_and_summary(stack: Stack) -> None:
    body = json.dumps({"track": {"path": "tone.wav"}, "chunk_frames": 4096})
    messages = json_messages(grpcurl(stack.mastering_port,
                                     "mastering.v1.MasteringService/MasterTrack",
                                     flags=("-d", body)))
    kinds = [next(iter(message)) for message in messages]
    assert kinds[0] == "header" and kinds[-1] == "summary"
    assert set(kinds[1:-1]) == {"chunk"}
    header, summary = messages[0]["header"], messages[-1]["summary"]
    total_frames = int(header["total_frames"])
    assert total_frames == round(TONE_S * RATE_HZ)
    assert header["sample_rate"] == RATE_HZ and header["channels"] == 2
    assert header["plan"]["fingerprint_source"] in {"COMPUTED", "DATABASE"}
    chunks = [message["chunk"] for message in messages[1:-1]]
    assert [int(c.get("sequence", 0)) for c in chunks] == list(range(len(chunks)))
    pcm = b"".join(base64.b64decode(c["pcm"]) for c in chunks)
    assert len(pcm) == total_frames * 2 * 2
    assert int(summary["frames_sent"]) == total_frames
    assert "output_lufs" in summary and "output_true_peak_dbtp" in summary
