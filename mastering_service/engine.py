"""The streaming renderer: decode → chain → encode, chunk by chunk (SPEC section 6).

How the invariants are kept:

* **Chunk invariance** — audio is decoded and processed in fixed internal quanta (a short
  first one, then ``QUANTUM_FRAMES``) whose grid depends only on where decoding starts, then
  encoded per quantum (the dither is a function of the seed and the absolute frame index) and
  the *bytes* are re-sliced into the requested chunks. The requested chunk size therefore never
  reaches the DSP: 1-frame chunks and whole-track chunks carry byte-identical PCM.
* **Exact length** — the chain's latency (the limiter's look-ahead) is compensated by dropping
  the first ``latency_frames`` processed frames and flushing the chain with as many zeros at the
  end; exactly ``frames − start`` frames are sent.
* **Seek** — decoding starts ``PREROLL_S`` (or the chain's longer ``settle_s``) before
  ``start_s`` so filter, dynamics and limiter state has settled when the first frame is sent;
  the pre-roll output is discarded.
* **Summary** — loudness and true peak are measured on the decoded values of the bytes that
  were actually sent (after quantisation and dither), only up to the last chunk handed out.
* **Encoded output** (FLAC, Opus, MP3, AAC: ``chain.codecs``) — the processed quanta go to a
  ``CodecWriter``, which feeds its encoder on its own fixed grid; each chunk is the bytes the
  muxer wrote while a quantum was encoded, so ``chunk_frames`` does not apply and the
  concatenation is the same file for any value of it. The limiter aims the codec's head-room
  under the ceiling so the decoded stream keeps it; the summary meters the writer's own decode
  of its packets, at the output rate.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import stat
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

from mastering_service.chain import Chain, build_chain
from mastering_service.chain.codecs import CodecOptions, CodecWriter, codec_options
from mastering_service.chain.encoding import (
    BYTES_PER_SAMPLE,
    Encoder,
    decode_pcm,
    wav_header,
    wav_trailer,
)
from mastering_service.forked_chain import ForkedChain
from mastering_service.plan import MasteringPlan
from mastering_service.request import check_seek
from shared.audio import AudioReader, open_audio
from shared.errors import UnsupportedAudio
from shared.loudness import LoudnessMeter
from shared.process import fork_is_safe

#: Frames per internal processing step: large enough to amortise the stages' per-call overhead
#: (a 4-min render costs 0.84 s of CPU at this size, 0.95 s at 32 768, 1.03 s at 16 384, 0.82 s
#: at 131 072), small enough to keep a stream's buffers under a few MB.
QUANTUM_FRAMES = 65_536
#: The first step is short, so the first chunk of an unseeked stream is ready in milliseconds.
FIRST_QUANTUM_FRAMES = 4096
#: Decoding starts at least this long before a seek position so every stage's state has
#: settled (longer when the chain says it needs longer: ``Chain.settle_s``).
PREROLL_S = 3.0
#: MasterTrack accepts at most stereo (SPEC section 3).
MAX_CHANNELS = 2

FloatBlock = NDArray[np.float64]


@dataclass(frozen=True)
class RenderOptions:
    encoding: str = "s16"
    start_s: float = 0.0
    chunk_frames: int = 16_384
    first_chunk_frames: int | None = None
    dither_seed: int = 0
    #: "raw", "wav", or an encoded format of ``chain.codecs.FORMATS`` ("flac", "ogg_opus", …)
    container: str = "raw"
    bit_rate_kbps: int | None = None  # lossy formats; None = the format's default
    mp3_vbr: bool = False

    @property
    def codec(self) -> CodecOptions | None:
        """The encoder's options, or None for PCM (RAW, WAV)."""
        return codec_options(self.container, self.encoding, self.bit_rate_kbps, self.mp3_vbr)


@dataclass(frozen=True)
class EncodedChunk:
    sequence: int
    start_frame: int  # first frame of the chunk in the output timeline (0 = start_s)
    frames: int
    pcm: bytes


