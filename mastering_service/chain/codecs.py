"""Compressed output: mastered float blocks in, the bytes of an encoded file out (FFmpeg via PyAV).

Formats (``FORMATS``): FLAC (16- or 24-bit, native FLAC container), Opus in Ogg (libopus),
MP3 (LAME, CBR or ABR-VBR), AAC (FFmpeg's native encoder) in fragmented MP4 or in ADTS. The
bytes ``CodecWriter.encode`` and ``finish`` return, concatenated, are one file a player opens.

How the stream stays a pure function of the signal:

* **Fixed grid** — whatever block sizes arrive, samples are handed to the encoder in frames of
  exactly ``FEED_FRAMES`` (``shared.blocks.GridBuffer`` carries the remainder), so the encoder,
  and with it every byte, never sees the caller's cut.
* **Bit-exact muxing** — container and encoder run with FFmpeg's ``bitexact`` flag: no library
  version strings, no creation time, a fixed Ogg serial number.
* **Non-seekable sink** — the muxer writes to an append-only buffer, so it never rewrites bytes
  it has handed out. What FFmpeg would have fixed up at the end by seeking back (FLAC's total
  sample count, MP3's LAME tag, MP4's edit list) is known from the stream's length before the
  first sample and written up front (``gapless``).

Opus runs at 48 kHz. Other rates are converted before the encoder by FFmpeg's libswresample
(``aresample``): a windowed-sinc polyphase filter, Kaiser window (β = 9), ``RESAMPLER_TAPS``
taps per phase, cut-off at 97 % of the lower Nyquist, exact rational phase count — fed on the
same fixed grid, so it is chunk-invariant too.

Lossy codecs overshoot: what a player decodes peaks higher than what went in. ``HEADROOM_DB``
holds, per format, how much lower the limiter must aim so the decoded stream still keeps the
ceiling; the figures were measured on the real-music corpus (see the table).

``CodecWriter`` also decodes its own packets as they are produced (``decoded``), so the stream
summary can measure what a player will hear, not what went into the encoder.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.packet import Packet
from numpy.typing import NDArray

from mastering_service.chain.encoding import Encoder
from mastering_service.chain.gapless import (
    AAC_PRIMING_FRAMES,
    FLAC_HEADER_BYTES,
    LAME_ENCODER_DELAY,
    MP3_DECODER_DELAY,
    flac_with_total_samples,
    lame_info_frame,
    mp4_init_end,
    mp4_with_edit_list,
)
from mastering_service.chain.stage import Block
from shared.blocks import GridBuffer, as_block

#: Frames per encoder feed: one fixed grid for every format, long enough to amortise PyAV's
#: per-frame overhead, a multiple of FLAC's default block size (4096) so FLAC frames are full.
FEED_FRAMES = 4096
#: Opus encodes at 48 kHz only (RFC 7845 allows others only as "original rate" metadata).
OPUS_SAMPLE_RATE_HZ = 48_000
#: Taps per polyphase branch of the resampler (FFmpeg's default is 32; 64 puts the alias
#: rejection past 100 dB with the Kaiser β = 9 window).
RESAMPLER_TAPS = 64
#: libswresample option string for the 48 kHz conversion (see the module docstring).
RESAMPLER_OPTIONS = f"filter_size={RESAMPLER_TAPS}:cutoff=0.97:filter_type=kaiser:kaiser_beta=9"
#: FFmpeg's AAC encoder's coefficient coder. Its default ("twoloop") now and then leaves
#: bursts of error of 0.4-0.9 full scale on loud, dense music (decoded true peaks 3-4 dB over
#: the input's on 3 of 8 corpus tracks mastered at -14 LUFS); "fast" stayed within 2.8 dB on
#: the same tracks at 128 and 192 kbit/s, and costs less time.
AAC_CODER = "fast"
#: FFmpeg flag set on both the muxer and the encoder: output a pure function of the input.
BITEXACT = "+bitexact"
#: Fragmented MP4 that streams: an empty moov first, then a moof+mdat per fragment.
FMP4_FLAGS = "+empty_moov+frag_keyframe+default_base_moof"
#: One fragment per second of audio: a player can start after a second, overhead stays ~1 %.
FMP4_FRAGMENT_US = 1_000_000


@dataclass(frozen=True)
class FormatSpec:
    """One output format: FFmpeg's muxer and encoder, and the limits of its options."""

    name: str
    muxer: str
    codec: str
    extension: str  # the file name extension players expect
    lossy: bool
    default_bit_rate_kbps: int | None  # None: lossless, no bit rate to choose
    bit_rate_range_kbps: tuple[int, int] | None
    #: How far under the requested ceiling the limiter aims so the *decoded* output keeps it:
    #: at the default bit rate or above, and below it.
    headroom_db: float
    low_rate_headroom_db: float


