"""Every input format a music library holds, over real servers (SPEC section 10, issue 9), and the
decoder items of the reliability issue (10: 2, 3, 9a, 9b), each named after its item.

Each format is made with ffmpeg from a synthetic track and from a corpus track: the fingerprint's
loudness matches the lossless original's (0.1 LU lossless, 0.3 LU lossy), the frame count is what
ffmpeg decodes, seeking is sample-exact, and truncated or bit-flipped variants are answered with
INVALID_ARGUMENT while the service stays SERVING.
"""

from __future__ import annotations

import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import soundfile as sf
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.audio import SAMPLE_LIMIT, open_audio
from shared.proto.fingerprint.v1 import fingerprint_pb2 as fp_pb
from tests.conftest import corpus_tracks
from tests.input_formats import FORMAT_IDS, FORMATS, InputFormat, encode, ffmpeg_frame_count
from tests.integration.fingerprint_harness import values
from tests.integration.mastering_harness import by_path, split_stream
from tests.servers import Stack, channel, mastering_stack
from tests.signals import music_like

FLAC = next(fmt for fmt in FORMATS if fmt.name == "flac")
RATE_HZ = 44_100
SYNTHETIC_S = 8.0
CORPUS_EXCERPT_S = 30.0
CALL_TIMEOUT_S = 120.0
LOSSLESS_LU = 0.1
LOSSY_LU = 0.3
#: Frames claimed by the header of the truncated VBR MP3 of issue 10 item 3.
CLAIMED_FRAMES = 24_600_000
#: Peak-RSS growth allowed while both services handle that MP3 (the old engine padded the
#: claimed length with one 370 MB block of zeros and copied it).
MP3_RSS_GROWTH_BOUND_MB = 150


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with mastering_stack(tmp_path_factory.mktemp("formats")) as servers:
        yield servers


@pytest.fixture(scope="module")
def fingerprint(stack: Stack) -> Any:
    return stack.fingerprint_stub()


def get(stub: Any, path: Path | str, stack: Stack) -> fp_pb.GetFingerprintResponse:
    relative = str(Path(path).relative_to(stack.media)) if Path(path).is_absolute() else path
    request = fp_pb.GetFingerprintRequest(track=fp_pb.TrackRef(path=str(relative)))
    response: fp_pb.GetFingerprintResponse = stub.GetFingerprint(request, timeout=CALL_TIMEOUT_S)
    return response


def refused(stub: Any, path: Path, stack: Stack) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as failure:
        get(stub, path, stack)
    error = failure.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert "cannot decode audio" in error.details()
    assert str(stack.media) not in error.details()
    return error


def assert_serving(stack: Stack) -> None:
    health = health_pb2_grpc.HealthStub(channel(stack.fingerprint_port))
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT_S)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def master(stack: Stack, path: Path) -> Any:
    request = by_path(str(path.relative_to(stack.media)))
    return split_stream(stack.mastering_stub().MasterTrack(request, timeout=CALL_TIMEOUT_S))


def check_format(stack: Stack, stub: Any, original: Path, fmt: InputFormat) -> None:
    reference = get(stub, original, stack)
    path = encode(original, original.parent, fmt)
    answer = get(stub, path, stack)
    tolerance = LOSSLESS_LU if fmt.lossless else LOSSY_LU
    assert abs(answer.fingerprint.lufs - reference.fingerprint.lufs) <= tolerance
    assert answer.track_info.frames == ffmpeg_frame_count(path)
    assert answer.track_info.codec == fmt.codec
    assert answer.track_info.bit_rate_bps > 0
    if fmt.lossless:
        assert answer.track_info.frames == reference.track_info.frames
    with open_audio(path) as reader:
        whole = np.concatenate(list(reader.blocks()))
        for start in (reader.info.frames // 3, reader.info.frames - 5_000):
            part = np.concatenate(list(reader.blocks(start_frame=start, stop_frame=start + 20_000)))
            np.testing.assert_array_equal(part, whole[start : start + 20_000])


@pytest.fixture(scope="module")
def synthetic(stack: Stack) -> Path:
    path = stack.media / "synthetic.wav"
    sf.write(str(path), music_like(SYNTHETIC_S, RATE_HZ, seed=11), RATE_HZ, subtype="PCM_24")
    return path


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_each_format_from_a_synthetic_track(
    stack: Stack, fingerprint: Any, synthetic: Path, fmt: InputFormat
) -> None:
    check_format(stack, fingerprint, synthetic, fmt)


@pytest.fixture(scope="module")
def corpus_original(stack: Stack) -> Path:
    path = stack.media / "corpus.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(corpus_tracks()[0]),
                    "-t", str(CORPUS_EXCERPT_S), "-c:a", "pcm_s24le", str(path)], check=True)
    return path


