"""MasterTrack as a domain operation: validate, resolve, plan, stream. No protobuf here.

A stream holds one of ``MASTERING_MAX_STREAMS`` slots from validation to its last chunk. The
fingerprint is fetched under an explicit deadline; without one in time the plan comes from the
service's own quick analysis (the hybrid fallback). Rendering runs on a thread pool, one chunk
ahead of the network, so the event loop (and with it the health service) never blocks; a stream
that is cancelled stops after the chunk in hand and frees its decoder and stages.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import aclosing, suppress
from dataclasses import dataclass

import structlog

from mastering_service.analysis import analyze
from mastering_service.chain.encoding import ENCODINGS, wav_header
from mastering_service.engine import (
    MAX_CHANNELS,
    EncodedChunk,
    RenderOptions,
    RenderStream,
    open_render,
)
from mastering_service.fp_client import (
    FetchedFingerprint,
    FingerprintClient,
    fetch_timeout_s,
)
from mastering_service.lwrp import (
    CEILING_RANGE_DBTP,
    DEFAULT_CEILING_DBTP,
    DEFAULT_INTENSITY,
    DEFAULT_TARGET_LUFS,
    INTENSITY_RANGE,
    TARGET_RANGE_LUFS,
    MasteringPlan,
    fallback_plan,
    fingerprint_plan,
)
from shared.audio import AudioReader, open_audio
from shared.config import Config
from shared.errors import InvalidArgument, LimitExceeded, SeekOutOfRange
from shared.grpc_runtime import annotate
from shared.tracks import LocalTrack, resolve_track

log = structlog.get_logger(__name__)

CONTAINERS = ("raw", "wav")
#: Largest chunk a caller may ask for: 256 Ki frames of stereo f32 is 2 MiB, well under the
#: 4 MiB default receive limit of gRPC clients.
MAX_CHUNK_FRAMES = 262_144
MAX_FINGERPRINT_TIMEOUT_MS = 60_000


@dataclass(frozen=True, slots=True)
class MasterRequest:
    path: str | None = None
    content: bytes | None = None
    target_lufs: float = DEFAULT_TARGET_LUFS
    true_peak_ceiling_dbtp: float = DEFAULT_CEILING_DBTP
    intensity: float = DEFAULT_INTENSITY
    encoding: str = "s16"
    container: str = "raw"
    start_s: float = 0.0
    chunk_frames: int = 0  # 0 = the server default
    fingerprint_timeout_ms: int | None = None  # None = the server default


@dataclass(frozen=True, slots=True)
class StreamStart:
    sample_rate: int
    channels: int
    encoding: str
    container: str
    total_frames: int
    duration_s: float
    plan: MasteringPlan
    content_sha256: str


@dataclass(frozen=True, slots=True)
class StreamChunk:
    sequence: int
    start_frame: int
    pcm: bytes


@dataclass(frozen=True, slots=True)
class StreamEnd:
    frames_sent: int
    output_lufs: float
    output_true_peak_dbtp: float
    processing_ms: float
    first_chunk_ms: float


StreamEvent = StreamStart | StreamChunk | StreamEnd


def _check_range(name: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    low, high = bounds
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidArgument(f"{name} must be between {low:g} and {high:g} {unit}".rstrip()
                              + f", not {value:g}")


def validate(request: MasterRequest) -> None:
    """Every parameter against its allowed range; the message names the field and the range."""
    _check_range("target_lufs", request.target_lufs, TARGET_RANGE_LUFS, "LUFS")
    _check_range("true_peak_ceiling_dbtp", request.true_peak_ceiling_dbtp, CEILING_RANGE_DBTP,
                 "dBTP")
    _check_range("intensity", request.intensity, INTENSITY_RANGE, "")
    if request.encoding not in ENCODINGS:
        raise InvalidArgument(f"encoding must be one of {', '.join(ENCODINGS)}")
    if request.container not in CONTAINERS:
        raise InvalidArgument(f"container must be one of {', '.join(CONTAINERS)}")
    if not (math.isfinite(request.start_s) and request.start_s >= 0.0):
        raise InvalidArgument(f"start_s must be 0 or more seconds, not {request.start_s:g}")
    if not 0 <= request.chunk_frames <= MAX_CHUNK_FRAMES:
        raise InvalidArgument(f"chunk_frames must be between 0 (server default) and "
                              f"{MAX_CHUNK_FRAMES}, not {request.chunk_frames}")
    timeout = request.fingerprint_timeout_ms
    if timeout is not None and not 0 <= timeout <= MAX_FINGERPRINT_TIMEOUT_MS:
        raise InvalidArgument(f"fingerprint_timeout_ms must be between 0 and "
                              f"{MAX_FINGERPRINT_TIMEOUT_MS} ms, not {timeout}")


def dither_seed(content_sha256: str) -> int:
    """The track's identity as a 64-bit seed: dither is a function of (track, frame index)."""
    return int(content_sha256[:16], 16)



def _open_checked(track: LocalTrack, start_s: float) -> AudioReader:
    reader = open_audio(track.source, max_channels=MAX_CHANNELS)
    if start_s >= reader.info.duration_s:
        reader.close()
        raise SeekOutOfRange(f"start_s {start_s:g} s is at or beyond the end of the track "
                             f"(duration {reader.info.duration_s:.3f} s)")
    return reader