#: Limiter head-room per format, from the codec's true-peak overshoot: the decoded file's true
#: peak minus the lossless (FLAC) render's, both by ffmpeg ``ebur128=peak=true``, on corpus
#: tracks mastered at −14 LUFS / −1 dBTP (the fallback plan) — Opus and MP3 on 14 tracks at the
#: default bit rate and 7 at the low one, AAC (``AAC_CODER``) on 19 at both:
#:
#:   format          bit rate kbit/s   overshoot dB: median  worst            head-room dB
#:   ogg_opus        160 (default)                   0.3     1.0 (music002)   0.6
#:                    96                             0.5     1.1 (music012)   0.7
#:   mp3             256 (default)                   0.0     0.4 (music012)   0.1
#:                   128                             0.1     0.7 (music012)   0.3
#:   mp4/adts aac    192 (default)                   0.2     1.3 (music003)   0.9
#:                   128                             0.6     4.7 (music013)   refused
#:
#: head-room = worst − the 0.5 dB a lossy stream may exceed the ceiling by + 0.1 dB margin,
#: never under 0.1 dB for a lossy codec and, below the default rate, never under the default's.
#: Rates under the low one measured overshoot more and are not covered by the table. AAC
#: below 192 kbit/s is refused: FFmpeg's own encoder there can overshoot by more than any
#: head-room that keeps the loudness. FLAC needs none: its output is the dithered 16/24-bit
#: PCM whose true peak the limiter holds.
FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec("flac", "flac", "flac", "flac", False, None, None, 0.0, 0.0),
        FormatSpec("ogg_opus", "ogg", "libopus", "opus", True, 160, (6, 510), 0.6, 0.7),
        FormatSpec("mp3", "mp3", "libmp3lame", "mp3", True, 256, (32, 320), 0.1, 0.3),
        FormatSpec("mp4_aac", "mp4", "aac", "m4a", True, 192, (192, 512), 0.9, 0.9),
        FormatSpec("adts_aac", "adts", "aac", "aac", True, 192, (192, 512), 0.9, 0.9),
    )
}
FLAC_BITS = (16, 24)
#: The decoder FFmpeg's command line picks for each encoder's output (mp3float, not the
#: fixed-point mp3), so the stream summary measures what a player running FFmpeg hears.
DECODERS = {"flac": "flac", "libopus": "opus", "libmp3lame": "mp3float", "aac": "aac"}
#: MPEG-1 Layer III rates (1152 samples a frame), with their header index.
MP3_RATES_HZ = {44_100: 0, 48_000: 1, 32_000: 2}
#: Rates the AAC encoder takes (ISO 14496-3 sampling frequency index table).
AAC_RATES_HZ = (96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000,
                12_000, 11_025, 8_000)


@dataclass(frozen=True)
class CodecOptions:
    """What the caller asked for: a format of ``FORMATS`` and its options."""

    format: str
    bit_rate_kbps: int | None = None  # None: the format's default
    flac_bits: int = 16
    mp3_vbr: bool = False  # LAME's average-bit-rate VBR instead of CBR

    @property
    def spec(self) -> FormatSpec:
        return FORMATS[self.format]

    @property
    def headroom_db(self) -> float:
        """The limiter head-room for this format at this bit rate (see ``FORMATS``)."""
        spec = self.spec
        rate = self.effective_bit_rate_kbps
        if rate is not None and spec.default_bit_rate_kbps is not None \
                and rate < spec.default_bit_rate_kbps:
            return spec.low_rate_headroom_db
        return spec.headroom_db

    @property
    def effective_bit_rate_kbps(self) -> int | None:
        if not self.spec.lossy:
            return None
        return self.bit_rate_kbps if self.bit_rate_kbps is not None \
            else self.spec.default_bit_rate_kbps


