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
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mastering_service.chain import Chain, build_chain
from mastering_service.chain.encoding import BYTES_PER_SAMPLE, Encoder, decode_pcm, wav_header
from mastering_service.plan import MasteringPlan
from mastering_service.request import check_seek
from shared.audio import AudioReader, open_audio
from shared.errors import UnsupportedAudio
from shared.loudness import LoudnessMeter

#: Frames per internal processing step: large enough to amortise the stages' per-call overhead
#: (8192 costs 40 % more time per track than this), small enough to keep a stream's buffers
#: under a few MB.
QUANTUM_FRAMES = 32_768
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
    chunk_frames: int = 8192
    first_chunk_frames: int | None = None
    dither_seed: int = 0


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


class RenderStream:
    """An iterator of ``EncodedChunk`` over one track, mastered by ``plan``.

    Owns its reader. Iterate once; stop whenever you like (cancellation) and call ``close``.
    ``summary`` is the measurement of what was handed out so far.
    """

    def __init__(self, reader: AudioReader, plan: MasteringPlan, options: RenderOptions) -> None:
        self._reader: AudioReader | None = reader
        self._chain: Chain | None = None
        self._encoder: Encoder | None = None
        self._frames_sent = 0
        self._frames_metered = 0
        # Decoded values of encoded frames not yet metered (sent or about to be sent).
        self._unmetered: deque[FloatBlock] = deque()
        self._started = False
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
            self._chain = build_chain(plan, info.sample_rate, info.channels)
            self._encoder = Encoder(options.encoding, info.channels, options.dither_seed)
        except BaseException:
            self.close()
            raise
        self._meter = LoudnessMeter(self.sample_rate, self.channels, measure_true_peak=True)

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.sample_rate

    @property
    def latency_frames(self) -> int:
        return self._chain.latency_frames if self._chain is not None else 0

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

        first_stop = min(decode_start + FIRST_QUANTUM_FRAMES, reader.info.frames)
        blocks: Iterator[FloatBlock] = reader.blocks(
            FIRST_QUANTUM_FRAMES, start_frame=decode_start, stop_frame=first_stop
        )
        if first_stop < reader.info.frames:
            blocks = itertools.chain(blocks, reader.blocks(QUANTUM_FRAMES, start_frame=first_stop))
        for block in blocks:
            yield from emit(chain.process(block))
            if remaining <= 0 or self._chain is None:
                return  # done, or closed while suspended here
        if chain.latency_frames:
            yield from emit(chain.process(np.zeros((chain.latency_frames, self.channels))))
        if remaining > 0:
            # A truncated file ends early: pad with silence so the announced length holds.
            yield np.zeros((remaining, self.channels))

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
        if self._started:
            raise RuntimeError("a RenderStream can be iterated only once")
        self._started = True
        return self._chunks()

    def _chunks(self) -> Iterator[EncodedChunk]:
        frame_bytes = BYTES_PER_SAMPLE[self.options.encoding] * self.channels
        want = self.options.first_chunk_frames or self.options.chunk_frames
        parts: list[bytes] = []
        have = 0
        sequence = 0
        for pcm, values in self._encoded():
            self._meter_sent()
            self._unmetered.append(values)
            offset, frames = 0, values.shape[0]
            while offset < frames:
                take = min(want - have, frames - offset)
                parts.append(pcm[offset * frame_bytes : (offset + take) * frame_bytes])
                offset += take
                have += take
                if have == want:
                    yield self._hand_out(sequence, have, parts)
                    sequence += 1
                    parts, have = [], 0
                    want = self.options.chunk_frames
        if have:
            yield self._hand_out(sequence, have, parts)

    def _hand_out(self, sequence: int, frames: int, parts: list[bytes]) -> EncodedChunk:
        chunk = EncodedChunk(sequence, self._frames_sent, frames, b"".join(parts))
        self._frames_sent += frames
        return chunk

    def _meter_sent(self) -> None:
        """Feed the meter every handed-out frame it has not seen yet (and nothing more)."""
        due = self._frames_sent - self._frames_metered
        while due > 0 and self._unmetered:
            head = self._unmetered[0]
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
        )

    def close(self) -> None:
        """Free the decoder, the chain and the buffers; safe to call more than once."""
        if self._reader is not None:
            self._reader.close()
        self._reader = None
        self._chain = None
        self._encoder = None
        self._unmetered.clear()

    def __enter__(self) -> RenderStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_render(
    source: Path | bytes | AudioReader, plan: MasteringPlan, options: RenderOptions
) -> RenderStream:
    """Open a render of ``source``: a path, an encoded file in memory, or an open reader (which
    the stream then owns: ``close`` closes it). ``options`` are taken as validated
    (``request.validate``). Raises UnsupportedAudio or SeekOutOfRange (and closes the reader)."""
    reader = source if isinstance(source, AudioReader) else open_audio(
        source, max_channels=MAX_CHANNELS
    )
    return RenderStream(reader, plan, options)


def render_to_wav(
    source: Path | bytes | AudioReader,
    out_path: Path,
    plan: MasteringPlan,
    options: RenderOptions,
    progress: Callable[[int, int], None] | None = None,
) -> RenderSummary:
    """Render ``source`` into a WAV file; ``progress(frames_done, total_frames)`` after every
    chunk."""
    with open_render(source, plan, options) as stream, Path(out_path).open("wb") as out:
        out.write(wav_header(stream.sample_rate, stream.channels, options.encoding,
                             stream.total_frames))
        for chunk in stream:
            out.write(chunk.pcm)
            if progress is not None:
                progress(chunk.start_frame + chunk.frames, stream.total_frames)
        return stream.summary()
