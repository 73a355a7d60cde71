"""Gapless information for streamed MP3 and MP4: the encoder delay and padding, written up front.

A streaming muxer cannot seek back to fill in what it only learns at the end, so FFmpeg leaves
these out of a non-seekable stream. The mastering stream knows its length before the first
sample, so both can be written at the start, as pure functions of that length:

* **MP3** — a LAME "Info"/"Xing" frame (the format of the LAME tag, rev. 0, as documented by
  the LAME project and read by FFmpeg, foobar2000, Rockbox, iTunes): the frame count and the
  encoder delay and padding, so a decoder trims the 1105 leading and the trailing padding
  samples. The byte count, seek table and music CRC are unknown up front and left out (their
  flags unset; the music length and CRC fields are 0, meaning unknown).
* **FLAC** — STREAMINFO's total sample count (the MD5 and frame sizes stay 0, "unknown", as the
  format allows).
* **MP4** — an edit list (ISO/IEC 14496-12 §8.6.6) in the fragmented file's initial ``moov``:
  the media starts after the AAC encoder's 1024 priming frames and lasts exactly the track. The
  movie time scale is set to the sample rate so that length is exact to the frame.
"""

from __future__ import annotations

import math
import struct

#: MPEG-1 Layer III frame: 1152 samples.
MP3_FRAME_SAMPLES = 1152
#: LAME's own encoder delay (the tag's "start padding"); decoders add the 529-sample MDCT delay
#: themselves (576 + 529 = 1105, what FFmpeg reports as libmp3lame's initial padding).
LAME_ENCODER_DELAY = 576
#: The MP3 decoder's own delay (the synthesis filter bank), which every decoder adds.
MP3_DECODER_DELAY = 529
#: The frames LAME emits for n samples: ceil(n / 1152) + 1 (the flush frame carries the delay's
#: tail) — measured for n from 1 to 100 000 at 32, 44.1 and 48 kHz, CBR and ABR.
LAME_EXTRA_FRAMES = 1
#: The tag frame is a 128 kbit/s MPEG-1 frame: at 48 kHz, 384 bytes, room for side info and tag.
_TAG_FRAME_BITRATE_INDEX = 9
_TAG_FRAME_BIT_RATE_BPS = 128_000
#: LAME tag "VBR method" nibble: 1 = CBR, 2 = ABR.
_LAME_METHOD_CBR = 1
_LAME_METHOD_ABR = 2
#: Xing flag: the frame count is present.
_XING_FLAG_FRAMES = 0x1
#: Layer III side information size after the 4-byte header (MPEG-1): stereo 32, mono 17 bytes.
_SIDE_INFO_BYTES = {1: 17, 2: 32}
#: 9-byte encoder string of the LAME tag (the libmp3lame release PyAV's FFmpeg bundles).
_ENCODER_STRING = b"LAME3.100"

#: AAC (FFmpeg's encoder): frames of priming before the first real sample.
AAC_PRIMING_FRAMES = 1024


def lame_frame_count(samples: int) -> int:
    """Audio frames LAME produces for ``samples`` samples per channel (tag frame excluded)."""
    return math.ceil(samples / MP3_FRAME_SAMPLES) + LAME_EXTRA_FRAMES


