"""The smoke test every way of running the images must pass, over the containers' ports: a
GetFingerprint, then a MasterTrack stream whose plan used that fingerprint, judged by ffmpeg."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import grpc

from shared.proto.fingerprint.v1 import fingerprint_pb2 as fp_pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as fp_grpc
from shared.proto.mastering.v1 import mastering_pb2 as ms_pb
from shared.proto.mastering.v1 import mastering_pb2_grpc as ms_grpc
from tests.integration.mastering_harness import by_path, split_stream, write_track
from tests.signals import ffmpeg_ebur128

TRACK_S = 8.0
#: A cold fingerprint in a fresh container, on a busy two-core machine.
RPC_TIMEOUT_S = 60.0
#: SPEC section 10: what a player decodes keeps the loudness within ±0.5 LU of the target…
LOUDNESS_TOLERANCE_LU = 0.5
#: …and a lossless output keeps the ceiling to within 0.1 dB.
CEILING_TOLERANCE_DB = 0.1
FINGERPRINT_DIMENSIONS = 25


def write_media_track(media: Path) -> str:
    """An AAC track in MP4 under ``media`` (libsndfile cannot read it: the image's PyAV must).
    Returns its path relative to ``media``."""
    wav = media / write_track(media, "container-smoke.wav", duration_s=TRACK_S)
    m4a = media / "container-smoke.m4a"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
                    "-c:a", "aac", "-b:a", "192k", str(m4a)], check=True)
    wav.unlink()
    m4a.chmod(0o644)
    return m4a.name


def get_fingerprint(address: str, path: str) -> fp_pb.GetFingerprintResponse:
    with grpc.insecure_channel(address) as channel:
        stub = fp_grpc.FingerprintServiceStub(channel)
        reply: fp_pb.GetFingerprintResponse = stub.GetFingerprint(
            fp_pb.GetFingerprintRequest(track=fp_pb.TrackRef(path=path)), timeout=RPC_TIMEOUT_S)
    return reply


def assert_fingerprinted(reply: fp_pb.GetFingerprintResponse) -> None:
    values = [value for _, value in reply.fingerprint.ListFields()]
    assert len(reply.fingerprint.DESCRIPTOR.fields) == FINGERPRINT_DIMENSIONS
    assert all(math.isfinite(value) for value in values), reply.fingerprint
    assert abs(reply.track_info.duration_s - TRACK_S) < 0.1, reply.track_info
    assert reply.source in (fp_pb.DATABASE, fp_pb.COMPUTED), fp_pb.FingerprintSource.Name(
        reply.source)


def master_to_wav(address: str, path: str, out: Path) -> ms_pb.StreamHeader:
    """Stream a master of ``path`` into the WAV file ``out``; returns the stream's header."""
    with grpc.insecure_channel(address) as channel:
        stub = ms_grpc.MasteringServiceStub(channel)
        stream = split_stream(stub.MasterTrack(by_path(path, container=ms_pb.WAV),
                                               timeout=RPC_TIMEOUT_S))
    out.write_bytes(stream.pcm)
    assert stream.summary.frames_sent == stream.header.total_frames
    return stream.header


def assert_mastered_as_planned(header: ms_pb.StreamHeader, wav: Path) -> None:
    """ffmpeg's verdict on the file: loudness at the plan's effective target, peaks under the
    ceiling."""
    measured = ffmpeg_ebur128(wav)
    plan = header.plan
    assert abs(measured.integrated_lufs - plan.effective_target_lufs) <= LOUDNESS_TOLERANCE_LU, (
        f"ffmpeg says {measured.integrated_lufs} LUFS, plan {plan.effective_target_lufs}")
    assert measured.true_peak_dbtp <= plan.true_peak_ceiling_dbtp + CEILING_TOLERANCE_DB, (
        f"ffmpeg says {measured.true_peak_dbtp} dBTP, ceiling {plan.true_peak_ceiling_dbtp}")


def assert_fingerprint_from_service(header: ms_pb.StreamHeader) -> None:
    """The plan came from the fingerprint service's answer, not the mastering service's own
    quick analysis."""
    source = ms_pb.FingerprintSource.Name(header.plan.fingerprint_source)
    reason = ms_pb.FallbackReason.Name(header.plan.fallback_reason)
    assert source in ("DATABASE", "COMPUTED"), f"fingerprint_source {source} ({reason})"