@dataclass(frozen=True)
class RenderSummary:
    frames_sent: int
    output_lufs: float
    output_true_peak_dbtp: float
    bytes_sent: int = 0


class RenderStream:
    """An iterator of ``EncodedChunk`` over one track, mastered by ``plan``.

    Owns its reader. Iterate once; stop whenever you like (cancellation) and call ``close``.
    ``summary`` is the measurement of what was handed out so far.
    """

    def __init__(self, reader: AudioReader, plan: MasteringPlan, options: RenderOptions, *,
                 two_processes: bool = False) -> None:
        self._reader: AudioReader | None = reader
        self._two_processes = two_processes
        self._chain: Chain | None = None
        self._encoder: Encoder | None = None
        self._writer: CodecWriter | None = None
        self._frames_made = 0  # frames of the chunks made so far
        self._frames_sent = 0  # … and of those handed out (what the summary measures)
        self._bytes_sent = 0
        self._frames_metered = 0
        # Decoded values of encoded frames not yet metered (sent or about to be sent).
        self._unmetered: deque[FloatBlock] = deque()
        self._started = False
        #: The chunk iteration once started: ``close`` ends it (and a child it runs).
        self._made_batches: Generator[list[EncodedChunk], None, None] | None = None
        try:
            info = reader.info
            if info.channels > MAX_CHANNELS:
                raise UnsupportedAudio(
                    f"too many channels: {info.channels} (at most {MAX_CHANNELS} supported)"
                )
            self.sample_rate = info.sample_rate
            self.channels = info.channels
            self.start_frame = check_seek(options.start_s, info.sample_rate, info.frames)
            self.total_frames = info.frames - self.start_frame
            self.plan = plan
            self.options = options
            codec = options.codec
            self._chain = build_chain(_limited_for(plan, codec), info.sample_rate, info.channels)
            if codec is None:
                self._encoder = Encoder(options.encoding, info.channels, options.dither_seed)
            else:
                self._writer = CodecWriter(codec, info.sample_rate, info.channels,
                                           total_frames=self.total_frames,
                                           dither_seed=options.dither_seed,
                                           start_frame=self.start_frame)
        except BaseException:
            self.close()
            raise
        #: Rate of what is sent (Opus: 48 kHz; PCM and most codecs: the track's).
        self.output_sample_rate = (self._writer.output_rate if self._writer is not None
                                   else self.sample_rate)
        wav = options.container == "wav"
        self._prefix = (wav_header(self.sample_rate, self.channels, options.encoding,
                                   self.total_frames) if wav else b"")
        self._suffix = wav_trailer(self.channels, options.encoding, self.total_frames) if wav \
            else b""
        self._meter = LoudnessMeter(self.output_sample_rate, self.channels,
                                    measure_true_peak=True)

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.sample_rate

    @property
    def latency_frames(self) -> int:
        return self._chain.latency_frames if self._chain is not None else 0

    @property
    def codec_name(self) -> str:
        """What the bytes are: ``pcm_s16le``/``pcm_s24le``/``pcm_f32le``, ``flac``, ``opus``,
        ``mp3`` or ``aac``."""
        codec = self.options.codec
        if codec is None:
            return f"pcm_{self.options.encoding}le"
        return {"libopus": "opus", "libmp3lame": "mp3"}.get(codec.spec.codec, codec.spec.codec)

    @property
    def bit_rate_kbps(self) -> int:
        """Nominal bit rate: PCM's exact one, a lossy codec's target, 0 for FLAC."""
        codec = self.options.codec
        if codec is None:
            bits = 8 * BYTES_PER_SAMPLE[self.options.encoding]
            return round(self.sample_rate * self.channels * bits / 1000)
        return codec.effective_bit_rate_kbps or 0

    @property
    def encoder_delay_frames(self) -> int:
        """Leading frames a decoder ignoring the container's gapless information gives first."""
        return self._writer.encoder_delay_frames if self._writer is not None else 0

    # processing -------------------------------------------------------------------------------

    def _processed(self) -> Iterator[FloatBlock]:
        """Mastered float blocks of the output timeline, exactly ``total_frames`` in all."""
        chain, reader = self._chain, self._reader
        if chain is None or reader is None:
            return
        preroll = math.ceil(max(PREROLL_S, chain.settle_s) * self.sample_rate)
        decode_start = max(0, self.start_frame - preroll)
        skip = (self.start_frame - decode_start) + chain.latency_frames
        remaining = self.total_frames

        def emit(out: FloatBlock) -> Iterator[FloatBlock]:
            nonlocal skip, remaining
            if skip:
                dropped = min(skip, out.shape[0])
                out = out[dropped:]
                skip -= dropped
            if remaining <= 0 or out.shape[0] == 0:
                return
            out = out[:remaining]
            remaining -= out.shape[0]
            yield out

        inputs = self._inputs(reader, chain, decode_start)
        if self._two_processes and fork_is_safe():
            with ForkedChain(chain, inputs) as processed:
                for block in processed:
                    yield from emit(block)
                    if remaining <= 0 or self._chain is None:
                        return
        else:
            for block in inputs:
                yield from emit(chain.process(block))
                if remaining <= 0 or self._chain is None:
                    return  # done, or closed while suspended here
        if remaining > 0:
            # A truncated file ends early: pad with silence so the announced length holds.
            yield np.zeros((remaining, self.channels))

    def _inputs(self, reader: AudioReader, chain: Chain, decode_start: int
                ) -> Iterator[FloatBlock]:
        """What goes into the chain: the decoded quanta from ``decode_start``, then as many
        zeros as the chain's latency, which push its last frames out."""
        first_stop = min(decode_start + FIRST_QUANTUM_FRAMES, reader.info.frames)
        yield from reader.blocks(FIRST_QUANTUM_FRAMES, start_frame=decode_start,
                                 stop_frame=first_stop)
        if first_stop < reader.info.frames:
            yield from reader.blocks(QUANTUM_FRAMES, start_frame=first_stop)
        if chain.latency_frames:
            yield np.zeros((chain.latency_frames, self.channels))

    def _encoded(self) -> Iterator[tuple[bytes, FloatBlock]]:
        """(PCM bytes, their decoded values) per processed block."""
        encoder = self._encoder
        if encoder is None:
            return
        position = 0
        for block in self._processed():
            if not math.isfinite(float(block.sum())):  # never expected: the limiter cleans up
                block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
            pcm = encoder.encode(block, self.start_frame + position)
            position += block.shape[0]
            yield pcm, decode_pcm(pcm, self.options.encoding, self.channels)

    # chunking ---------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[EncodedChunk]:
        """The chunks one by one, each counted as handed out when it is yielded."""
        return self._handed_out_one_by_one(self._made())

    def batches(self) -> Iterator[list[EncodedChunk]]:
        """The chunks grouped by the processing step that completed them (never an empty
        group), each group counted as handed out when it is yielded: a caller that renders on
        another thread pays one hand-off per step, not one per chunk. Iterate once: this or
        the stream itself."""
        return self._handed_out_by_batch(self._made())

    def _made(self) -> Generator[list[EncodedChunk], None, None]:
        if self._started:
            raise RuntimeError("a RenderStream can be iterated only once")
        self._started = True
        self._made_batches = (self._codec_batches(self._writer) if self._writer is not None
                              else self._pcm_batches())
        return self._made_batches

    def _handed_out_one_by_one(self, made: Iterator[list[EncodedChunk]]
                               ) -> Iterator[EncodedChunk]:
        for batch in made:
            for chunk in batch:
                self._count_sent(chunk)
                yield chunk

    def _handed_out_by_batch(self, made: Iterator[list[EncodedChunk]]
                             ) -> Iterator[list[EncodedChunk]]:
        for batch in made:
            for chunk in batch:
                self._count_sent(chunk)
            yield batch

    def _count_sent(self, chunk: EncodedChunk) -> None:
        self._frames_sent += chunk.frames
        self._bytes_sent += len(chunk.pcm)

    def _pcm_batches(self) -> Generator[list[EncodedChunk], None, None]:
        frame_bytes = BYTES_PER_SAMPLE[self.options.encoding] * self.channels
        want = self.options.first_chunk_frames or self.options.chunk_frames
        parts: list[bytes] = []
        have = 0
        sequence = 0
        for pcm, values in self._encoded():
            self._meter_sent(whole_blocks=True)
            self._unmetered.append(values)
            batch: list[EncodedChunk] = []
            offset, frames = 0, values.shape[0]
            while offset < frames:
                take = min(want - have, frames - offset)
                parts.append(pcm[offset * frame_bytes : (offset + take) * frame_bytes])
                offset += take
                have += take
                if have == want:
                    batch.append(self._pcm_chunk(sequence, have, parts))
                    sequence += 1
                    parts, have = [], 0
                    want = self.options.chunk_frames
            if batch:
                yield batch
        if have:
            yield [self._pcm_chunk(sequence, have, parts)]

    def _pcm_chunk(self, sequence: int, frames: int, parts: list[bytes]) -> EncodedChunk:
        """One PCM chunk: the WAV header before the first, the RIFF pad byte after the last."""
        pcm = b"".join(parts)
        if sequence == 0:
            pcm = self._prefix + pcm
        if self._frames_made + frames == self.total_frames:
            pcm += self._suffix
        chunk = EncodedChunk(sequence, self._frames_made, frames, pcm)
        self._frames_made += frames
        return chunk

    def _codec_batches(self, writer: CodecWriter) -> Generator[list[EncodedChunk], None, None]:
        """One chunk per processed block that made the muxer write (plus the file's end): its
        ``frames`` are the output frames encoded since the previous chunk."""
        sequence = 0
        frames = 0  # processed frames not yet accounted to a chunk
        for block in self._processed():
            if not math.isfinite(float(block.sum())):  # never expected: the limiter cleans up
                block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
            data = writer.encode(block)
            frames += block.shape[0]
            self._meter.feed(writer.decoded)
            if data:
                yield [self._encoded_chunk(sequence, frames, data)]
                sequence += 1
                frames = 0
            if self._writer is None:
                return  # closed while suspended
        data = writer.finish()
        self._meter.feed(writer.decoded)
        if data or frames:
            yield [self._encoded_chunk(sequence, frames, data)]

    def _encoded_chunk(self, sequence: int, frames: int, data: bytes) -> EncodedChunk:
        chunk = EncodedChunk(sequence, self._frames_made, frames, data)
        self._frames_made += frames
        self._frames_metered = self._frames_made  # the writer's decode is metered as made
        return chunk

    def _meter_sent(self, whole_blocks: bool = False) -> None:
        """Feed the meter every handed-out frame it has not seen yet (and nothing more).

        ``whole_blocks``: only blocks sent in full, so while streaming the meter takes one call
        per processed block (the summary meters the part of a block already sent)."""
        due = self._frames_sent - self._frames_metered
        while due > 0 and self._unmetered:
            head = self._unmetered[0]
            if whole_blocks and due < head.shape[0]:
                return
            take = min(due, head.shape[0])
            self._meter.feed(head[:take])
            if take == head.shape[0]:
                self._unmetered.popleft()
            else:
                self._unmetered[0] = head[take:]
            due -= take
            self._frames_metered += take

    # results and cleanup ----------------------------------------------------------------------

    def summary(self) -> RenderSummary:
        """Loudness and true peak of everything handed out so far (call after iterating)."""
        self._meter_sent()
        return RenderSummary(
            frames_sent=self._frames_sent,
            output_lufs=self._meter.integrated_lufs(),
            output_true_peak_dbtp=self._meter.true_peak_dbtp(),
            bytes_sent=self._bytes_sent,
        )

    def close(self) -> None:
        """Free the decoder, the chain and the buffers; safe to call more than once."""
        if self._made_batches is not None:
            # Unwinds a suspended render (and stops its child); one running on another thread
            # right now refuses, and sees the closed state below at its next step.
            with contextlib.suppress(ValueError):
                self._made_batches.close()
            self._made_batches = None
        if self._reader is not None:
            self._reader.close()
        self._reader = None
        self._chain = None
        self._encoder = None
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        self._unmetered.clear()

    def __enter__(self) -> RenderStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_render(
    source: Path | bytes | AudioReader, plan: MasteringPlan, options: RenderOptions, *,
    two_processes: bool = False,
) -> RenderStream:
    """Open a render of ``source``: a path, an encoded file in memory, or an open reader (which
    the stream then owns: ``close`` closes it). ``options`` are taken as validated
    (``request.validate``). Raises UnsupportedAudio or SeekOutOfRange (and closes the reader).

    ``two_processes``: decoding and the chain run in a forked child
    (``mastering_service.forked_chain``), encoding and metering here: the same bytes, on two
    cores. Only where this process
    runs a single thread (the render CLI); elsewhere the render stays in this process."""
    reader = source if isinstance(source, AudioReader) else open_audio(
        source, max_channels=MAX_CHANNELS
    )
    return RenderStream(reader, plan, options, two_processes=two_processes)


