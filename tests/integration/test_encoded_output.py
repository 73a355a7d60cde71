"""MasterTrack's encoded output over real servers (SPEC section 10), judged by ffmpeg: FLAC
(16/24-bit), Opus in Ogg, MP3 (CBR and VBR), AAC in fragmented MP4 and in ADTS.

For each: ffmpeg decodes the concatenated chunks to the sent duration (FLAC to the frame, lossy
within 1 ms once AAC's reported priming is dropped); the decoded loudness is within ±0.5 LU of
the plan's effective target and its true peak within 0.1 dB (FLAC) or 0.5 dB (lossy) of the
ceiling; the bytes are identical for chunk sizes 1, 777, 8192 and the whole track; a seek gives
a standalone file of the rest. Also: the header, the summary, the refused combinations and the
WAV pad byte.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from shared.proto.mastering.v1 import mastering_pb2 as pb
from tests.integration.mastering_harness import (
    RATE_HZ,
    MasteredStream,
    by_path,
    split_stream,
    write_track,
)
from tests.servers import Stack, mastering_stack
from tests.signals import ffmpeg_ebur128, music_like, write_wav

CALL_TIMEOUT_S = 120.0
PATIENT_TIMEOUT_MS = 60_000
TRACK_S = 4.0
SEEK_S = 1.5
#: SPEC section 10: what a player decodes keeps the ceiling (lossless + 0.1 dB, lossy + 0.5 dB)
#: and the loudness (±0.5 LU of the effective target).
LOSSLESS_PEAK_MARGIN_DB = 0.1
LOSSY_PEAK_MARGIN_DB = 0.5
LOUDNESS_TOLERANCE_LU = 0.5
LOSSY_DURATION_TOLERANCE_S = 0.001
#: The summary's own decode against ffmpeg's reading of the same bytes.
SUMMARY_VS_FFMPEG_LU = 0.2
SUMMARY_VS_FFMPEG_DB = 0.3
CHUNK_SIZES = (1, 777, 8192, int(TRACK_S * RATE_HZ))

#: (id, container, encoding, extra request fields, codec name, file extension, lossy)
FORMATS = [
    ("flac16", pb.FLAC, pb.PCM_S16LE, {}, "flac", "flac", False),
    ("flac24", pb.FLAC, pb.PCM_S24LE, {}, "flac", "flac", False),
    ("opus", pb.OGG_OPUS, pb.PCM_S16LE, {}, "opus", "opus", True),
    ("mp3", pb.MP3, pb.PCM_S16LE, {}, "mp3", "mp3", True),
    ("mp3_vbr", pb.MP3, pb.PCM_S16LE, {"mp3_vbr": True, "bit_rate_kbps": 192}, "mp3", "mp3",
     True),
    ("mp4_aac", pb.MP4_AAC, pb.PCM_S16LE, {}, "aac", "m4a", True),
    ("adts_aac", pb.ADTS_AAC, pb.PCM_S16LE, {}, "aac", "aac", True),
]
IDS = [row[0] for row in FORMATS]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with mastering_stack(tmp_path_factory.mktemp("encoded-output")) as servers:
        yield servers


@pytest.fixture(scope="module")
def stub(stack: Stack) -> Any:
    return stack.mastering_stub()


@pytest.fixture(scope="module")
def track(stack: Stack) -> str:
    return write_track(stack.media, "encoded.wav", duration_s=TRACK_S)


def master(stub: Any, path: str, container: int, encoding: int, **fields: Any) -> MasteredStream:
    request = by_path(path, container=container, encoding=encoding,
                      fingerprint_timeout_ms=PATIENT_TIMEOUT_MS, **fields)
    stream = split_stream(stub.MasterTrack(request, timeout=CALL_TIMEOUT_S))
    assert stream.kinds[0] == "header" and stream.kinds[-1] == "summary", stream.kinds[:3]
    assert [chunk.sequence for chunk in stream.chunks] == list(range(len(stream.chunks)))
    return stream


def saved(stream: MasteredStream, tmp_path: Path, extension: str) -> Path:
    path = tmp_path / f"mastered.{extension}"
    path.write_bytes(stream.pcm)
    return path


def ffmpeg_decode(path: Path, channels: int) -> np.ndarray:
    """ffmpeg's decode at the file's own rate, float64 ``(frames, channels)``."""
    proc = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f64le", "-"],
                          capture_output=True)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr.decode()
    return np.frombuffer(proc.stdout, dtype="<f8").reshape(-1, channels)


@pytest.mark.parametrize(("name", "container", "encoding", "fields", "codec", "extension",
                          "lossy"), FORMATS, ids=IDS)
def test_encoded_stream_decodes_to_the_sent_duration_loudness_and_ceiling(
    stub: Any, track: str, tmp_path: Path, name: str, container: int, encoding: int,
    fields: dict[str, Any], codec: str, extension: str, lossy: bool,
) -> None:
    stream = master(stub, track, container, encoding, **fields)
    header, plan = stream.header, stream.header.plan
    assert header.codec == codec
    assert header.container == container
    assert header.output_sample_rate == (48_000 if codec == "opus" else RATE_HZ)
    assert header.bit_rate_kbps == fields.get("bit_rate_kbps", {"opus": 160, "mp3": 256,
                                                                 "aac": 192}.get(codec, 0))
    path = saved(stream, tmp_path, extension)
    decoded = ffmpeg_decode(path, header.channels)[header.encoder_delay_frames:]
    sent_s = header.total_frames / header.sample_rate
    if lossy:
        decoded_s = decoded.shape[0] / header.output_sample_rate
        if codec == "aac":  # the trailing padding is not trimmed by ffmpeg: at most a packet
            decoded_s = min(decoded_s, sent_s + 1024 / header.output_sample_rate)
            assert decoded_s >= sent_s - LOSSY_DURATION_TOLERANCE_S
        else:
            assert abs(decoded_s - sent_s) <= LOSSY_DURATION_TOLERANCE_S
    else:
        assert decoded.shape[0] == header.total_frames
    judged = ffmpeg_ebur128(path)
    margin = LOSSY_PEAK_MARGIN_DB if lossy else LOSSLESS_PEAK_MARGIN_DB
    assert judged.true_peak_dbtp <= plan.true_peak_ceiling_dbtp + margin
    assert abs(judged.integrated_lufs - plan.effective_target_lufs) <= LOUDNESS_TOLERANCE_LU
    summary = stream.summary
    assert summary.frames_sent == header.total_frames
    assert summary.bytes_sent == len(stream.pcm)
    assert abs(summary.output_lufs - judged.integrated_lufs) <= SUMMARY_VS_FFMPEG_LU
    assert abs(summary.output_true_peak_dbtp - judged.true_peak_dbtp) <= SUMMARY_VS_FFMPEG_DB


@pytest.mark.parametrize(("name", "container", "encoding", "fields", "codec", "extension",
                          "lossy"), FORMATS, ids=IDS)
def test_encoded_bytes_are_identical_for_any_chunk_size(
    stub: Any, track: str, name: str, container: int, encoding: int, fields: dict[str, Any],
    codec: str, extension: str, lossy: bool,
) -> None:
    streams = [master(stub, track, container, encoding, chunk_frames=size, **fields)
               for size in CHUNK_SIZES]
    assert all(stream.pcm == streams[0].pcm for stream in streams[1:])
    assert all(len(stream.chunks) > 1 for stream in streams)  # it streams, it is not one blob


@pytest.mark.parametrize(("name", "container", "encoding", "fields", "codec", "extension",
                          "lossy"), FORMATS, ids=IDS)
def test_seek_gives_a_standalone_file_of_the_rest(
    stub: Any, track: str, tmp_path: Path, name: str, container: int, encoding: int,
    fields: dict[str, Any], codec: str, extension: str, lossy: bool,
) -> None:
    whole = master(stub, track, container, encoding, **fields)
    seeked = master(stub, track, container, encoding, start_s=SEEK_S, **fields)
    header = seeked.header
    assert header.total_frames == whole.header.total_frames - round(SEEK_S * RATE_HZ)
    rest = ffmpeg_decode(saved(seeked, tmp_path, extension), header.channels)
    rest = rest[header.encoder_delay_frames:]
    if not lossy:
        assert rest.shape[0] == header.total_frames
        full = ffmpeg_decode(saved(whole, tmp_path, extension), header.channels)
        difference = rest - full[round(SEEK_S * RATE_HZ):]
        level = float(np.sqrt(np.mean(full**2)))
        assert float(np.sqrt(np.mean(difference**2))) < level * 10.0 ** (-60.0 / 20.0)  # −60 dB
    else:
        expected = header.total_frames * header.output_sample_rate / header.sample_rate
        assert rest.shape[0] >= expected - LOSSY_DURATION_TOLERANCE_S * header.output_sample_rate


@pytest.mark.parametrize(("container", "encoding", "fields", "message"), [
    (pb.FLAC, pb.PCM_F32LE, {}, "PCM_S16LE (16-bit) or PCM_S24LE"),
    (pb.OGG_OPUS, pb.PCM_S24LE, {}, "encoding does not apply"),
    (pb.WAV, pb.PCM_S16LE, {"bit_rate_kbps": 128}, "lossy containers"),
    (pb.FLAC, pb.PCM_S16LE, {"mp3_vbr": True}, "MP3 only"),
    (pb.OGG_OPUS, pb.PCM_S16LE, {"bit_rate_kbps": 5}, "between 6 and 510"),
    (pb.MP3, pb.PCM_S16LE, {"bit_rate_kbps": 512}, "between 32 and 320"),
    (pb.MP4_AAC, pb.PCM_S16LE, {"mp3_vbr": True}, "MP3 only"),
])
def test_output_options_that_make_no_sense_are_invalid_argument(
    stub: Any, track: str, container: int, encoding: int, fields: dict[str, Any], message: str,
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        master(stub, track, container, encoding, **fields)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in str(error.value.details())


def test_wav_pad_byte_is_sent_for_an_odd_sized_data_chunk(stack: Stack, stub: Any) -> None:
    """Mono 24-bit with an odd number of frames: the RIFF size counts the pad byte, so the
    stream must carry it (RIFF: chunks are word-aligned)."""
    frames = RATE_HZ + 1
    signal = music_like(frames / RATE_HZ, RATE_HZ, seed=zlib.crc32(b"odd"))[:frames, :1]
    write_wav(stack.media / "odd-mono.wav", signal, RATE_HZ, subtype="PCM_16")
    stream = master(stub, "odd-mono.wav", pb.WAV, pb.PCM_S24LE)
    data = stream.pcm
    assert stream.header.total_frames == frames
    riff_bytes = struct.unpack_from("<I", data, 4)[0]
    assert len(data) == 8 + riff_bytes
    assert stream.summary.bytes_sent == len(data)
