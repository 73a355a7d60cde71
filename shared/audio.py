"""The one decoder: streamed block reads of every format FFmpeg decodes (through PyAV).

AAC and ALAC in MP4/M4A, Opus, Vorbis, MP3, FLAC, WMA, AIFF, WAV and whatever else the FFmpeg
libraries bundled with the ``av`` wheel know. Nothing reads a whole file into memory: callers
iterate ``AudioReader.blocks``. Samples come out as float64, shape ``(frames, channels)`` with
the file's own channel count (mono stays mono), whatever the decoder's sample format (s16, s32,
flt, dbl, planar or packed; integers scaled to [-1, 1)).

**Frame counts are what FFmpeg decodes**, after the encoder delay and padding the container
declares are trimmed (gapless), never a header's claim: ``info.frames`` is found by decoding the
last seconds of the stream (located by the container's claimed duration, or by demuxing the
packets when that claim lies beyond the end of a truncated file) and reading the end of the last
decoded frame from its timestamp. Where timestamps are not sample-exact (ASF/WMA counts in
milliseconds) the whole stream is decoded once to count. A caller that already knows the count
(the fingerprint's ``track_info.frames``, counted while fingerprinting the same content) passes
``known_frames`` and skips that work.

**Seeking is sample-exact**: ``blocks(start_frame=k)`` seeks to a key frame at least
``SEEK_PREROLL_S`` before ``k`` (so lapped-transform and bit-reservoir codecs have settled), decodes
and drops, and yields exactly what decoding from 0 and dropping ``k`` frames yields.

**Samples are cleaned**: NaN and ±Inf become 0, and finite samples beyond ±``SAMPLE_LIMIT`` full
scales are clamped to it, so a float file of ±3e38 decodes to a (very loud) finite signal whose
squares, summed over hours, stay far inside float64 and no meter or feature downstream can
produce NaN.

**Reads are bounded** by the file's size when it was opened: a file being appended to, or one that
never ends, cannot make a read run forever; only regular files are opened (never a FIFO or a
device), and through an open file object, so any path the OS accepts works whatever its length.

**soundfile reads PCM WAV and AIFF** (through libsndfile, integer PCM as integers scaled here,
float PCM straight into float64, with the same bounded file, cleaning and counts); FFmpeg
decodes everything else. Measured on a 4-min 44.1 kHz
stereo track, best of 3, same run, on the shared 2-core machine, single-threaded
(``python -m tests.benchmarks bench_decode``): PCM through PyAV took 0.21 s (WAV) and 0.50 s
(AIFF) against soundfile's 0.07 s and 0.13 s, hence the PCM path. For the compressed formats
soundfile was measured 0.4-2.3x the time of PyAV, varying from run to run: Opus 1.67 s vs
0.69 s, Vorbis 0.38 vs 0.45 s, MP3 0.23 vs 0.34 s, FLAC 0.24 vs 0.27 s in one run, FLAC 0.75 vs
0.40 s in another. FFmpeg stays for them anyway: libsndfile cannot read a FLAC without a total
sample count (what streaming encoders write: "Internal psf_fseek() failed"), misreads some Opus
files and (1.2.2) MP3s it wrote itself (issue 9), and cannot read AAC, ALAC or WMA at all; one
decoder for every compressed format keeps the counts and the seek semantics the same.

Seeking is bit-exact for every codec but one case: AAC with perceptual noise substitution (PNS,
on by default in ffmpeg's own AAC encoder) fills noise bands from a generator that runs across
the whole stream, so after a seek those bands hold different (equally loud) noise; the frame
position is still exact.
"""

from __future__ import annotations

import io
import itertools
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from shared._kernels import float_planes
from shared.blocks import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ
from shared.errors import UnsupportedAudio

#: Default analysis/render block: ~1.5 s at 44.1 kHz, large enough to amortise Python overhead,
#: small enough that a block of 8 float64 channels stays under 5 MB.
DEFAULT_BLOCK_FRAMES = 65_536

#: Decoded audio before a seek target that is thrown away: MP3's bit reservoir and synthesis
#: filter, AAC/Vorbis/Opus overlap and Opus's own 80 ms recommendation all settle well within it
#: (the seek tests compare against a decode from 0 bit for bit).
SEEK_PREROLL_S = 1.0