def check_options(options: CodecOptions) -> None:
    """ValueError naming the option and its allowed values when ``options`` makes no sense."""
    if options.format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {options.format!r}")
    spec = options.spec
    if options.bit_rate_kbps is not None:
        if spec.bit_rate_range_kbps is None:
            raise ValueError(f"bit_rate_kbps does not apply to lossless {spec.name}")
        low, high = spec.bit_rate_range_kbps
        if not low <= options.bit_rate_kbps <= high:
            raise ValueError(f"bit_rate_kbps for {spec.name} must be between {low} and {high}, "
                             f"not {options.bit_rate_kbps}")
    if options.flac_bits not in FLAC_BITS:
        raise ValueError(f"FLAC bit depth must be 16 or 24, not {options.flac_bits}")
    if options.mp3_vbr and spec.name != "mp3":
        raise ValueError("VBR mode applies to MP3 only")


def codec_options(container: str, encoding: str, bit_rate_kbps: int | None,
                  mp3_vbr: bool) -> CodecOptions | None:
    """The encoder options a request's container, encoding (FLAC's bit depth: ``s16`` or
    ``s24``), bit rate and MP3 mode ask for; None for the PCM containers."""
    if container not in FORMATS:
        return None
    return CodecOptions(container, bit_rate_kbps, flac_bits=24 if encoding == "s24" else 16,
                        mp3_vbr=mp3_vbr)


def output_headroom_db(container: str, bit_rate_kbps: int | None) -> float:
    """How far under the requested ceiling the limiter aims for ``container`` at that bit rate
    (0 for PCM and FLAC); a plan made for that lower ceiling counts the limiter's extra work."""
    if container not in FORMATS:
        return 0.0
    return CodecOptions(container, bit_rate_kbps).headroom_db


def output_sample_rate(options: CodecOptions, sample_rate: int) -> int:
    """The rate the encoded stream carries: the track's own where the codec has it, else the
    nearest family member (Opus is always 48 kHz; MP3 is kept to MPEG-1 rates, whose frames
    carry the gapless header)."""
    codec = options.spec.codec
    if codec == "libopus":
        return OPUS_SAMPLE_RATE_HZ
    if codec == "libmp3lame":
        if sample_rate in MP3_RATES_HZ:
            return sample_rate
        return 44_100 if sample_rate % 11_025 == 0 else 48_000
    if codec == "aac":
        return sample_rate if sample_rate in AAC_RATES_HZ else 48_000
    return sample_rate


