"""The mastering service's client of the fingerprint service.

One long-lived channel: round-robin over every address the target resolves to (a headless
Kubernetes Service gives one per replica), keepalive pings the server side accepts, and a short
reconnect backoff. Calls never wait for a connection (no wait_for_ready): when the service is
down the call fails at once with UNAVAILABLE and the stream falls back without waiting.

Python does not propagate deadlines, and an unset caller deadline reads as ~1e19 s, so every call
gets an explicit timeout: min(requested timeout, caller's remaining time − margin).

A fetch asks in two steps: a lookup (``cached_only``), which a live service answers in
milliseconds whatever its load, then, for a track it has not seen, the computation. Only the
lookup feeds the circuit breaker (``breaker``): a lookup left unanswered says the service is hung,
a slow computation only that it is busy. While the breaker is open no call is made; a health check
on the same channel every probe interval closes it. The computation is asked only when the cold
queue (``cold_queue``) expects it back within the time left; otherwise the stream falls back at
once.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from contextlib import suppress
from dataclasses import dataclass

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mastering_service.breaker import Breaker, BreakerState, Transition
from mastering_service.cold_queue import ColdQueue
from mastering_service.plan import FallbackReason
from shared.config import Config
from shared.fingerprint import (
    ALGORITHM_VERSION,
    FINGERPRINT_FIELDS,
    TRACK_INFO_FIELDS,
    Fingerprint,
    FingerprintSource,
    TrackInfo,
)
from shared.hashing import sha256_bytes
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from shared.tracks import LocalTrack

log = structlog.get_logger(__name__)

#: Time kept back from the caller's deadline for planning and the first chunk.
DEADLINE_MARGIN_S = 0.25
#: A caller deadline further away than this is "no deadline" (grpc reports ~1e19 s).
_NO_DEADLINE_S = 1e9
_KEEPALIVE_TIME_MS = 30_000      # ping an idle connection every 30 s (servers allow ≥ 10 s)
_KEEPALIVE_TIMEOUT_MS = 10_000
_MAX_RECONNECT_BACKOFF_MS = 2_000  # a recovered fingerprint service is used again within ~2 s
_MAX_MESSAGE_BYTES = 256 << 20
#: A live service answers a health check in milliseconds; a probe waits this long at most.
_PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class FetchedFingerprint:
    fingerprint: Fingerprint
    info: TrackInfo
    source: FingerprintSource


@dataclass(frozen=True, slots=True)
class FetchFailure:
    reason: FallbackReason
    detail: str


@dataclass(frozen=True, slots=True)
class FetchedAlbum:
    """What ALBUM mode needs of a track's album (GetAlbum)."""

    album_id: str
    integrated_lufs: float
    tracks: int


def fetch_timeout_s(requested_ms: int, caller_remaining_s: float | None,
                    fallback_estimate_s: float = 0.0) -> float:
    """min(requested, caller's remaining − margin − what the fallback would need), never
    negative: a caller with any reasonable deadline gets audio, from the fingerprint or the
    fallback, before it expires."""
    timeout = requested_ms / 1000.0
    if caller_remaining_s is not None and caller_remaining_s < _NO_DEADLINE_S:
        timeout = min(timeout, caller_remaining_s - DEADLINE_MARGIN_S - fallback_estimate_s)
    return max(0.0, timeout)


def _from_pb(response: pb.GetFingerprintResponse) -> FetchedFingerprint:
    fp = response.fingerprint
    info = response.track_info
    return FetchedFingerprint(
        fingerprint=Fingerprint(**{name: float(getattr(fp, name)) for name in FINGERPRINT_FIELDS}),
        info=TrackInfo.from_dict({name: getattr(info, name) for name in TRACK_INFO_FIELDS}),
        source=FingerprintSource(pb.FingerprintSource.Name(response.source)),
    )


def _classify(error: grpc.aio.AioRpcError) -> FallbackReason:
    code = error.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return FallbackReason.UNAVAILABLE
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return FallbackReason.DEADLINE_EXCEEDED
    return FallbackReason.ERROR