@pytest.mark.corpus
@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_each_format_from_a_corpus_track(
    stack: Stack, fingerprint: Any, corpus_original: Path, fmt: InputFormat
) -> None:
    check_format(stack, fingerprint, corpus_original, fmt)


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_truncated_and_bit_flipped_variants_are_invalid_argument(
    stack: Stack, fingerprint: Any, synthetic: Path, fmt: InputFormat
) -> None:
    data = encode(synthetic, stack.media, fmt).read_bytes()
    truncated = stack.media / f"truncated-{fmt.name}{fmt.suffix}"
    truncated.write_bytes(data[:40])  # cut inside the header
    flipped = bytearray(data)
    for index in range(0, len(flipped), 997):  # damage all through the file
        flipped[index] ^= 0x55
    damaged = stack.media / f"flipped-{fmt.name}{fmt.suffix}"
    damaged.write_bytes(bytes(flipped))

    refused(fingerprint, truncated, stack)
    refused(fingerprint, damaged, stack)
    assert_serving(stack)


def test_in_memory_content_is_fingerprinted_like_the_file(
    stack: Stack, fingerprint: Any, synthetic: Path
) -> None:
    path = encode(synthetic, stack.media, FORMATS[0])
    by_content = fingerprint.GetFingerprint(
        fp_pb.GetFingerprintRequest(track=fp_pb.TrackRef(content=path.read_bytes())),
        timeout=CALL_TIMEOUT_S)
    assert by_content.fingerprint == get(fingerprint, path, stack).fingerprint


# -- issue 10 ------------------------------------------------------------------------------------


def test_issue10_item2_huge_finite_float_samples_give_a_finite_answer_in_both_services(
    stack: Stack, fingerprint: Any
) -> None:
    square = np.where(np.arange(3 * RATE_HZ) % 100 < 50, 3e38, -3e38)
    path = stack.media / "huge-float.wav"
    sf.write(str(path), np.repeat(square[:, None], 2, axis=1), RATE_HZ, subtype="FLOAT")

    answer = get(fingerprint, path, stack)  # clamped to ±SAMPLE_LIMIT: a very loud square wave
    assert all(np.isfinite(value) for value in values(answer).values())
    assert answer.track_info.sample_peak_dbfs == pytest.approx(20 * np.log10(SAMPLE_LIMIT))
    stream = master(stack, path)
    assert stream.header.total_frames == 3 * RATE_HZ
    assert stream.summary.frames_sent == 3 * RATE_HZ
    assert np.isfinite(stream.summary.output_lufs) and stream.summary.output_lufs > -30.0
    assert stream.summary.output_true_peak_dbtp <= 0.0


def _truncated_vbr_mp3(media: Path, synthetic: Path) -> Path:
    """A VBR MP3 whose Xing header claims ``CLAIMED_FRAMES`` while the file holds 8 s."""
    full = media / "vbr.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(synthetic), "-c:a",
                    "libmp3lame", "-q:a", "4", str(full)], check=True)
    data = bytearray(full.read_bytes())
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    assert tag > 0 and data[tag + 7] & 0x01, "the LAME header carries a frame count"
    data[tag + 8 : tag + 12] = (CLAIMED_FRAMES // 1152).to_bytes(4, "big")
    path = media / "truncated-vbr.mp3"
    path.write_bytes(bytes(data[: len(data) * 9 // 10]))
    return path


def test_issue10_item3_truncated_vbr_mp3_counts_what_decodes_with_flat_memory(
    stack: Stack, fingerprint: Any, synthetic: Path
) -> None:
    path = _truncated_vbr_mp3(stack.media, synthetic)
    decoded = ffmpeg_frame_count(path)
    assert decoded < SYNTHETIC_S * RATE_HZ
    peak_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    answer = get(fingerprint, path, stack)
    stream = master(stack, path)

    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before_kb) / 1024
    assert answer.track_info.frames == decoded
    assert stream.header.total_frames == decoded
    assert stream.summary.frames_sent == decoded
    assert growth_mb < MP3_RSS_GROWTH_BOUND_MB


def test_issue10_item9a_flac_written_to_a_pipe_is_fingerprinted(
    stack: Stack, fingerprint: Any, synthetic: Path
) -> None:
    path = stack.media / "piped.flac"
    with path.open("wb") as out:  # a pipe: ffmpeg cannot go back to fill in total_samples
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(synthetic), "-f", "flac", "-"],
                       check=True, stdout=out)
    streaminfo = path.read_bytes()[8:42]
    total_samples = int.from_bytes(streaminfo[10:18], "big") & ((1 << 36) - 1)
    assert total_samples == 0, "STREAMINFO carries no length, as from a streaming encoder"

    answer = get(fingerprint, path, stack)

    assert answer.track_info.frames == SYNTHETIC_S * RATE_HZ == ffmpeg_frame_count(path)
    assert answer.track_info.codec == "flac"


def test_issue10_item9b_a_path_longer_than_1024_characters_is_fingerprinted(
    stack: Stack, fingerprint: Any, synthetic: Path
) -> None:
    directory = stack.media
    while len(str(directory.relative_to(stack.media))) < 1100:
        directory = directory / ("long-folder-name-" * 10)
    directory.mkdir(parents=True)
    path = directory / "track.flac"
    path.write_bytes(encode(synthetic, stack.media, FLAC).read_bytes())

    answer = get(fingerprint, path, stack)

    assert len(str(path.relative_to(stack.media))) > 1024
    assert answer.track_info.frames == SYNTHETIC_S * RATE_HZ