class _AppendOnlySink:
    """The muxer's output: bytes collect here until ``take`` hands them out."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


class _Resampler:
    """Streaming libswresample conversion to ``rate_out`` (float64 packed in, float32 out)."""

    def __init__(self, rate_in: int, rate_out: int, channels: int) -> None:
        self._graph = av.filter.Graph()
        source = self._graph.add_abuffer(format="dbl", sample_rate=rate_in,
                                         layout=_layout(channels), time_base=Fraction(1, rate_in))
        resample = self._graph.add("aresample", f"{rate_out}:{RESAMPLER_OPTIONS}")
        convert = self._graph.add("aformat", "sample_fmts=flt")
        sink = self._graph.add("abuffersink")
        source.link_to(resample)
        resample.link_to(convert)
        convert.link_to(sink)
        self._graph.configure()

    def convert(self, frame: AudioFrame | None) -> Iterator[AudioFrame]:
        """Push ``frame`` (None: flush) and pull whatever the filter has ready."""
        self._graph.push(frame)
        while True:
            try:
                out = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            assert isinstance(out, AudioFrame)
            yield out


def _decoded_values(frame: AudioFrame, channels: int) -> NDArray[np.float64]:
    """A decoded frame as float64 ``(frames, channels)`` in [−1, 1]."""
    values = frame.to_ndarray().astype(np.float64)
    values = values.T if frame.format.is_planar else values.reshape(-1, channels)
    scale = {"s16": 2.0**15, "s16p": 2.0**15, "s32": 2.0**31, "s32p": 2.0**31}
    if frame.format.name in scale:
        values /= scale[frame.format.name]
    return values


class _PacketDecoder:
    """Decodes the encoder's packets again, as a player will, and keeps only the track: the
    encoder delay before it and the padding after it are dropped (``frames`` in all)."""

    def __init__(self, codec: str, rate: int, channels: int, extradata: bytes | None,
                 frames: int) -> None:
        decoder = av.CodecContext.create(DECODERS[codec], "r")
        assert isinstance(decoder, AudioCodecContext)
        decoder.sample_rate = rate
        decoder.layout = _layout(channels)
        if extradata:
            decoder.extradata = extradata
        self._decoder = decoder
        self._channels = channels
        # FFmpeg's Opus decoder drops the pre-skip it reads from the OpusHead itself.
        self._skip = {"libmp3lame": LAME_ENCODER_DELAY + MP3_DECODER_DELAY,
                      "aac": AAC_PRIMING_FRAMES}.get(codec, 0)
        self._left = frames
        self._parts: list[NDArray[np.float64]] = []

    def decode(self, data: bytes | None) -> None:
        """Decode one packet's bytes (None: flush the decoder)."""
        for frame in self._decoder.decode(None if data is None else Packet(data)):
            values = _decoded_values(frame, self._channels)
            drop = min(self._skip, values.shape[0])
            self._skip -= drop
            values = values[drop:drop + self._left]
            self._left -= values.shape[0]
            self._parts.append(values)

    def take(self) -> NDArray[np.float64]:
        """Everything decoded since the last call."""
        out = np.concatenate(self._parts) if self._parts else np.zeros((0, self._channels))
        self._parts = []
        return out


