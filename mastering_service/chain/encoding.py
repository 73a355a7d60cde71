"""PCM encoding of the mastered float signal, and the WAV header that makes a RAW stream a file.

Encodings (little-endian, interleaved):

- ``s16`` — TPDF dither of ±1 LSB (triangular, the difference of two uniform variables), then
  rounding and clipping. The dither is a pure function of (``dither_seed``, absolute sample
  index), computed by an integer hash, so the bytes do not depend on how the track was cut into
  blocks. Samples below half a 24-bit LSB (what a 24-bit file stores as zero) count as digital
  silence and are not dithered: silence stays all-zero, including the inaudible tails filters
  leave after a track stops.
- ``s24`` — rounding and clipping, packed in 3 bytes.
- ``f32`` — clipped to [−1, 1], IEEE float32.
"""

from __future__ import annotations

import struct

import numpy as np
from numpy.typing import NDArray

from mastering_service.chain.stage import Block, check_channels
from shared._kernels import encode_s16
from shared.blocks import as_block

ENCODINGS = ("s16", "s24", "f32")
BYTES_PER_SAMPLE = {"s16": 2, "s24": 3, "f32": 4}
#: |x| below this is digital silence: half an LSB of 24-bit PCM (−144.5 dBFS).
SILENCE_THRESHOLD = 2.0**-24
#: Full scale of the integer encodings (a sample of 1.0 maps here, then clips to max − 1).
S16_SCALE = 2.0**15
S24_SCALE = 2.0**23
#: Two 16-bit uniforms per 32-bit hash: the dither resolution is 2⁻¹⁶ LSB.
_UNIFORM_BITS = 16


def _hash32(keys: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """Integer finaliser "lowbias32" (C. Wellons, hash-prospector): a bijection on uint32 whose
    output bits pass avalanche tests, so consecutive indices give independent-looking values."""
    h = keys ^ (keys >> np.uint32(16))
    h *= np.uint32(0x7FEB352D)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x846CA68B)
    h ^= h >> np.uint32(16)
    return h


def _first_key(seed: int, start_frame: int, channels: int) -> int:
    """Hash key of the first sample of absolute frame ``start_frame`` (then one per sample)."""
    seed_key = int(_hash32(np.array([seed & 0xFFFFFFFF], dtype=np.uint32))[0])
    return (start_frame * channels + seed_key) & 0xFFFFFFFF


def tpdf_dither_lsb(seed: int, start_frame: int, frames: int, channels: int) -> NDArray[np.float64]:
    """TPDF dither in LSB, shape ``(frames, channels)``, values in (−1, 1), for absolute frames
    ``start_frame …`` (sample index = frame · channels + channel, modulo 2³²)."""
    keys = np.arange(frames * channels, dtype=np.uint32)
    keys += np.uint32(_first_key(seed, start_frame, channels))
    h = _hash32(keys)
    high = (h >> np.uint32(_UNIFORM_BITS)).astype(np.int32)
    low = (h & np.uint32((1 << _UNIFORM_BITS) - 1)).astype(np.int32)
    dither = (high - low) * (1.0 / (1 << _UNIFORM_BITS))
    return np.asarray(dither.reshape(frames, channels), dtype=np.float64)


class Encoder:
    """Float blocks → PCM bytes in ``encoding`` (``s16``, ``s24`` or ``f32``)."""

    def __init__(self, encoding: str, channels: int, dither_seed: int) -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
        self.encoding = encoding
        self.channels = check_channels(channels)
        self.dither_seed = int(dither_seed)
        self.bytes_per_frame = BYTES_PER_SAMPLE[encoding] * channels

    def encode(self, block: Block, start_frame: int) -> bytes:
        """PCM bytes of ``block``, whose first frame is absolute frame ``start_frame``."""
        x = as_block(block, self.channels)
        if x.shape[0] == 0:
            return b""
        if self.encoding == "s16":
            return self._s16(x, start_frame)
        if self.encoding == "s24":
            return self._s24(x)
        return np.clip(x, -1.0, 1.0).astype("<f4").tobytes()

    def _s16(self, x: Block, start_frame: int) -> bytes:
        # tpdf_dither_lsb's values, the silence rule, rounding and clipping in one compiled
        # loop, bit for bit (tests compare the two).
        out = np.empty(x.shape, dtype="<i2")
        encode_s16(x, _first_key(self.dither_seed, start_frame, self.channels), out)
        return out.tobytes()

    @staticmethod
    def _s24(x: Block) -> bytes:
        scaled = np.rint(x * S24_SCALE)
        np.clip(scaled, -S24_SCALE, S24_SCALE - 1.0, out=scaled)
        as_bytes = scaled.astype("<i4").view(np.uint8).reshape(-1, 4)
        return as_bytes[:, :3].tobytes()