#: How much of the end of the stream is decoded to find where it ends: more than one packet of
#: any codec (the largest, FLAC's, is under 0.75 s at 44.1 kHz) plus the seek pre-roll.
TAIL_S = 2.0

#: Containers whose PCM libsndfile reads faster than FFmpeg (measured: see the module docstring).
SOUNDFILE_CONTAINERS = frozenset({"wav", "aiff"})

#: Leading bytes of the containers whose header alone describes the stream exactly (RIFF/RF64
#: WAVE, AIFF/AIFF-C): FFmpeg need not read packets to learn their parameters, which costs
#: 33 ms of a 4-min WAV's open (it decodes 0.9 MB of PCM to find what the header says).
_HEADER_DESCRIBED = ((b"RIFF", b"WAVE"), (b"RIFX", b"WAVE"), (b"RF64", b"WAVE"),
                     (b"BW64", b"WAVE"), (b"FORM", b"AIFF"), (b"FORM", b"AIFC"))
#: FFmpeg's smallest probe size (bytes): its stream-info search stops at once.
_SMALLEST_PROBE = "32"

#: Integer PCM subtypes read from libsndfile as integers (its short or int reads, full-scale)
#: and scaled to [-1, 1) here by a power of two: the same values as its own float64 read (which
#: divides by the same power of two), in 40 % of the time, its conversion loop being slower than
#: numpy's. Other subtypes are read as float64.
_PCM_INTEGER_READS: dict[str, tuple[type[np.integer[Any]], float]] = {
    "PCM_S8": (np.int16, 2.0**-15), "PCM_U8": (np.int16, 2.0**-15),
    "PCM_16": (np.int16, 2.0**-15), "PCM_24": (np.int32, 2.0**-31),
    "PCM_32": (np.int32, 2.0**-31),
}

#: How many decoded frames are searched for a pair whose timestamps agree (an anchor).
ANCHOR_SEARCH_FRAMES = 64

#: Largest sample magnitude let through, in full scales (+90 dBFS): far beyond any real float mix
#: (which rarely exceeds +24 dBFS), yet its square summed over an hour at 768 kHz stays below
#: 1e19, nowhere near float64's 1.8e308.
SAMPLE_LIMIT = 2.0**15

#: Longest decoder reason quoted in an error message (a corrupt file can make FFmpeg verbose).
MAX_REASON_CHARS = 200

AudioBlock = NDArray[np.float64]

#: Integer sample formats and the scale that maps them to [-1, 1); float formats pass as they are.
_INT_SCALE: dict[str, float] = {
    "u8": 1.0 / 128.0,
    "s16": 1.0 / 32_768.0,
    "s32": 1.0 / 2_147_483_648.0,
    "s64": 1.0 / 9_223_372_036_854_775_808.0,
}

#: NumPy type of one plane's samples, per FFmpeg sample format (without the planar "p").
_PLANE_DTYPE: dict[str, type[np.generic]] = {
    "u8": np.uint8,
    "s16": np.int16,
    "s32": np.int32,
    "s64": np.int64,
    "flt": np.float32,
    "dbl": np.float64,
}


@dataclass(frozen=True, slots=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int
    #: The codec as FFmpeg names it: "pcm_s16le", "flac", "vorbis", "opus", "aac", "mp3float", …
    codec: str
    #: The stream's bit rate in bit/s as the container or codec declares it (0 when unknown).
    bit_rate_bps: int = 0

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _reason(exc: BaseException) -> str:
    """The decoder's own reason, without any file name (which may be a server path)."""
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    reason = str(reason).strip().rstrip(".")[:MAX_REASON_CHARS]
    return f"cannot decode audio: {reason}"


#: What PyAV and the file layer raise for a file they cannot read.
_DECODE_ERRORS = (av.FFmpegError, OSError, EOFError, ValueError, IndexError)


class _BoundedFile(io.RawIOBase):
    """A read-only view of the first ``size`` bytes of an open file (or of bytes in memory)."""

    def __init__(self, raw: Any, size: int) -> None:
        super().__init__()
        self._raw = raw
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._position)
        if want <= 0:
            return 0
        self._raw.seek(self._position)
        got = self._raw.readinto(view[:want]) or 0
        self._position += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def descriptor(self) -> int | None:
        """The open file's descriptor (None for bytes in memory)."""
        return self._raw.fileno() if isinstance(self._raw, io.FileIO) else None

    def close(self) -> None:
        self._raw.close()
        super().close()


