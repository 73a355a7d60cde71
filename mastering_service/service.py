"""MasterTrack as a domain operation: validate, resolve, plan, stream. No protobuf here.

A stream holds one of ``MASTERING_MAX_STREAMS`` slots from validation to its last chunk. The
fingerprint is fetched under an explicit deadline; without one in time the plan comes from the
service's own quick analysis (the hybrid fallback). Rendering runs on a thread pool, one
processing step (its chunks in one hand-off) ahead of the network and at most one step per CPU
at a time, so the event loop (and with it the health service) never blocks; streams already
playing yield to those still starting (``pacing``); a stream that is cancelled stops after the
step in hand and frees its decoder and stages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any

import structlog

from mastering_service.chain.codecs import output_headroom_db
from mastering_service.engine import (
    MAX_CHANNELS,
    EncodedChunk,
    RenderOptions,
    RenderStream,
    open_render,
)
from mastering_service.fallback_pool import FallbackPool
from mastering_service.fp_client import (
    FetchedAlbum,
    FetchedFingerprint,
    FingerprintClient,
    fetch_timeout_s,
)
from mastering_service.lwrp import (
    album_fallback,
    album_track_target_lufs,
    fallback_plan,
    fingerprint_plan,
    with_album,
)
from mastering_service.pacing import Pacing, Start
from mastering_service.plan import LoudnessMode, MasteringPlan
from mastering_service.request import MasterRequest, check_seek, validate
from shared.audio import AudioReader, open_audio
from shared.config import Config, usable_cpus
from shared.errors import LimitExceeded, ServiceError
from shared.grpc_runtime import annotate
from shared.tracks import LocalTrack, resolve_track

log = structlog.get_logger(__name__)

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
    codec: str = ""
    bit_rate_kbps: int = 0
    output_sample_rate: int = 0
    encoder_delay_frames: int = 0


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
    bytes_sent: int = 0


StreamEvent = StreamStart | StreamChunk | StreamEnd


@dataclass(frozen=True, slots=True)
class ReferenceTrack:
    """A request's reference track, checked readable, and its duration (for the fetch)."""

    track: LocalTrack
    duration_s: float


def dither_seed(content_sha256: str) -> int:
    """The track's identity as a 64-bit seed: dither is a function of (track, frame index)."""
    return int(content_sha256[:16], 16)


def _open_checked(track: LocalTrack, start_s: float) -> AudioReader:
    """The open track, once ``start_s`` is known to lie inside it (before any planning)."""
    reader = open_audio(track.source, max_channels=MAX_CHANNELS)
    try:
        check_seek(start_s, reader.info.sample_rate, reader.info.frames)
    except BaseException:
        reader.close()
        raise
    return reader


