"""Encoded output (SPEC section 10): the codec writer and its gapless headers, judged by ffmpeg.

Each format's concatenated bytes must be a file ffmpeg decodes to exactly the source's duration
(AAC: the priming 1024 frames more, which the header reports), identical for any block size,
free of version strings and timestamps; random short signals never give an invalid file.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from mastering_service.chain.codecs import (
    FEED_FRAMES,
    FORMATS,
    CodecOptions,
    CodecWriter,
    check_options,
    output_sample_rate,
)
from mastering_service.chain.gapless import (
    AAC_PRIMING_FRAMES,
    LAME_ENCODER_DELAY,
    MP3_FRAME_SAMPLES,
    lame_frame_count,
    lame_info_frame,
)

RATE_HZ = 44_100
ALL_OPTIONS = [CodecOptions("flac"), CodecOptions("flac", flac_bits=24),
               CodecOptions("ogg_opus"), CodecOptions("mp3"), CodecOptions("mp3", mp3_vbr=True),
               CodecOptions("mp4_aac"), CodecOptions("adts_aac")]
IDS = ["flac16", "flac24", "ogg_opus", "mp3", "mp3_vbr", "mp4_aac", "adts_aac"]
#: Lossy output decoded back at the track's rate may differ by the resampler's rounding.
RESAMPLED_SLACK_FRAMES = 1


def _noise(frames: int, channels: int = 2, level: float = 0.1,
           seed: int = 0) -> NDArray[np.float64]:
    return np.random.default_rng(seed).standard_normal((frames, channels)) * level


def _encode(options: CodecOptions, x: NDArray[np.float64], block: int | None = None,
            rate: int = RATE_HZ) -> bytes:
    writer = CodecWriter(options, rate, x.shape[1], total_frames=x.shape[0], dither_seed=7)
    step = block or max(1, x.shape[0])
    parts = [writer.encode(x[i:i + step]) for i in range(0, x.shape[0], step)]
    return b"".join(parts) + writer.finish()


def _ffmpeg_decode(data: bytes, tmp_path: Path, options: CodecOptions, channels: int = 2,
                   rate: int | None = None) -> NDArray[np.float64]:
    """ffmpeg's decode of ``data``, named as a player would (a tiny MP3 needs its extension)."""
    path = tmp_path / f"encoded.{options.spec.extension}"
    path.write_bytes(data)
    # A bare ADTS stream of a few frames is too short for ffmpeg's sniffing; players are told
    # its type (audio/aac) instead.
    input_format = ["-f", "aac"] if options.spec.muxer == "adts" else []
    args = ["ffmpeg", "-v", "error", *input_format, "-i", str(path)]
    if rate is not None:
        args += ["-ar", str(rate)]
    proc = subprocess.run([*args, "-f", "f64le", "-"], capture_output=True)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr.decode()
    return np.frombuffer(proc.stdout, dtype="<f8").reshape(-1, channels)


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=IDS)
def test_concatenated_bytes_decode_to_the_source_duration(options: CodecOptions,
                                                          tmp_path: Path) -> None:
    frames = RATE_HZ + 333
    decoded = _ffmpeg_decode(_encode(options, _noise(frames)), tmp_path, options, rate=RATE_HZ)
    if options.spec.codec == "aac":
        # Priming first, then the track, then padding to whole 1024-frame packets.
        assert decoded.shape[0] >= AAC_PRIMING_FRAMES + frames
        assert decoded.shape[0] <= AAC_PRIMING_FRAMES + frames + 2 * 1024
    elif output_sample_rate(options, RATE_HZ) != RATE_HZ:
        assert abs(decoded.shape[0] - frames) <= RESAMPLED_SLACK_FRAMES
    else:
        assert decoded.shape[0] == frames


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=IDS)
def test_bytes_identical_for_any_block_size(options: CodecOptions) -> None:
    x = _noise(FEED_FRAMES * 2 + 777)
    whole = _encode(options, x)
    for block in (1, 777, 8192):
        assert _encode(options, x, block) == whole, f"block {block}"


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=IDS)
def test_output_carries_no_library_version_or_time(options: CodecOptions) -> None:
    data = _encode(options, _noise(5000))
    for marker in (b"Lavf", b"Lavc", b"libopus 1", b"encoder"):
        assert marker not in data, marker