def _open_source(source: Path | bytes) -> _BoundedFile:
    """The source as a bounded file object; paths are opened here, never handed to FFmpeg."""
    if isinstance(source, bytes):
        return _BoundedFile(io.BytesIO(source), len(source))
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise UnsupportedAudio(f"cannot open audio: {exc.strerror}") from None
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        raise UnsupportedAudio("cannot decode audio: not a regular file")
    os.set_blocking(fd, True)
    return _BoundedFile(os.fdopen(fd, "rb", buffering=0), status.st_size)


def _open_container(file: _BoundedFile) -> Any:
    """FFmpeg's demuxer on ``file`` from its start; for a container whose header describes the
    stream (``_HEADER_DESCRIBED``), without the packet reads that would only confirm it."""
    file.seek(0)
    head = file.read(12) or b""
    file.seek(0)
    described = (head[:4], head[8:12]) in _HEADER_DESCRIBED
    options = {"probesize": _SMALLEST_PROBE} if described else {}
    return av.open(file, mode="r", options=options)


def _frame_planes(frame: Any, channels: int) -> tuple[NDArray[Any], float | None]:
    """One decoded frame as a ``(samples, channels)`` view in its own sample type, and the scale
    that maps it to full scale (None for float formats, which pass as they are)."""
    fmt = frame.format
    name = fmt.name.rstrip("p")
    dtype = _PLANE_DTYPE.get(name) if fmt.is_planar else None
    if dtype is None:
        data = frame.to_ndarray()
        samples = data.T if fmt.is_planar else data.reshape(-1, channels)
    else:
        # Each plane read in place, then one copy: half the cost of to_ndarray's vstack.
        count = int(frame.samples)
        samples = np.array([np.frombuffer(p, dtype, count) for p in frame.planes]).T
    if samples.shape[1] != channels:
        raise UnsupportedAudio("cannot decode audio: the channel count changes mid-stream")
    return samples, _INT_SCALE.get(name)


