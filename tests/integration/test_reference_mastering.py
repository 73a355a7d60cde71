"""SPEC section 12 over real servers — reference-track mastering and the per-aspect amounts.

The reference's fingerprint comes through the fingerprint service's tiers like the track's; a
reference that cannot be read is refused like the track (INVALID_ARGUMENT, NOT_FOUND,
PERMISSION_DENIED); without a fingerprint service the reference cannot be fingerprinted in
time, so the plan falls back to the built-in reference and its reasons say so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from mastering_service.chain.encoding import decode_pcm
from mastering_service.client import main as client_main
from shared.proto.mastering.v1 import mastering_pb2 as pb
from tests.integration.mastering_harness import (
    RATE_HZ,
    by_path,
    split_stream,
)
from tests.servers import Stack, mastering_stack
from tests.signals import music_like, write_wav

CALL_TIMEOUT_S = 120.0
TRACK_S = 6.0
#: Band edges of the treble/mid balance (SPEC section 4's band shares): mids 250–4000 Hz,
#: treble 4 kHz and up.
MID_BAND_HZ = (250.0, 4000.0)
TREBLE_LOW_HZ = 4000.0
WELCH_FRAMES = 8192


def _treble_mid_ratio_db(audio: np.ndarray, rate_hz: int) -> float:
    freqs, power = signal.welch(audio.mean(axis=1), rate_hz, nperseg=WELCH_FRAMES)
    mids = power[(freqs >= MID_BAND_HZ[0]) & (freqs < MID_BAND_HZ[1])].sum()
    treble = power[freqs >= TREBLE_LOW_HZ].sum()
    return 10.0 * math.log10(treble / mids)


def _brightened(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """``audio`` plus a high-passed copy: much more treble, the same music."""
    sos = signal.butter(4, TREBLE_LOW_HZ, "highpass", fs=RATE_HZ, output="sos")
    out = audio + (10.0 ** (gain_db / 20.0) - 1.0) * signal.sosfilt(sos, audio, axis=0)
    return np.asarray(0.5 * out / np.abs(out).max())


@pytest.fixture(scope="module")
def track_audio() -> np.ndarray:
    return music_like(TRACK_S, RATE_HZ, level_dbfs=-14.0, seed=11)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, track_audio: np.ndarray) -> Iterator[Stack]:
    with mastering_stack(tmp_path_factory.mktemp("reference")) as servers:
        write_wav(servers.media / "track.wav", track_audio, RATE_HZ, subtype="PCM_16")
        bright = _brightened(music_like(TRACK_S, RATE_HZ, seed=12), 18.0)
        write_wav(servers.media / "bright.wav", bright, RATE_HZ, subtype="PCM_16")
        (servers.media / "noise.wav").write_bytes(b"RIFF not really a wav file at all")
        yield servers


@pytest.fixture(scope="module")
def stub(stack: Stack) -> Any:
    return stack.mastering_stub()


def master(stub: Any, request: pb.MasterTrackRequest) -> Any:
    return split_stream(stub.MasterTrack(request, timeout=CALL_TIMEOUT_S))


def output_audio(stream: Any) -> np.ndarray:
    header = stream.header
    return decode_pcm(stream.pcm, "s16", header.channels)


def with_reference(path: str, reference: str, **fields: Any) -> pb.MasterTrackRequest:
    return by_path(path, reference=pb.TrackRef(path=reference), **fields)


def refused(stub: Any, request: pb.MasterTrackRequest) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as failure:
        for _ in stub.MasterTrack(request, timeout=CALL_TIMEOUT_S):
            pass
    assert failure.value.code() != grpc.StatusCode.INTERNAL, failure.value.details()
    return failure.value


def test_bright_reference_moves_the_treble_mid_balance_toward_it(
        stub: Any, stack: Stack, track_audio: np.ndarray) -> None:
    bright, _ = sf.read(str(stack.media / "bright.wav"))
    reference_ratio = _treble_mid_ratio_db(bright, RATE_HZ)
    before = _treble_mid_ratio_db(track_audio, RATE_HZ)
    assert reference_ratio > before + 6.0  # the reference really is brighter
    stream = master(stub, with_reference("track.wav", "bright.wav", target_lufs=-16.0))
    plan = stream.header.plan
    assert plan.high_shelf_gain_db > 0.5
    assert plan.HasField("reference_lufs")
    after = _treble_mid_ratio_db(output_audio(stream), RATE_HZ)
    assert after > before + 0.5
    assert abs(after - reference_ratio) < abs(before - reference_ratio)
    assert any("reference track" in reason for reason in plan.reasons)
    assert plan.target_lufs == pytest.approx(-16.0)  # an explicit target wins


def test_track_itself_as_reference_leaves_tonal_and_width_neutral(stub: Any) -> None:
    plan = master(stub, with_reference("track.wav", "track.wav")).header.plan
    assert plan.low_shelf_gain_db == plan.high_shelf_gain_db == 0.0
    assert plan.side_gain_db == 0.0
    # Without target_lufs the target is the reference's loudness: here the track's own.
    assert plan.target_lufs == pytest.approx(plan.input_lufs, abs=0.01)
    assert plan.reference_lufs == pytest.approx(plan.input_lufs, abs=0.01)
    assert any("reference track's loudness" in reason for reason in plan.reasons)


def test_reference_sent_as_content_works_like_a_path(stub: Any, stack: Stack) -> None:
    content = (stack.media / "bright.wav").read_bytes()
    by_content = master(stub, by_path("track.wav", reference=pb.TrackRef(content=content),
                                      target_lufs=-16.0)).header.plan
    by_name = master(stub, with_reference("track.wav", "bright.wav",
                                          target_lufs=-16.0)).header.plan
    assert by_content.high_shelf_gain_db > 0.5
    assert by_content.high_shelf_gain_db == pytest.approx(by_name.high_shelf_gain_db)


def test_missing_reference_is_not_found(stub: Any) -> None:
    error = refused(stub, with_reference("track.wav", "no-such-reference.wav"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "reference" in error.details() and "no-such-reference.wav" in error.details()


def test_reference_outside_the_media_root_is_permission_denied(stub: Any) -> None:
    error = refused(stub, with_reference("track.wav", "../outside.wav"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "outside the media root" in error.details()


def test_undecodable_reference_is_invalid_argument(stub: Any) -> None:
    error = refused(stub, with_reference("track.wav", "noise.wav"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reference" in error.details()


def test_empty_reference_is_invalid_argument(stub: Any) -> None:
    error = refused(stub, by_path("track.wav", reference=pb.TrackRef()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reference" in error.details()


@pytest.mark.parametrize("field", ["tonal_amount", "width_amount", "dynamics_amount"])
def test_aspect_amount_out_of_range_is_invalid_argument(stub: Any, field: str) -> None:
    error = refused(stub, by_path("track.wav", **{field: 1.5}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.details() and "between 0 and 1" in error.details()


def test_aspect_amounts_reach_the_plan(stub: Any) -> None:
    plan = master(stub, with_reference("track.wav", "bright.wav", target_lufs=-16.0,
                                       tonal_amount=0.0, width_amount=0.5)).header.plan
    assert plan.low_shelf_gain_db == plan.high_shelf_gain_db == 0.0
    assert (plan.tonal_amount, plan.width_amount, plan.dynamics_amount) == (0.0, 0.5, 1.0)


def test_without_fingerprint_service_the_reference_falls_back_to_the_built_in(
        tmp_path: Path, track_audio: np.ndarray) -> None:
    with mastering_stack(tmp_path, fingerprint=False) as servers:
        write_wav(servers.media / "track.wav", track_audio, RATE_HZ, subtype="PCM_16")
        write_wav(servers.media / "bright.wav", _brightened(track_audio, 18.0), RATE_HZ,
                  subtype="PCM_16")
        stream = master(servers.mastering_stub(), with_reference("track.wav", "bright.wav"))
    plan = stream.header.plan
    assert pb.FingerprintSource.Name(plan.fingerprint_source) == "FALLBACK"
    assert not plan.HasField("reference_lufs")
    assert plan.target_lufs == pytest.approx(-14.0)  # the default, not the reference's
    assert any("reference track not fingerprinted" in reason for reason in plan.reasons)
    assert len(stream.chunks) > 0 and stream.summary.frames_sent > 0


def test_client_cli_sends_reference_and_amounts_and_draws_the_report(
        stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, png = tmp_path / "mastered.wav", tmp_path / "report.png"
    status = client_main([
        "master", "track.wav", "-o", str(out), "--target", f"127.0.0.1:{stack.mastering_port}",
        "--reference", "bright.wav", "--width-amount", "0", "--target-lufs", "-16",
        "--report", str(png), "--media-root", str(stack.media),
    ])
    assert status == 0, capsys.readouterr().err
    printed = capsys.readouterr().out  # the in-process servers log to stdout too
    result, _ = json.JSONDecoder().raw_decode(printed[printed.index("{\n"):])
    plan = result["plan"]
    assert plan["high_shelf_gain_db"] > 0.5 and plan["side_gain_db"] == 0.0
    assert plan["width_amount"] == 0.0 and "reference_lufs" in plan
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 50_000
    assert result["report"] == str(png)