@pytest.mark.parametrize("bits", [16, 24])
def test_flac_is_lossless_after_quantisation(bits: int, tmp_path: Path) -> None:
    x = _noise(10_000, level=0.1)  # peaks near 0.5: no clipping
    options = CodecOptions("flac", flac_bits=bits)
    decoded = _ffmpeg_decode(_encode(options, x), tmp_path, options)
    lsb = 2.0 ** (1 - bits)
    # 16-bit: TPDF dither of ±1 LSB plus rounding; 24-bit: rounding only.
    tolerance = 1.5 * lsb if bits == 16 else 0.5 * lsb + 1e-12
    assert np.max(np.abs(decoded - x)) <= tolerance


def test_mp3_tag_frame_trims_to_the_sample(tmp_path: Path) -> None:
    """The LAME tag frame's delay/padding put the first decoded sample on the source's first."""
    frames = 20_000
    x = np.zeros((frames, 2))
    x[5000] = 0.8  # an impulse: its position after decoding shows any offset
    options = CodecOptions("mp3")
    decoded = _ffmpeg_decode(_encode(options, x), tmp_path, options)
    assert decoded.shape[0] == frames
    assert int(np.argmax(np.abs(decoded[:, 0]))) == 5000


def test_lame_tag_frame_fields() -> None:
    frames = 100_000
    tag = lame_info_frame(samples=frames, sample_rate=48_000, channels=2, bit_rate_kbps=256,
                          vbr=False)
    assert len(tag) == 384  # one 128 kbit/s MPEG-1 frame at 48 kHz
    at = tag.index(b"Info")
    flags, count = struct.unpack_from(">II", tag, at + 4)
    assert flags == 1 and count == lame_frame_count(frames)
    delay_padding = int.from_bytes(tag[at + 12 + 21:at + 12 + 24], "big")
    assert delay_padding >> 12 == LAME_ENCODER_DELAY
    assert (delay_padding & 0xFFF) == count * MP3_FRAME_SAMPLES - LAME_ENCODER_DELAY - frames


def test_mp4_header_carries_an_edit_list_for_the_priming() -> None:
    frames = 30_000
    data = _encode(CodecOptions("mp4_aac"), _noise(frames))
    at = data.index(b"elst")
    _, _, segment_frames, media_time = struct.unpack_from(">IIIi", data, at + 4)
    assert (segment_frames, media_time) == (frames, AAC_PRIMING_FRAMES)
    mvhd = data.index(b"mvhd")
    assert struct.unpack_from(">I", data, mvhd + 16)[0] == RATE_HZ  # movie time scale


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=IDS)
def test_self_decoded_values_match_ffmpegs_decode(options: CodecOptions, tmp_path: Path) -> None:
    """What the summary meters (the packets decoded again) is what ffmpeg decodes."""
    x = _noise(20_000, level=0.2)
    writer = CodecWriter(options, RATE_HZ, 2, total_frames=x.shape[0])
    data = writer.encode(x)
    parts = [writer.decoded]
    data += writer.finish()
    parts.append(writer.decoded)
    mine = np.concatenate(parts)
    theirs = _ffmpeg_decode(data, tmp_path, options, rate=writer.output_rate)
    if options.spec.codec == "aac":  # ffmpeg does not trim AAC's priming here
        theirs = theirs[AAC_PRIMING_FRAMES:AAC_PRIMING_FRAMES + writer.output_frames]
    assert mine.shape[0] == writer.output_frames == theirs.shape[0]
    np.testing.assert_allclose(mine, theirs, atol=1e-6)