class MasteringService:
    def __init__(self, config: Config, client: FingerprintClient,
                 pool_factory: Callable[[], Executor] | None = None) -> None:
        """``pool_factory`` replaces the fallback analyses' worker processes (tests)."""
        self._config = config
        self._client = client
        #: The fallback analyses, a bounded number at a time in worker processes; the
        #: fingerprint wait leaves room for what this stream's would cost.
        self._fallbacks = FallbackPool(config.mastering_fallback_workers,
                                       pool_factory=pool_factory)
        # A thread per stream slot, so a stream's next chunk never queues behind another's
        # submission (they take turns at the render slots below), plus head-room.
        self._executor = ThreadPoolExecutor(max_workers=config.mastering_max_streams + 2,
                                            thread_name_prefix="render")
        self.active_streams = 0
        #: Streams not yet playing go first: the playing ones render only so far ahead meanwhile.
        self.pacing = Pacing()
        #: Frames of the chunks rendered since start-up (the unit of work, whatever the chunk
        #: size); the cancellation tests watch it stop growing.
        self.frames_rendered = 0
        #: Steps rendering at once, one per CPU: numpy's share of the work overlaps across
        #: them, where sixteen streams' threads contending for the interpreter lock rendered a
        #: third less in all (16 concurrent streams on 2 cores: 5.8x real time each, 9.2x bound).
        self.render_slots = usable_cpus()
        self._rendering = threading.BoundedSemaphore(self.render_slots)

    async def warm_up(self) -> None:
        """Start the fallback analyses' workers, so the first fallback does not pay for it."""
        await self._fallbacks.warm_up()

    async def close(self) -> None:
        await self._client.close()
        self._executor.shutdown(wait=True, cancel_futures=True)
        await asyncio.to_thread(self._fallbacks.close)

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
        start = self.pacing.start()
        reader: AudioReader | None = None
        render: RenderStream | None = None
        try:
            track = await asyncio.to_thread(
                resolve_track, self._config.media_root, path=request.path,
                content=request.content, max_content_bytes=self._config.max_content_bytes)
            reader = await asyncio.to_thread(_open_checked, track, request.start_s)
            reference = (await asyncio.to_thread(self._reference, request)
                         if request.has_reference else None)
            # The plan is made for the limiter's ceiling (the requested one less the output
            # format's head-room, see chain.codecs), so its level solver counts the extra
            # limiting; it reports the requested ceiling, which the decoded stream keeps.
            planning = dataclasses.replace(request, true_peak_ceiling_dbtp=(
                request.true_peak_ceiling_dbtp
                - output_headroom_db(request.container, request.bit_rate_kbps)))
            plan, content_sha256 = await self._plan(track, planning, caller_remaining_s,
                                                    request_id, reader, reference)
            plan = dataclasses.replace(plan,
                                       true_peak_ceiling_dbtp=request.true_peak_ceiling_dbtp)
            annotate(category=plan.category.value, source=plan.fingerprint_source,
                     fallback_reason=plan.fallback_reason)
            options = RenderOptions(
                encoding=request.encoding, start_s=request.start_s,
                chunk_frames=request.chunk_frames or self._config.mastering_chunk_frames,
                first_chunk_frames=self._config.mastering_first_chunk_frames,
                dither_seed=dither_seed(content_sha256), container=request.container,
                bit_rate_kbps=request.bit_rate_kbps, mp3_vbr=request.mp3_vbr,
            )
            render = await asyncio.to_thread(open_render, reader, plan, options)
            yield StreamStart(
                sample_rate=render.sample_rate, channels=render.channels,
                encoding=request.encoding, container=request.container,
                total_frames=render.total_frames,
                duration_s=render.total_frames / render.sample_rate, plan=plan,
                content_sha256=content_sha256, codec=render.codec_name,
                bit_rate_kbps=render.bit_rate_kbps, output_sample_rate=render.output_sample_rate,
                encoder_delay_frames=render.encoder_delay_frames,
            )
            first_chunk_ms = 0.0
            async with aclosing(self._chunks(render, start)) as chunks:
                async for chunk in chunks:
                    if chunk.sequence == 0:
                        first_chunk_ms = (time.perf_counter() - started) * 1000.0
                        annotate(first_chunk_ms=round(first_chunk_ms, 2))
                    yield StreamChunk(sequence=chunk.sequence, start_frame=chunk.start_frame,
                                      pcm=chunk.pcm)
            summary = render.summary()
            yield StreamEnd(
                frames_sent=summary.frames_sent, output_lufs=summary.output_lufs,
                output_true_peak_dbtp=summary.output_true_peak_dbtp,
                processing_ms=(time.perf_counter() - started) * 1000.0,
                first_chunk_ms=first_chunk_ms, bytes_sent=summary.bytes_sent,
            )
        finally:
            start.done()
            self.active_streams -= 1
            if render is not None:
                render.close()  # closes the reader it was handed
            elif reader is not None:
                reader.close()

    async def _chunks(self, render: RenderStream, start: Start
                      ) -> AsyncGenerator[EncodedChunk, None]:
        """Render on the pool, one processing step ahead of the consumer (a step's chunks come
        back in one hand-off), paced while other streams start (``pacing``); stop promptly when
        abandoned. The first chunk ends ``start``."""
        batches = render.batches()
        pending: Future[list[EncodedChunk] | None] = self._executor.submit(self._next, batches)
        playing_since = 0.0
        try:
            while True:
                batch = await asyncio.wrap_future(pending)
                if batch is None:
                    return
                if batch[0].sequence == 0:
                    start.done()
                    playing_since = time.monotonic()
                last = batch[-1]
                rendered_s = (last.start_frame + last.frames) / render.sample_rate
                held = self.pacing.holds(rendered_s, playing_since)
                if not held:
                    pending = self._executor.submit(self._next, batches)
                for chunk in batch:
                    yield chunk
                if held:  # the step was handed out before the wait; the next one comes after
                    await self.pacing.pace(rendered_s, playing_since)
                    pending = self._executor.submit(self._next, batches)
        finally:
            # Abandoned (cancelled, deadline, error): let the step in hand finish, then stop,
            # so the render can be closed safely by the caller.
            if not pending.done() and not pending.cancel():
                with suppress(Exception, asyncio.CancelledError):
                    await asyncio.wrap_future(pending)

    def _next(self, batches: Iterator[list[EncodedChunk]]) -> list[EncodedChunk] | None:
        with self._rendering:
            batch = next(batches, None)
        if batch is not None:
            self.frames_rendered += sum(chunk.frames for chunk in batch)
        return batch

    def _reference(self, request: MasterRequest) -> ReferenceTrack:
        """The reference track, resolved and opened once like the track, so a missing, outside
        or undecodable one is refused the same way; the messages name it."""
        try:
            track = resolve_track(self._config.media_root, path=request.reference_path,
                                  content=request.reference_content,
                                  max_content_bytes=self._config.max_content_bytes)
            with open_audio(track.source) as reader:
                duration_s = reader.info.duration_s
        except ServiceError as error:
            raise type(error)(f"reference: {error}") from None
        return ReferenceTrack(track, duration_s)

    async def _plan(
        self, track: LocalTrack, request: MasterRequest, caller_remaining_s: float | None,
        request_id: str, reader: AudioReader, reference: ReferenceTrack | None = None,
    ) -> tuple[MasteringPlan, str]:
        requested_ms = (request.fingerprint_timeout_ms
                        if request.fingerprint_timeout_ms is not None
                        else self._config.fingerprint_timeout_ms)
        duration_s = reader.info.duration_s
        timeout_s = fetch_timeout_s(requested_ms, caller_remaining_s,
                                    self._fallbacks.estimate_s(duration_s))
        album_task = None
        if request.loudness_mode is LoudnessMode.ALBUM:
            # Asked beside the fingerprint, under the same timeout.
            album_task = asyncio.create_task(self._client.fetch_album(
                track, timeout_s=timeout_s, request_id=request_id))
        reference_task = None
        if reference is not None:
            # The reference's fingerprint comes through the same tiers, beside the track's and
            # under the same timeout.
            reference_task = asyncio.create_task(self._client.fetch(
                reference.track, timeout_s=timeout_s, duration_s=reference.duration_s,
                request_id=request_id))
        fetched = await self._client.fetch(track, timeout_s=timeout_s, duration_s=duration_s,
                                           request_id=request_id)
        fetched_reference = None if reference_task is None else await reference_task
        options: dict[str, Any] = dict(request.aspect_amounts())
        if isinstance(fetched_reference, FetchedFingerprint):
            options["reference"] = fetched_reference.fingerprint

        def referenced(plan: MasteringPlan) -> MasteringPlan:
            if fetched_reference is None or isinstance(fetched_reference, FetchedFingerprint):
                return plan
            return dataclasses.replace(plan, reasons=(
                *plan.reasons, f"reference track not fingerprinted ({fetched_reference.detail}):"
                               " built-in reference used"))
        album = None if album_task is None else await album_task

        def aimed(track_lufs: float) -> float | None:
            if not isinstance(album, FetchedAlbum):
                return request.target_lufs
            return album_track_target_lufs(track_lufs, album.integrated_lufs,
                                           request.target_lufs)

        def noted(plan: MasteringPlan) -> MasteringPlan:
            if album is None:
                return plan
            if isinstance(album, FetchedAlbum):
                return with_album(plan, album.integrated_lufs, request.target_lufs)
            return album_fallback(plan, album.detail)

        if isinstance(fetched, FetchedFingerprint):
            plan = fingerprint_plan(
                fetched.fingerprint, fetched.info, target_lufs=aimed(fetched.fingerprint.lufs),
                true_peak_ceiling_dbtp=request.true_peak_ceiling_dbtp,
                intensity=request.intensity, fingerprint_source=fetched.source, **options,
            )
            return referenced(noted(plan)), fetched.info.content_sha256
        log.info("mastering_fallback", reason=fetched.reason.value, detail=fetched.detail,
                 track=track.describe())
        analysis, content_sha256 = await asyncio.gather(
            self._fallbacks.analyze(track.source, duration_s),
            asyncio.to_thread(track.content_sha256))
        plan = referenced(noted(fallback_plan(
            analysis, target_lufs=aimed(analysis.lufs),
            true_peak_ceiling_dbtp=request.true_peak_ceiling_dbtp,
            intensity=request.intensity, reason=fetched.reason, **options,
        )))
        return dataclasses.replace(plan, reasons=(
            plan.reasons[0], f"fingerprint: {fetched.detail}", *plan.reasons[1:])), content_sha256