def decode_pcm(pcm: bytes, encoding: str, channels: int) -> Block:
    """The inverse of ``Encoder.encode``: interleaved little-endian PCM back to float64
    ``(frames, channels)``, as a player would read it (the engine meters what it sent this way)."""
    if encoding == "s16":
        # One pass: the scale is a power of two, so the product is the exact quotient.
        values: Block = np.multiply(np.frombuffer(pcm, dtype="<i2"), 1.0 / S16_SCALE,
                                    dtype=np.float64)
    elif encoding == "s24":
        raw = np.frombuffer(pcm, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        packed = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        signed = packed - ((packed & 0x800000) << 1)
        values = signed.astype(np.float64) / S24_SCALE
    elif encoding == "f32":
        values = np.frombuffer(pcm, dtype="<f4").astype(np.float64)
    else:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    return values.reshape(-1, channels)


# --- WAV header ----------------------------------------------------------------------------------

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
#: KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: the format tag followed by a fixed GUID tail.
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
#: Speaker masks (WAVEFORMATEXTENSIBLE dwChannelMask) of the usual layouts; others unassigned.
CHANNEL_MASKS = {
    1: 0x4,  # FC
    2: 0x3,  # FL FR
    3: 0x7,  # FL FR FC
    4: 0x33,  # FL FR BL BR
    5: 0x37,  # FL FR FC BL BR
    6: 0x3F,  # FL FR FC LFE BL BR (5.1)
    7: 0x13F,  # 5.1 + BC
    8: 0x63F,  # FL FR FC LFE BL BR SL SR (7.1)
}
#: RIFF sizes are 32-bit; a longer stream says "as large as possible", as streaming writers do.
_MAX_CHUNK_BYTES = 0xFFFFFFFF


def _chunk(tag: bytes, payload: bytes) -> bytes:
    return tag + struct.pack("<I", len(payload)) + payload


def wav_header(sample_rate: int, channels: int, encoding: str, frames: int) -> bytes:
    """Header of a WAV file holding ``frames`` frames of ``encoding`` PCM.

    Prefixed to the RAW stream of the same encoding it makes a valid .wav. Mono and stereo use
    the plain tags — PCM (1) for s16 and s24, IEEE float (3) for f32 — which every reader knows
    (libsndfile writes 24-bit stereo the same way; Python's ``wave`` before 3.12 reads nothing
    else). More than two channels use WAVE_FORMAT_EXTENSIBLE with a speaker mask, as Microsoft's
    WAVEFORMATEXTENSIBLE note requires. Float data carries the ``fact`` chunk that non-PCM formats
    must have. When the data size is odd, RIFF wants a pad byte after the data: ``wav_trailer``
    returns it.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    check_channels(channels)
    if sample_rate <= 0 or frames < 0:
        raise ValueError("sample_rate must be positive and frames non-negative")
    bytes_per_sample = BYTES_PER_SAMPLE[encoding]
    bits = 8 * bytes_per_sample
    block_align = bytes_per_sample * channels
    is_float = encoding == "f32"
    extensible = channels > 2
    tag = WAVE_FORMAT_IEEE_FLOAT if is_float else WAVE_FORMAT_PCM
    fmt = struct.pack(
        "<HHIIHH",
        WAVE_FORMAT_EXTENSIBLE if extensible else tag,
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        bits,
    )
    if extensible:
        sub_format = struct.pack("<H", tag) + _GUID_TAIL
        fmt += struct.pack("<HHI", 22, bits, CHANNEL_MASKS.get(channels, 0)) + sub_format
    elif is_float:
        fmt += struct.pack("<H", 0)  # cbSize: no extension
    chunks = _chunk(b"fmt ", fmt)
    if is_float:
        chunks += _chunk(b"fact", struct.pack("<I", min(frames, _MAX_CHUNK_BYTES)))
    data_bytes = frames * block_align
    pad = data_bytes % 2
    riff_bytes = min(4 + len(chunks) + 8 + data_bytes + pad, _MAX_CHUNK_BYTES)
    return (
        b"RIFF"
        + struct.pack("<I", riff_bytes)
        + b"WAVE"
        + chunks
        + b"data"
        + struct.pack("<I", min(data_bytes, _MAX_CHUNK_BYTES))
    )


def wav_trailer(channels: int, encoding: str, frames: int) -> bytes:
    """The RIFF pad byte to send after the data when its size is odd (else nothing)."""
    return b"\x00" * ((frames * BYTES_PER_SAMPLE[encoding] * channels) % 2)
