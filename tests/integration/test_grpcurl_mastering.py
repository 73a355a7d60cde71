"""grpcurl against a real mastering server, with no proto files: reflection describes the
service, and a MasterTrack call with JSON input prints the header, the chunks and the summary
(SPEC section 3, "grpcurl list/describe works")."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mastering_service.chain.encoding import decode_pcm
from shared.proto.mastering.v1 import mastering_pb2
from tests.integration.mastering_harness import split_stream
from tests.integration.test_grpcurl import grpcurl_binary
from tests.servers import Stack, mastering_stack
from tests.signals import ffmpeg_ebur128, sine, write_wav

RATE_HZ = 44_100
TONE_S = 2.0
GRPCURL_TIMEOUT_S = 120.0
#: SPEC section 6 tolerances, and how closely the summary agrees with ffmpeg on the same PCM.
LOUDNESS_TOLERANCE_LU = 0.5
TRUE_PEAK_TOLERANCE_DB = 0.1
SUMMARY_VS_FFMPEG_LU = 0.2


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


def test_grpcurl_master_track_prints_header_chunks_and_summary(
        stack: Stack, tmp_path: Path, ffmpeg: str) -> None:
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
    # The printed numbers are the stream's: the summary reads what ffmpeg reads in the PCM, and
    # both keep to the announced plan (SPEC section 6).
    plan = header["plan"]
    streamed = tmp_path / "streamed.wav"
    write_wav(streamed, decode_pcm(pcm, "s16", 2), RATE_HZ, subtype="PCM_16")
    judged = ffmpeg_ebur128(streamed)
    assert summary["output_lufs"] == pytest.approx(judged.integrated_lufs,
                                                   abs=SUMMARY_VS_FFMPEG_LU)
    assert abs(judged.integrated_lufs - plan["effective_target_lufs"]) <= LOUDNESS_TOLERANCE_LU
    ceiling = plan["true_peak_ceiling_dbtp"]
    assert judged.true_peak_dbtp <= ceiling + TRUE_PEAK_TOLERANCE_DB
    assert summary["output_true_peak_dbtp"] <= ceiling + TRUE_PEAK_TOLERANCE_DB
    # And the bytes are the ones a gRPC client gets for the same request.
    request = mastering_pb2.MasterTrackRequest(track=mastering_pb2.TrackRef(path="tone.wav"),
                                               chunk_frames=4096)
    direct = split_stream(stack.mastering_stub().MasterTrack(request, timeout=GRPCURL_TIMEOUT_S))
    assert direct.pcm == pcm