class CodecWriter:
    """Float blocks ``(frames, channels)`` at ``sample_rate`` → the encoded file's bytes.

    ``encode(block)`` returns whatever the muxer has written so far (often nothing: encoders
    and muxers buffer); ``finish()`` flushes encoder and muxer and returns the rest. After each
    call, ``decoded`` holds the float samples, at ``output_rate``, that a decoder makes of the
    packets produced by that call, with the encoder delay and padding trimmed as the container
    tells a player to: ``output_frames`` frames in all. ``total_frames`` (the stream's length,
    known before the first sample) goes into the gapless headers.
    """

    def __init__(self, options: CodecOptions, sample_rate: int, channels: int,
                 *, total_frames: int, dither_seed: int = 0, start_frame: int = 0) -> None:
        check_options(options)
        if channels not in (1, 2):
            raise ValueError(f"encoded output is mono or stereo, not {channels} channels")
        self.options = options
        self.channels = channels
        self.sample_rate = sample_rate
        self.output_rate = output_sample_rate(options, sample_rate)
        #: Frames a player decodes once the container's gapless information is applied.
        self.output_frames = expected_output_frames(total_frames, sample_rate, self.output_rate)
        spec = options.spec
        self._sink = _AppendOnlySink()
        self._container = av.open(self._sink, "w", format=spec.muxer,
                                  options=_container_options(spec))
        stream = self._container.add_stream(spec.codec, rate=self.output_rate,
                                            layout=_layout(channels))
        assert isinstance(stream, AudioStream)
        self._stream: AudioStream = stream
        codec = self._stream.codec_context
        bit_rate = options.effective_bit_rate_kbps
        if bit_rate is not None:
            codec.bit_rate = bit_rate * 1000
        codec.format = _encoder_sample_format(options)
        codec.options = _codec_options(options)
        #: Integer PCM (with the 16-bit dither) for FLAC; None for the float-fed lossy codecs.
        self._pcm: Encoder | None = (Encoder("s16" if options.flac_bits == 16 else "s24",
                                             channels, dither_seed)
                                     if spec.codec == "flac" else None)
        self._resampler = (_Resampler(sample_rate, self.output_rate, channels)
                           if self.output_rate != sample_rate else None)
        # Bytes held until the container header can be completed (FLAC, MP4), or to put before
        # the first byte (MP3's tag frame); None once the header is out (Ogg and ADTS need none).
        self._head: bytes | None = None if spec.muxer in ("ogg", "adts") else b""
        if spec.muxer == "mp3":
            assert bit_rate is not None
            self._head = lame_info_frame(samples=self.output_frames,
                                         sample_rate=self.output_rate, channels=channels,
                                         bit_rate_kbps=bit_rate, vbr=options.mp3_vbr)
        self._grid = GridBuffer(FEED_FRAMES, trailing_shape=(channels,))
        self._frames_in = 0  # frames fed to the encoder, at the input rate
        self._start_frame = start_frame  # absolute frame index of the first frame (dither)
        self._pts_out = 0
        self._decoder: _PacketDecoder | None = None
        self.decoded: NDArray[np.float64] = np.zeros((0, channels))
        self._finished = False
        self._container.start_encoding()  # the header even if no packet ever comes

    @property
    def encoder_delay_frames(self) -> int:
        """Leading frames a decoder that ignores the container's gapless information gives
        before the first real one: AAC's priming (ADTS has nowhere to say it; FFmpeg ignores an
        edit list in fragmented MP4). FLAC, Opus and MP3 trim themselves."""
        return AAC_PRIMING_FRAMES if self.options.spec.codec == "aac" else 0

    # feeding ----------------------------------------------------------------------------------

    def encode(self, block: Block) -> bytes:
        """Take ``block``; return the file's next bytes (possibly none yet)."""
        if self._finished:
            raise RuntimeError("encode after finish or close")
        for cell in self._grid.push(as_block(block, self.channels)):
            self._feed(cell)
        return self._take()

    def finish(self) -> bytes:
        """Flush the carried remainder, the resampler, the encoder and the muxer; the last
        bytes of the file."""
        if self._finished:
            return b""
        self._finished = True
        if self._grid.held:
            self._feed(self._grid.pending())
        if self._resampler is not None:
            for frame in self._resampler.convert(None):
                self._encode(frame)
            short = self.output_frames - self._pts_out
            if short > 0:  # a resampler gives nothing for a frame or two: pad with silence
                silence = np.zeros((1, short * self.channels), dtype=np.float32)
                self._encode(AudioFrame.from_ndarray(silence, format="flt",
                                                     layout=_layout(self.channels)))
        self._mux(self._stream.encode(None))
        if self._decoder is not None:
            self._decoder.decode(None)
        self._container.close()
        return self._take()

    def close(self) -> None:
        """Release the encoder without finishing the file (a cancelled stream)."""
        if not self._finished:
            self._finished = True
            with suppress(av.FFmpegError, ValueError):  # an unfinished file nobody wants
                self._container.close()

    def _feed(self, x: Block) -> None:
        """One grid step: ``x`` (at most FEED_FRAMES) into resampler or encoder."""
        frame = self._input_frame(x)
        frame.sample_rate = self.sample_rate
        if self._resampler is None:
            self._encode(frame)
        else:
            frame.pts = self._frames_in
            frame.time_base = Fraction(1, self.sample_rate)
            for out in self._resampler.convert(frame):
                self._encode(out)
        self._frames_in += x.shape[0]

    def _input_frame(self, x: Block) -> AudioFrame:
        layout = _layout(self.channels)
        if self._pcm is not None:  # FLAC: dithered/rounded integers
            pcm = self._pcm.encode(x, self._start_frame + self._frames_in)
            if self.options.flac_bits == 16:
                return AudioFrame.from_ndarray(np.frombuffer(pcm, dtype="<i2").reshape(1, -1),
                                               format="s16", layout=layout)
            raw = np.frombuffer(pcm, dtype=np.uint8).reshape(-1, 3)
            padded = np.zeros((raw.shape[0], 4), dtype=np.uint8)
            padded[:, 1:] = raw  # a 24-bit sample sits in the top bytes of FFmpeg's s32
            return AudioFrame.from_ndarray(padded.view("<i4").reshape(1, -1), format="s32",
                                           layout=layout)
        if self._resampler is not None:
            return AudioFrame.from_ndarray(np.ascontiguousarray(x.reshape(1, -1)),
                                           format="dbl", layout=layout)
        if _encoder_sample_format(self.options) == "fltp":
            return AudioFrame.from_ndarray(np.ascontiguousarray(x.T, dtype=np.float32),
                                           format="fltp", layout=layout)
        return AudioFrame.from_ndarray(np.ascontiguousarray(x.reshape(1, -1), dtype=np.float32),
                                       format="flt", layout=layout)

    def _encode(self, frame: AudioFrame) -> None:
        """Encode ``frame`` (at the output rate), never beyond ``output_frames`` in all: the
        encoded length is what a player's decoder trims to."""
        room = self.output_frames - self._pts_out
        if room <= 0:
            return
        if frame.samples > room:
            values = np.asarray(frame.to_ndarray()[:, :room * self.channels], dtype=np.float32)
            frame = AudioFrame.from_ndarray(np.ascontiguousarray(values), format="flt",
                                            layout=_layout(self.channels))
        frame.sample_rate = self.output_rate
        frame.pts = self._pts_out
        frame.time_base = Fraction(1, self.output_rate)
        self._pts_out += frame.samples
        self._mux(self._stream.encode(frame))

    def _mux(self, packets: list[Packet[AudioStream]]) -> None:
        for packet in packets:
            if packet.size:
                if self._decoder is None:  # the encoder's extradata exists once it has run
                    self._decoder = _PacketDecoder(
                        self.options.spec.codec, self.output_rate, self.channels,
                        self._stream.codec_context.extradata, self.output_frames)
                self._decoder.decode(bytes(packet))
            self._container.mux(packet)

    def _take(self) -> bytes:
        """The bytes written since the last call, with the gapless header put in place."""
        self.decoded = (self._decoder.take() if self._decoder is not None
                        else np.zeros((0, self.channels)))
        out = self._sink.take()
        if self._head is None:
            return out
        held = self._head + out
        muxer = self.options.spec.muxer
        if muxer == "flac":
            if len(held) < FLAC_HEADER_BYTES:
                self._head = held  # STREAMINFO not complete yet
                return b""
            held = flac_with_total_samples(held, self.output_frames)
        elif muxer == "mp4":
            init_end = mp4_init_end(held)
            if init_end is None:
                self._head = held  # moov not complete yet
                return b""
            held = mp4_with_edit_list(held[:init_end], frames=self.output_frames,
                                      sample_rate=self.output_rate) + held[init_end:]
        self._head = None
        return held