def render_to_file(
    source: Path | bytes | AudioReader,
    out_path: Path,
    plan: MasteringPlan,
    options: RenderOptions,
    progress: Callable[[int, int], None] | None = None,
    *,
    two_processes: bool = False,
) -> RenderSummary:
    """Render ``source`` into a file in ``options.container`` (RAW PCM, WAV or an encoded
    format); ``progress(frames_done, total_frames)`` after every chunk. ``two_processes``: as
    for ``open_render``."""
    with open_render(source, plan, options, two_processes=two_processes) as stream, \
            _written_whole(Path(out_path)) as out:
        for chunk in stream:
            out.write(chunk.pcm)
            if progress is not None:
                progress(chunk.start_frame + chunk.frames, stream.total_frames)
        return stream.summary()


@contextlib.contextmanager
def _written_whole(path: Path) -> Iterator[BinaryIO]:
    """A file to write ``path`` through: a new file beside it (``.NAME.XXXXXXXX.partial``,
    created with the usual permissions) that replaces it only once written whole, so an error
    or an interrupted render leaves an earlier file at ``path`` as it was, and never a
    half-written one. The replacement keeps an earlier file's permission bits; a symbolic link
    keeps pointing where it did (its target is replaced). A path that is not a regular file (a
    pipe, a device), or a folder where no file can be created, is written in place."""
    target = Path(os.path.realpath(path))
    try:
        existing: os.stat_result | None = target.stat()
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        with path.open("wb") as out:
            yield out
        return
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError:
        with path.open("wb") as out:
            yield out
        return
    try:
        with os.fdopen(descriptor, "wb") as out:
            yield out
        if existing is not None:
            os.chmod(partial, stat.S_IMODE(existing.st_mode))
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise


def render_to_wav(
    source: Path | bytes | AudioReader,
    out_path: Path,
    plan: MasteringPlan,
    options: RenderOptions,
    progress: Callable[[int, int], None] | None = None,
) -> RenderSummary:
    """Render ``source`` into a WAV file in ``options.encoding``."""
    return render_to_file(source, out_path, plan, replace(options, container="wav"), progress)


def _limited_for(plan: MasteringPlan, codec: CodecOptions | None) -> MasteringPlan:
    """The plan the chain is built from: for a lossy codec the limiter aims its head-room
    (``CodecOptions.headroom_db``) under the requested ceiling, so the decoded stream keeps it."""
    if codec is None or codec.headroom_db == 0.0:
        return plan
    return replace(plan, true_peak_ceiling_dbtp=plan.true_peak_ceiling_dbtp - codec.headroom_db,
                   limiter_ceiling_dbtp=None if plan.limiter_ceiling_dbtp is None
                   else plan.limiter_ceiling_dbtp - codec.headroom_db)