def _crc16(data: bytes) -> int:
    """CRC-16 with polynomial 0x8005, reflected, initial value 0 (LAME's tag CRC)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def lame_info_frame(*, samples: int, sample_rate: int, channels: int, bit_rate_kbps: int,
                    vbr: bool) -> bytes:
    """The tag frame to put before LAME's first frame for a stream of ``samples`` samples.

    ``sample_rate`` must be an MPEG-1 rate (32, 44.1 or 48 kHz); ``channels`` 1 or 2.
    """
    rate_index = {44_100: 0, 48_000: 1, 32_000: 2}[sample_rate]
    frames = lame_frame_count(samples)
    padding = frames * MP3_FRAME_SAMPLES - LAME_ENCODER_DELAY - samples
    frame_bytes = 144 * _TAG_FRAME_BIT_RATE_BPS // sample_rate
    mode = 0b11 if channels == 1 else 0b01  # mono, or joint stereo as LAME writes
    header = bytes((0xFF, 0xFB, (_TAG_FRAME_BITRATE_INDEX << 4) | (rate_index << 2), mode << 6))
    tag = (b"Xing" if vbr else b"Info") + struct.pack(">II", _XING_FLAG_FRAMES, frames)
    lame = (
        _ENCODER_STRING
        + bytes((_LAME_METHOD_ABR if vbr else _LAME_METHOD_CBR, 0))  # revision 0, no lowpass
        + bytes(4 + 2 + 2 + 1)  # peak, radio and audiophile gain, encoding flags: unknown
        + bytes((min(bit_rate_kbps, 255),))
        + ((LAME_ENCODER_DELAY << 12) | padding).to_bytes(3, "big")
        + bytes(1 + 1 + 2)  # misc, MP3 gain, preset: none
        + bytes(4 + 2)  # music length and music CRC: unknown up front
    )
    body = header + bytes(_SIDE_INFO_BYTES[channels]) + tag + lame
    body += struct.pack(">H", _crc16(body))
    return body + bytes(frame_bytes - len(body))


def _box(data: bytes | bytearray, box_type: bytes, start: int, end: int) -> tuple[int, int]:
    """(offset, size) of the first ``box_type`` box among the siblings in ``data[start:end]``."""
    offset = start
    while offset + 8 <= end:
        size, found = struct.unpack_from(">I4s", data, offset)
        if size < 8:
            break
        if found == box_type:
            return offset, size
        offset += size
    raise ValueError(f"no {box_type.decode()} box in the MP4 header")


def mp4_init_end(data: bytes) -> int | None:
    """Length of the ``ftyp`` + ``moov`` prefix of a fragmented MP4, or None while incomplete."""
    offset = 0
    while offset + 8 <= len(data):
        size, box_type = struct.unpack_from(">I4s", data, offset)
        offset += size
        if box_type == b"moov":
            return offset if offset <= len(data) else None
    return None


def mp4_with_edit_list(init: bytes, *, frames: int, sample_rate: int,
                       priming_frames: int = AAC_PRIMING_FRAMES) -> bytes:
    """``init`` (``ftyp`` + ``moov`` of a one-track fragmented MP4) with an edit list that skips
    ``priming_frames`` and plays exactly ``frames``; the movie time scale becomes the rate."""
    data = bytearray(init)
    moov, moov_size = _box(data, b"moov", 0, len(data))
    mvhd, _ = _box(data, b"mvhd", moov + 8, moov + moov_size)
    if data[mvhd + 8] != 0:
        raise ValueError("only version-0 mvhd boxes are handled")
    struct.pack_into(">I", data, mvhd + 20, sample_rate)  # after version, creation, modification
    trak, trak_size = _box(data, b"trak", moov + 8, moov + moov_size)
    tkhd, tkhd_size = _box(data, b"tkhd", trak + 8, trak + trak_size)
    elst = struct.pack(">I4sIIIiHH", 28, b"elst", 0, 1, frames, priming_frames, 1, 0)
    edts = struct.pack(">I4s", 8 + len(elst), b"edts") + elst
    insert_at = tkhd + tkhd_size
    data[insert_at:insert_at] = edts
    struct.pack_into(">I", data, moov, moov_size + len(edts))
    struct.pack_into(">I", data, trak, trak_size + len(edts))
    return bytes(data)


#: FLAC stream: "fLaC", the STREAMINFO block header, then STREAMINFO, whose bytes 10–17 hold
#: sample rate (20 bits), channels − 1 (3), bits − 1 (5) and the total sample count (36).
_FLAC_RATE_TO_TOTAL_OFFSET = 4 + 4 + 10
_FLAC_TOTAL_BITS = 36
FLAC_HEADER_BYTES = _FLAC_RATE_TO_TOTAL_OFFSET + 8


def flac_with_total_samples(head: bytes, frames: int) -> bytes:
    """A FLAC stream's first ``FLAC_HEADER_BYTES`` or more, with STREAMINFO's total sample
    count set to ``frames`` (a streaming encoder leaves it 0, "unknown": players then show no
    duration and cannot seek by time)."""
    if head[:4] != b"fLaC" or len(head) < FLAC_HEADER_BYTES:
        raise ValueError("not the start of a FLAC stream")
    (packed,) = struct.unpack_from(">Q", head, _FLAC_RATE_TO_TOTAL_OFFSET)
    mask = (1 << _FLAC_TOTAL_BITS) - 1
    packed = (packed & ~mask) | (frames & mask)
    data = bytearray(head)
    struct.pack_into(">Q", data, _FLAC_RATE_TO_TOTAL_OFFSET, packed)
    return bytes(data)