@pytest.mark.parametrize(("rate", "fmt", "expected"), [
    (44_100, "ogg_opus", 48_000), (96_000, "mp3", 48_000), (88_200, "mp3", 44_100),
    (22_050, "mp3", 44_100), (32_000, "mp3", 32_000), (192_000, "mp4_aac", 48_000),
    (96_000, "adts_aac", 96_000), (192_000, "flac", 192_000),
])
def test_output_rate_is_one_the_codec_has(rate: int, fmt: str, expected: int) -> None:
    assert output_sample_rate(CodecOptions(fmt), rate) == expected


@pytest.mark.parametrize(("options", "message"), [
    (CodecOptions("flac", bit_rate_kbps=500), "does not apply"),
    (CodecOptions("ogg_opus", bit_rate_kbps=5), "between 6 and 510"),
    (CodecOptions("mp3", bit_rate_kbps=321), "between 32 and 320"),
    (CodecOptions("mp4_aac", bit_rate_kbps=128), "between 192 and 512"),
    (CodecOptions("flac", flac_bits=32), "16 or 24"),
    (CodecOptions("mp4_aac", mp3_vbr=True), "MP3 only"),
    (CodecOptions("vorbis"), "format must be one of"),
])
def test_options_out_of_range_are_refused(options: CodecOptions, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_options(options)


_SIGNALS = st.sampled_from(["silence", "noise", "full_scale", "dc"])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(sorted(FORMATS)), kind=_SIGNALS,
       frames=st.integers(min_value=1, max_value=3 * FEED_FRAMES),
       channels=st.sampled_from([1, 2]), rate=st.sampled_from([44_100, 48_000, 32_000]))
def test_random_short_signals_always_give_a_valid_file(
    fmt: str, kind: str, frames: int, channels: int, rate: int, tmp_path: Path,
) -> None:
    if kind == "silence":
        x = np.zeros((frames, channels))
    elif kind == "noise":
        x = _noise(frames, channels, level=0.3, seed=frames)
    elif kind == "full_scale":
        x = np.sign(_noise(frames, channels, seed=frames))  # ±1: the hardest for every codec
    else:
        x = np.full((frames, channels), 0.9)
    options = CodecOptions(fmt)
    output_rate = output_sample_rate(options, rate)
    # A resampled file is judged at its own rate: ffmpeg's resampler back to the input rate
    # drops a file of two or three frames whole, whatever the file holds.
    decoded = _ffmpeg_decode(_encode(options, x, rate=rate), tmp_path, options, channels,
                             None if output_rate != rate else rate)
    assert np.all(np.isfinite(decoded))
    if options.spec.codec == "aac":
        assert AAC_PRIMING_FRAMES + frames <= decoded.shape[0] <= AAC_PRIMING_FRAMES + frames + 2048
    elif output_rate != rate:
        expected = frames * output_rate / rate
        assert abs(decoded.shape[0] - expected) <= RESAMPLED_SLACK_FRAMES
    else:
        assert decoded.shape[0] == frames


def test_flac_header_carries_the_total_sample_count(tmp_path: Path) -> None:
    frames = 12_345
    options = CodecOptions("flac")
    path = tmp_path / "total.flac"
    path.write_bytes(_encode(options, _noise(frames)))
    probed = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=duration_ts",
                             "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    assert int(probed.stdout.strip()) == frames


@pytest.mark.parametrize(("options", "headroom_db"), [
    (CodecOptions("flac"), 0.0), (CodecOptions("ogg_opus"), 0.6),
    (CodecOptions("ogg_opus", bit_rate_kbps=96), 0.7),
    (CodecOptions("ogg_opus", bit_rate_kbps=256), 0.6),
    (CodecOptions("mp3"), 0.1), (CodecOptions("mp3", bit_rate_kbps=128), 0.3),
    (CodecOptions("mp4_aac"), 0.9), (CodecOptions("adts_aac", bit_rate_kbps=320), 0.9),
])
def test_limiter_headroom_follows_the_measured_table(options: CodecOptions,
                                                     headroom_db: float) -> None:
    """Below a format's default bit rate the low-rate figure applies (it overshoots more)."""
    assert options.headroom_db == headroom_db