class MasteringService:
    def __init__(self, config: Config, client: FingerprintClient) -> None:
        self._config = config
        self._client = client
        # One rendering thread per stream slot, plus head-room for fallback analyses.
        self._executor = ThreadPoolExecutor(max_workers=config.mastering_max_streams + 2,
                                            thread_name_prefix="render")
        self.active_streams = 0
        #: Chunks rendered since start-up; the cancellation tests watch it stop growing.
        self.chunks_rendered = 0

    async def close(self) -> None:
        await self._client.close()
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _run(self, func: object, *args: object) -> object:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)  # type: ignore[arg-type]

    async def master(
        self, request: MasterRequest, *, caller_remaining_s: float | None = None,
        request_id: str = "",
    ) -> AsyncGenerator[StreamEvent, None]:
        started = time.perf_counter()
        validate(request)
        if self.active_streams >= self._config.mastering_max_streams:
            raise LimitExceeded(f"too many concurrent streams (limit "
                                f"{self._config.mastering_max_streams}); retry later")
        self.active_streams += 1
        reader: AudioReader | None = None
        render: RenderStream | None = None
        try:
            track = await asyncio.to_thread(
                resolve_track, self._config.media_root, path=request.path,
                content=request.content, max_content_bytes=self._config.max_content_bytes)
            reader = await asyncio.to_thread(_open_checked, track, request.start_s)
            plan, content_sha256 = await self._plan(track, request, caller_remaining_s,
                                                    request_id)
            annotate(category=plan.category.value, source=plan.fingerprint_source,
                     fallback_reason=plan.fallback_reason)
            options = RenderOptions(
                encoding=request.encoding, start_s=request.start_s,
                chunk_frames=request.chunk_frames or self._config.mastering_chunk_frames,
                first_chunk_frames=self._config.mastering_first_chunk_frames,
                dither_seed=dither_seed(content_sha256),
            )
            render = await asyncio.to_thread(open_render, reader, plan, options)
            yield StreamStart(
                sample_rate=render.sample_rate, channels=render.channels,
                encoding=request.encoding, container=request.container,
                total_frames=render.total_frames,
                duration_s=render.total_frames / render.sample_rate, plan=plan,
                content_sha256=content_sha256,
            )
            first_chunk_ms = 0.0
            async with aclosing(self._chunks(render)) as chunks:
                async for chunk in chunks:
                    pcm = chunk.pcm
                    if chunk.sequence == 0:
                        first_chunk_ms = (time.perf_counter() - started) * 1000.0
                        annotate(first_chunk_ms=round(first_chunk_ms, 2))
                        if request.container == "wav":
                            pcm = wav_header(render.sample_rate, render.channels,
                                             request.encoding, render.total_frames) + pcm
                    yield StreamChunk(sequence=chunk.sequence, start_frame=chunk.start_frame,
                                      pcm=pcm)
            summary = render.summary()
            yield StreamEnd(
                frames_sent=summary.frames_sent, output_lufs=summary.output_lufs,
                output_true_peak_dbtp=summary.output_true_peak_dbtp,
                processing_ms=(time.perf_counter() - started) * 1000.0,
                first_chunk_ms=first_chunk_ms,
            )
        finally:
            self.active_streams -= 1
            if render is not None:
                render.close()  # closes the reader it was handed
            elif reader is not None:
                reader.close()

    async def _chunks(self, render: RenderStream) -> AsyncGenerator[EncodedChunk, None]:
        """Render on the pool, one chunk ahead of the consumer; stop promptly when abandoned."""
        iterator = iter(render)
        pending: Future[EncodedChunk | None] = self._executor.submit(self._next, iterator)
        try:
            while True:
                chunk = await asyncio.wrap_future(pending)
                if chunk is None:
                    return
                pending = self._executor.submit(self._next, iterator)
                yield chunk
        finally:
            # Abandoned (cancelled, deadline, error): let the chunk in hand finish, then stop,
            # so the render can be closed safely by the caller.
            if not pending.done() and not pending.cancel():
                with suppress(Exception, asyncio.CancelledError):
                    await asyncio.wrap_future(pending)

    def _next(self, iterator: Iterator[EncodedChunk]) -> EncodedChunk | None:
        chunk = next(iterator, None)
        if chunk is not None:
            self.chunks_rendered += 1
        return chunk

    async def _plan(
        self, track: LocalTrack, request: MasterRequest, caller_remaining_s: float | None,
        request_id: str,
    ) -> tuple[MasteringPlan, str]:
        requested_ms = (request.fingerprint_timeout_ms
                        if request.fingerprint_timeout_ms is not None
                        else self._config.fingerprint_timeout_ms)
        timeout_s = fetch_timeout_s(requested_ms, caller_remaining_s)
        fetched = await self._client.fetch(track, timeout_s=timeout_s, request_id=request_id)
        if isinstance(fetched, FetchedFingerprint):
            plan = fingerprint_plan(
                fetched.fingerprint, fetched.info, target_lufs=request.target_lufs,
                true_peak_ceiling_dbtp=request.true_peak_ceiling_dbtp,
                intensity=request.intensity, fingerprint_source=fetched.source,
            )
            return plan, fetched.info.content_sha256
        log.info("mastering_fallback", reason=fetched.reason.value, detail=fetched.detail,
                 track=track.describe())
        analysis, content_sha256 = await asyncio.gather(
            asyncio.to_thread(analyze, track.source), asyncio.to_thread(track.content_sha256))
        plan = fallback_plan(
            analysis, target_lufs=request.target_lufs,
            true_peak_ceiling_dbtp=request.true_peak_ceiling_dbtp,
            intensity=request.intensity, reason=fetched.reason.value,
        )
        return plan, content_sha256