def _clean(block: AudioBlock) -> None:
    """NaN/Inf → 0 and magnitudes beyond ``SAMPLE_LIMIT`` clamped, in place."""
    if not np.isfinite(block).all():
        np.nan_to_num(block, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(block, -SAMPLE_LIMIT, SAMPLE_LIMIT, out=block)


def _as_float_block(frame: Any, channels: int) -> AudioBlock:
    """A decoded frame (any sample format) as a new float64 ``(samples, channels)`` block."""
    if frame.format.name == "fltp":
        # What the lossy decoders give (Vorbis, Opus, AAC, MP3): planes to a cleaned block in
        # one compiled pass instead of a stack, a conversion and two cleaning passes.
        count = int(frame.samples)
        planes = [np.frombuffer(plane, np.float32, count) for plane in frame.planes]
        if len(planes) != channels:
            raise UnsupportedAudio("cannot decode audio: the channel count changes mid-stream")
        block = np.empty((count, channels))
        float_planes(planes, block, SAMPLE_LIMIT)
        return block
    samples, scale = _frame_planes(frame, channels)
    block = np.empty(samples.shape)
    if scale is None:
        block[...] = samples
        _clean(block)
    else:
        np.multiply(samples, scale, out=block, casting="unsafe")
        if samples.dtype == np.uint8:
            block -= 1.0  # unsigned 8-bit: 128 is the zero line
    return block


class _SampleQueue:
    """Decoded frames on their way to becoming blocks.

    Frames go into an FFmpeg sample FIFO (``av.AudioFifo``: one C copy each) and come out a
    block at a time, converted to float64 once per block: a compressed track decodes in frames
    of a few hundred samples, and per-frame conversions in numpy cost more than the decoding.
    Should the sample format change mid-stream, what the FIFO holds is converted and carried,
    and a new FIFO takes the new format.
    """

    def __init__(self, channels: int, sample_rate: int) -> None:
        self._channels = channels
        self._sample_rate = sample_rate
        self._fifo = av.AudioFifo()
        self._carried: list[AudioBlock] = []
        self._carried_frames = 0

    @property
    def frames(self) -> int:
        return self._carried_frames + int(self._fifo.samples)

    def put(self, frame: Any, skip: int = 0) -> None:
        """Queue ``frame`` without its first ``skip`` samples."""
        # The FIFO reads as many planes as its first frame had: a frame with another channel
        # count must never reach it. It compares the format and rate of every frame with its
        # first one's, so the rate is checked here only when a FIFO starts.
        if frame.layout.nb_channels != self._channels:
            raise UnsupportedAudio("cannot decode audio: the channel count changes mid-stream")
        frame.pts = None  # positions are counted here; the FIFO would check timestamps
        if not self._fifo.samples_written:
            self._check_rate(frame)
        try:
            self._fifo.write(frame)
        except ValueError:  # another rate (refused) or format: carry what the FIFO holds
            self._check_rate(frame)
            self._carry(self._fifo.read())
            self._fifo = av.AudioFifo()
            self._fifo.write(frame)
        if skip:
            # Only the first frame is cut (the part before a seek): nothing is carried yet.
            self._fifo.read(skip)

    def take(self, frames: int) -> AudioBlock:
        """The next ``frames`` samples (at most ``frames`` are queued) as a float64 block."""
        if not self._carried:
            return _as_float_block(self._fifo.read(frames), self._channels)
        parts: list[AudioBlock] = []
        need = frames
        while self._carried and need:
            head = self._carried[0]
            parts.append(head[:need])
            if head.shape[0] > need:
                self._carried[0] = head[need:]
            else:
                self._carried.pop(0)
            need -= parts[-1].shape[0]
        self._carried_frames -= frames - need
        if need:
            parts.append(_as_float_block(self._fifo.read(need), self._channels))
        return np.concatenate(parts)

    def _check_rate(self, frame: Any) -> None:
        if frame.sample_rate != self._sample_rate:
            raise UnsupportedAudio("cannot decode audio: the sample rate changes mid-stream")

    def _carry(self, frame: Any) -> None:
        if frame is not None:
            block = _as_float_block(frame, self._channels)
            self._carried.append(block)
            self._carried_frames += block.shape[0]


class _Pass:
    """One decode pass over a fresh demuxer, and its decoded frames."""

    def __init__(self, file: _BoundedFile) -> None:
        self.container: Any = _open_container(file)
        audio = self.container.streams.audio
        if not audio:
            self.container.close()
            raise UnsupportedAudio("cannot decode audio: the file has no audio stream")
        self.stream: Any = audio[0]
        self.stream.codec_context.thread_count = 1  # one thread per computation (2 cores)

    def frames(self) -> Iterator[Any]:
        """Decoded frames. A decode error in the file's last packet (one cut short where the
        file ends: a truncated file) ends the stream, as in ffmpeg; anywhere else it raises."""
        try:
            # PyAV's own demux-and-decode loop: no Python step per packet. (The sample queue
            # refuses a change of rate.)
            yield from self.container.decode(self.stream)
        except av.InvalidDataError:
            # The demuxer stands after the packet that failed: was it the last?
            following = next(self.container.demux(self.stream), None)
            if following is None or following.size == 0:
                return
            raise

    def seek(self, pts: int) -> None:
        self.container.seek(pts, backward=True, any_frame=False, stream=self.stream)

    def close(self) -> None:
        self.container.close()


class AudioReader:
    """An open track. Use as a context manager; iterate ``blocks()`` for samples."""

    def __init__(
        self,
        source: Path | bytes,
        *,
        max_channels: int | None = None,
        known_frames: int | None = None,
    ) -> None:
        self._file = _open_source(source)
        self._pcm: Any = None
        try:
            self.info = self._read_info(max_channels, known_frames)
        except UnsupportedAudio:
            self.close()
            raise
        except _DECODE_ERRORS as exc:
            self.close()
            raise UnsupportedAudio(_reason(exc)) from None

    # -- opening -----------------------------------------------------------------------------

    def _read_info(self, max_channels: int | None, known_frames: int | None) -> AudioInfo:
        with _open_container(self._file) as container:
            audio = container.streams.audio
            if not audio:
                raise UnsupportedAudio("cannot decode audio: the file has no audio stream")
            stream = audio[0]
            context = stream.codec_context
            channels = int(context.channels)
            sample_rate = int(context.sample_rate)
            codec = str(context.name)
            bit_rate_bps = int(stream.bit_rate or context.bit_rate or container.bit_rate or 0)
            claimed = _claimed_frames(stream, sample_rate)
            time_base = Fraction(stream.time_base) if stream.time_base else None
            pcm_file = container.format.name in SOUNDFILE_CONTAINERS and codec.startswith("pcm_")
        if sample_rate <= 0 or channels <= 0:
            raise UnsupportedAudio("cannot decode audio: no sample rate or channel count")
        if max_channels is not None and channels > max_channels:
            raise UnsupportedAudio(
                f"too many channels: {channels} (at most {max_channels} supported)"
            )
        if not MIN_SAMPLE_RATE_HZ <= sample_rate <= MAX_SAMPLE_RATE_HZ:
            # The meters, features and chain are designed for this range (shared.blocks): both
            # services refuse the same tracks the same way, before any work is done.
            raise UnsupportedAudio(
                f"unsupported sample rate: {sample_rate} Hz "
                f"(supported: {MIN_SAMPLE_RATE_HZ}–{MAX_SAMPLE_RATE_HZ} Hz)"
            )
        self._channels, self._sample_rate = channels, sample_rate
        self._pcm = _open_pcm(self._file) if pcm_file else None
        if self._pcm is not None:
            self._pcm_float = self._pcm.subtype in ("FLOAT", "DOUBLE")  # integers cannot overflow
            frames = known_frames if known_frames is not None else int(self._pcm.frames)
            if frames <= 0:
                raise UnsupportedAudio("cannot decode audio: the file has zero audio frames")
            return AudioInfo(sample_rate, channels, frames, codec, bit_rate_bps)
        #: Timestamp ticks per sample when timestamps count single samples (None otherwise:
        #: then positions come from decoding from 0 only).
        self._ticks_per_sample: int | None = None
        if time_base is not None:
            ticks = Fraction(1, sample_rate) / time_base
            if ticks.denominator == 1:
                self._ticks_per_sample = int(ticks)
        self._first_pts = self._find_first_pts() if self._ticks_per_sample else 0
        frames = known_frames if known_frames is not None else self._count_frames(claimed)
        if frames <= 0:
            raise UnsupportedAudio("cannot decode audio: the file has zero audio frames")
        return AudioInfo(sample_rate, channels, frames, codec, bit_rate_bps)

    def _pass(self) -> _Pass:
        return _Pass(self._file)

    def _find_first_pts(self) -> int:
        """The timestamp output frame 0 would carry, read off the first pair of consecutive
        decoded frames whose timestamps agree with their lengths (some demuxers, Ogg/Vorbis
        among them, estimate a few packets' timestamps; an agreeing pair is exact). Leaves
        ``_ticks_per_sample`` None when no such pair turns up."""
        decode = self._pass()
        try:
            anchored = self._anchor(decode.frames())
            if anchored is None:
                self._ticks_per_sample = None
                return 0
            counted, frame = anchored
            assert self._ticks_per_sample is not None
            return int(frame.pts) - counted * self._ticks_per_sample
        finally:
            decode.close()

    def _anchor(self, frames: Iterator[Any]) -> tuple[int, Any] | None:
        """(samples decoded before it, frame): the first frame whose timestamp agrees with the
        one before it, within ``ANCHOR_SEARCH_FRAMES``; None if there is none."""
        ticks = self._ticks_per_sample
        previous: Any = None
        counted = 0
        for _ in range(ANCHOR_SEARCH_FRAMES):
            frame = next(frames, None)
            if frame is None or frame.pts is None or ticks is None:
                return None
            if previous is not None:
                counted += int(previous.samples)
                if previous.pts + previous.samples * ticks == frame.pts:
                    return counted, frame
            previous = frame
        return None

    def _index(self, frame: Any) -> int:
        """Output frame index of a decoded frame's first sample, from its timestamp."""
        assert self._ticks_per_sample is not None
        return (int(frame.pts) - self._first_pts) // self._ticks_per_sample

    def _count_frames(self, claimed: int | None) -> int:
        """What decodes: the end of the last decoded frame, from an exact timestamp near it,
        or the whole stream decoded once when timestamps are not sample-exact."""
        if self._ticks_per_sample:
            # The demux-only pass over the whole file runs only when the claim does not lead
            # to the end.
            guesses: tuple[Callable[[], int | None], ...] = (
                lambda: claimed,
                self._last_packet_frame,
            )
            for guess in guesses:
                near = guess()
                if near is not None:
                    end = self._end_after(near)
                    if end is not None:
                        return end
        total = 0
        decode = self._pass()
        try:
            for frame in decode.frames():
                total += int(frame.samples)
        finally:
            decode.close()
        return total

    def _end_after(self, near_frame: int) -> int | None:
        """Seek to ``TAIL_S`` before ``near_frame`` and decode to the end: the end's frame
        index, or None when nothing decodes from there (it lies beyond a truncated end)."""
        decode = self._pass()
        try:
            target = max(0, near_frame - round(TAIL_S * self._sample_rate))
            if target > 0:
                decode.seek(self._pts_of(target))
            frames = decode.frames()
            anchored = self._anchor(frames)
            if anchored is None:
                return None
            end = self._index(anchored[1]) + int(anchored[1].samples)
            for frame in frames:
                end += int(frame.samples)
            return end
        finally:
            decode.close()

    def _last_packet_frame(self) -> int | None:
        """Frame index of the last packet, by demuxing only (no decoding)."""
        decode = self._pass()
        try:
            last: int | None = None
            for packet in decode.container.demux(decode.stream):
                if packet.pts is not None and packet.size:
                    last = int(packet.pts)
            if last is None or self._ticks_per_sample is None:
                return None
            return max(0, (last - self._first_pts) // self._ticks_per_sample)
        finally:
            decode.close()

    def _pts_of(self, frame_index: int) -> int:
        assert self._ticks_per_sample is not None
        return self._first_pts + frame_index * self._ticks_per_sample

    # -- reading -----------------------------------------------------------------------------

    def blocks(
        self,
        block_frames: int = DEFAULT_BLOCK_FRAMES,
        start_frame: int = 0,
        stop_frame: int | None = None,
    ) -> Iterator[AudioBlock]:
        """Yield float64 blocks of shape ``(n, channels)`` from ``start_frame`` to ``stop_frame``.

        Every block but the last has ``block_frames`` frames. Raises ``UnsupportedAudio`` on a
        decode error, or when the stream ends before ``info.frames`` (data missing mid-stream:
        a damaged file).
        """
        if block_frames <= 0:
            raise ValueError("block_frames must be positive")
        stop = self.info.frames if stop_frame is None else min(stop_frame, self.info.frames)
        start = max(0, start_frame)
        if start >= stop:
            return
        try:
            if self._pcm is not None:
                yield from self._pcm_blocks(block_frames, start, stop)
            else:
                yield from self._blocks(block_frames, start, stop)
        except (*_DECODE_ERRORS, sf.LibsndfileError) as exc:
            raise UnsupportedAudio(_reason(exc)) from None

    def _pcm_blocks(self, block_frames: int, start: int, stop: int) -> Iterator[AudioBlock]:
        """PCM WAV/AIFF through libsndfile: integer PCM read as its own integers and scaled
        here, float PCM straight into float64."""
        self._pcm.seek(start)
        position = start
        integer_type, scale = _PCM_INTEGER_READS.get(self._pcm.subtype, (None, 1.0))
        buffer = None if integer_type is None else np.empty(
            (min(block_frames, stop - start), self._channels), dtype=integer_type)
        while position < stop:
            want = min(block_frames, stop - position)
            if buffer is None:
                block = self._pcm.read(want, dtype="float64", always_2d=True)
            else:
                raw = self._pcm.read(want, dtype=buffer.dtype.name, always_2d=True,
                                     out=buffer[:want])
                block = np.multiply(raw, scale)
            if block.shape[0] == 0:
                self._ended_early(position)
            if self._pcm_float:
                _clean(block)
            position += block.shape[0]
            yield block

    def _ended_early(self, reached: int) -> None:
        raise UnsupportedAudio(
            f"cannot decode audio: the stream ends at frame {reached}, before its length "
            f"of {self.info.frames} frames (data is missing: the file is damaged)"
        )

    def _blocks(self, block_frames: int, start: int, stop: int) -> Iterator[AudioBlock]:
        decode, position, frames = self._frames_from(start)
        queue = _SampleQueue(self._channels, self._sample_rate)
        emitted = queued = start
        try:
            # One step per decoded frame (a few hundred samples): kept lean.
            for frame in frames:
                end = position + frame.samples
                if end > start and end > position:  # (a frame may be empty)
                    queue.put(frame, skip=start - position if position < start else 0)
                    queued = end
                position = end
                while queued - emitted >= block_frames and stop - emitted >= block_frames:
                    yield queue.take(block_frames)
                    emitted += block_frames
                if position >= stop:
                    break
        finally:
            decode.close()
        last = min(queued, stop) - emitted
        if last > 0:
            yield queue.take(last)
        if max(position, start) < stop:
            self._ended_early(max(position, start))

    def _frames_from(self, start: int) -> tuple[_Pass, int, Iterator[Any]]:
        """A decode pass, and its frames from the one holding ``start`` on (or from earlier)
        with the output index of the first.

        Seeks when timestamps are sample-exact and ``start`` lies beyond the pre-roll; decodes
        from 0 otherwise, or when the demuxer lands after the pre-roll's start."""
        preroll = round(SEEK_PREROLL_S * self._sample_rate)
        if self._ticks_per_sample is None or start <= preroll:
            decode = self._pass()
            return decode, 0, decode.frames()
        decode = self._pass()
        decode.seek(self._pts_of(start - preroll))
        frames = decode.frames()
        anchored = self._anchor(frames)
        if anchored is None or self._index(anchored[1]) > start:
            decode.close()
            decode = self._pass()
            return decode, 0, decode.frames()
        return decode, self._index(anchored[1]), itertools.chain([anchored[1]], frames)

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        if self._pcm is not None:
            self._pcm.close()
        self._file.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _open_pcm(file: _BoundedFile) -> Any:
    """libsndfile on the same file, or None when it does not read this PCM variant (then FFmpeg
    decodes it). An open file is read through its descriptor: libsndfile then reads in its own
    buffers instead of calling back into Python every 8 KiB (0.03 s of a 4-min WAV), and stops
    at the frame count it found when opening, which the file's size then bounded."""
    file.seek(0)
    descriptor = file.descriptor()
    if descriptor is not None:
        os.lseek(descriptor, 0, os.SEEK_SET)
    try:
        return sf.SoundFile(file if descriptor is None else descriptor, mode="r", closefd=False)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None


def _claimed_frames(stream: Any, sample_rate: int) -> int | None:
    """The container's claimed length in frames, or None when it claims nothing."""
    if stream.duration is None or stream.time_base is None:
        return None
    return round(Fraction(stream.duration) * Fraction(stream.time_base) * sample_rate)


def open_audio(
    source: Path | bytes, *, max_channels: int | None = None, known_frames: int | None = None
) -> AudioReader:
    """Open a file path or an in-memory encoded file for streamed decoding.

    ``known_frames``: the track's exact decoded frame count when the caller already has it (the
    fingerprint's ``track_info.frames`` for the same content); it saves finding the end.
    """
    return AudioReader(source, max_channels=max_channels, known_frames=known_frames)


def probe(source: Path | bytes, *, max_channels: int | None = None) -> AudioInfo:
    """Sample rate, channels, exact decoded frames, codec and bit rate (no full decode)."""
    with open_audio(source, max_channels=max_channels) as reader:
        return reader.info