def _container_options(spec: FormatSpec) -> dict[str, str]:
    options = {"fflags": BITEXACT}
    if spec.muxer == "mp4":
        options |= {"movflags": FMP4_FLAGS, "frag_duration": str(FMP4_FRAGMENT_US)}
    if spec.muxer == "mp3":  # the gapless tag frame is ours (see ``gapless``); no ID3 tag
        options |= {"write_xing": "0", "id3v2_version": "0"}
    return options


def _codec_options(options: CodecOptions) -> dict[str, str]:
    codec_options = {"flags": BITEXACT}
    if options.spec.codec == "libmp3lame" and options.mp3_vbr:
        codec_options["abr"] = "1"
    if options.spec.codec == "aac":
        codec_options["aac_coder"] = AAC_CODER
    if options.spec.codec == "flac" and options.flac_bits == 24:
        codec_options["bits_per_raw_sample"] = "24"
    return codec_options


def _encoder_sample_format(options: CodecOptions) -> str:
    codec = options.spec.codec
    if codec == "flac":
        return "s16" if options.flac_bits == 16 else "s32"
    return "fltp" if codec in ("aac", "libmp3lame") else "flt"


def expected_output_frames(frames: int, sample_rate: int, output_rate: int) -> int:
    """Frames a decoder gives for ``frames`` input frames once delay and padding are trimmed
    (resampling rounds up, as libswresample's flush does)."""
    return math.ceil(frames * output_rate / sample_rate)