def _answered(error: grpc.aio.AioRpcError) -> bool:
    """Whether the service answered at all (a timeout or an unreachable server is no answer)."""
    return error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class FingerprintClient:
    def __init__(self, target: str, *, breaker: Breaker, probe_interval_s: float,
                 cold_queue: ColdQueue | None = None) -> None:
        self._target = target
        self.breaker = breaker
        self._probe_interval_s = probe_interval_s
        self.cold_queue = cold_queue or ColdQueue()
        #: Why the last unanswered lookup failed: the reason an open breaker reports.
        self._no_answer_reason = FallbackReason.DEADLINE_EXCEEDED
        self._probe_task: asyncio.Task[None] | None = None
        self._channel = grpc.aio.insecure_channel(
            target,
            options=[
                ("grpc.lb_policy_name", "round_robin"),
                ("grpc.keepalive_time_ms", _KEEPALIVE_TIME_MS),
                ("grpc.keepalive_timeout_ms", _KEEPALIVE_TIMEOUT_MS),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.max_pings_without_data", 0),
                # No grpc.min_reconnect_backoff_ms: gRPC also uses it as the connect timeout,
                # and a 250 ms one turns a slow or hung service into UNAVAILABLE before the
                # fetch timeout has run; the default (20 s) leaves that to the fetch timeout.
                ("grpc.initial_reconnect_backoff_ms", 250),
                ("grpc.max_reconnect_backoff_ms", _MAX_RECONNECT_BACKOFF_MS),
                ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.enable_retries", 0),
            ],
        )
        self._stub = pb_grpc.FingerprintServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    @classmethod
    def from_config(cls, config: Config) -> FingerprintClient:
        return cls(config.fingerprint_target,
                   breaker=Breaker(config.fingerprint_breaker_failures,
                                   config.fingerprint_breaker_cooldown_s),
                   probe_interval_s=config.fingerprint_breaker_probe_interval_s)

    async def close(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._probe_task
        await self._channel.close()

    async def fetch(
        self, track: LocalTrack, *, timeout_s: float, duration_s: float, request_id: str = ""
    ) -> FetchedFingerprint | FetchFailure:
        """The fingerprint of ``track`` (``duration_s`` of audio), or why not. Never raises for
        a remote failure."""
        if self.breaker.is_open:
            return FetchFailure(self._no_answer_reason,
                                f"circuit breaker open for {self.breaker.open_for_s():.1f} s: the "
                                f"fingerprint service left {self.breaker.failures_to_open} "
                                "lookups in a row unanswered; not asking until a probe answers")
        if timeout_s <= 0.0:
            return FetchFailure(FallbackReason.DEADLINE_EXCEEDED, "no time left to ask")
        started = time.monotonic()
        metadata = (("x-request-id", request_id),) if request_id else None
        try:
            response = await self._stub.GetFingerprint(
                pb.GetFingerprintRequest(track=self._lookup_ref(track), cached_only=True),
                timeout=timeout_s, metadata=metadata)
            self.breaker.record_answer()
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                return self._failed(error, lookup=True)
            self.breaker.record_answer()
            remaining_s = timeout_s - (time.monotonic() - started)
            computed = await self._compute(track, remaining_s, duration_s, metadata)
            if isinstance(computed, FetchFailure):
                return computed
            response = computed
        if response.algorithm_version != ALGORITHM_VERSION:
            return FetchFailure(FallbackReason.ERROR,
                                f"algorithm version {response.algorithm_version} differs from "
                                f"{ALGORITHM_VERSION}")
        return _from_pb(response)

    async def fetch_album(self, track: LocalTrack, *, timeout_s: float, request_id: str = ""
                          ) -> FetchedAlbum | FetchFailure:
        """The album of ``track`` from the library (GetAlbum), under the same timeout as the
        fingerprint and the same breaker (an open one is not asked). Never raises for a remote
        failure; a track sent as content has no album."""
        if track.relative_path is None:
            return FetchFailure(FallbackReason.ERROR, "a track sent as content has no album")
        if self.breaker.is_open:
            return FetchFailure(self._no_answer_reason, "circuit breaker open")
        if timeout_s <= 0.0:
            return FetchFailure(FallbackReason.DEADLINE_EXCEEDED, "no time left to ask")
        metadata = (("x-request-id", request_id),) if request_id else None
        try:
            response: pb.GetAlbumResponse = await self._stub.GetAlbum(
                pb.GetAlbumRequest(track_path=track.relative_path), timeout=timeout_s,
                metadata=metadata)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return FetchFailure(FallbackReason.ERROR, "the track is not in the library")
            return FetchFailure(_classify(error), f"{error.code().name}: {error.details()}")
        return FetchedAlbum(album_id=response.album_id,
                            integrated_lufs=response.integrated_lufs,
                            tracks=len(response.tracks))

    @staticmethod
    def _lookup_ref(track: LocalTrack) -> pb.TrackRef:
        if isinstance(track.source, bytes):
            return pb.TrackRef(content_sha256=sha256_bytes(track.source))
        return pb.TrackRef(path=track.relative_path)

    async def _compute(
        self, track: LocalTrack, remaining_s: float, duration_s: float,
        metadata: tuple[tuple[str, str], ...] | None,
    ) -> pb.GetFingerprintResponse | FetchFailure:
        """Ask for the computation, unless the queue says it would come back too late."""
        expected_s = self.cold_queue.expected_wait_s(duration_s)
        if expected_s > remaining_s:
            log.info("fingerprint_not_asked", expected_s=round(expected_s, 2),
                     remaining_s=round(remaining_s, 2), in_flight=self.cold_queue.in_flight,
                     track=track.describe())
            return FetchFailure(FallbackReason.DEADLINE_EXCEEDED,
                                f"not cached, and the fingerprint service is busy: "
                                f"{self.cold_queue.in_flight} computations queued, this one "
                                f"expected in {expected_s:.1f} s, more than the "
                                f"{max(0.0, remaining_s):.1f} s left")
        source = (pb.TrackRef(content=track.source) if isinstance(track.source, bytes)
                  else pb.TrackRef(path=track.relative_path))
        ticket = self.cold_queue.enter(duration_s)
        started = time.monotonic()
        elapsed_s: float | None = None
        try:
            response: pb.GetFingerprintResponse = await self._stub.GetFingerprint(
                pb.GetFingerprintRequest(track=source), timeout=remaining_s, metadata=metadata)
            elapsed_s = time.monotonic() - started
            return response
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                elapsed_s = time.monotonic() - started
            return self._failed(error, lookup=False)
        finally:
            self.cold_queue.leave(ticket, elapsed_s)

    def _failed(self, error: grpc.aio.AioRpcError, *, lookup: bool) -> FetchFailure:
        reason = _classify(error)
        log.warning("fingerprint_fetch_failed", reason=reason.value, step=(
            "lookup" if lookup else "compute"), code=error.code().name, detail=error.details(),
            target=self._target)
        if lookup and not _answered(error):
            self._no_answer_reason = reason
            self._note(self.breaker.record_no_answer())
        return FetchFailure(reason, f"{error.code().name}: {error.details()}")

    def _note(self, transition: Transition | None) -> None:
        """Log a change of the breaker's state; start the probe when it opened."""
        if transition is None:
            return
        if transition.state is BreakerState.OPEN:
            log.warning("fingerprint_breaker_opened", failures=transition.failures,
                        cooldown_s=self.breaker.cooldown_s,
                        probe_interval_s=self._probe_interval_s, target=self._target)
            if self._probe_task is None or self._probe_task.done():
                # A context of its own: the probe outlives the request that opened the breaker.
                self._probe_task = asyncio.get_running_loop().create_task(
                    self._probe_until_closed(), context=contextvars.Context())
        else:
            log.info("fingerprint_breaker_closed", open_s=round(transition.after_s, 2),
                     target=self._target)

    async def _probe_until_closed(self) -> None:
        while self.breaker.is_open:
            await asyncio.sleep(max(self._probe_interval_s, self.breaker.probe_due_in_s()))
            self._note(self.breaker.record_probe(await self._probe()))

    async def _probe(self) -> bool:
        """Whether the service answers a health check now (SERVING, or no health service: an
        answer all the same). NOT_SERVING is a draining server: not back."""
        try:
            response = await self._health.Check(health_pb2.HealthCheckRequest(),
                                                timeout=_PROBE_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            return bool(error.code() == grpc.StatusCode.UNIMPLEMENTED)
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)
