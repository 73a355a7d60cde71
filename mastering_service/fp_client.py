"""The mastering service's client of the fingerprint service.

One long-lived channel: round-robin over every address the target resolves to (a headless
Kubernetes Service gives one per replica), keepalive pings the server side accepts, and a short
reconnect backoff. Calls never wait for a connection (no wait_for_ready): when the service is
down the call fails at once with UNAVAILABLE and the stream falls back without waiting.

Python does not propagate deadlines, and an unset caller deadline reads as ~1e19 s, so every call
gets an explicit timeout: min(requested timeout, caller's remaining time − margin).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
import structlog

from mastering_service.plan import FallbackReason
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


@dataclass(frozen=True, slots=True)
class FetchedFingerprint:
    fingerprint: Fingerprint
    info: TrackInfo
    source: FingerprintSource


@dataclass(frozen=True, slots=True)
class FetchFailure:
    reason: FallbackReason
    detail: str


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
        info=TrackInfo(**{name: getattr(info, name) for name in TRACK_INFO_FIELDS}),
        source=FingerprintSource(pb.FingerprintSource.Name(response.source)),
    )


def _classify(error: grpc.aio.AioRpcError) -> FallbackReason:
    code = error.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return FallbackReason.UNAVAILABLE
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return FallbackReason.DEADLINE_EXCEEDED
    return FallbackReason.ERROR


class FingerprintClient:
    def __init__(self, target: str) -> None:
        self._target = target
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

    async def close(self) -> None:
        await self._channel.close()

    async def fetch(
        self, track: LocalTrack, *, timeout_s: float, request_id: str = ""
    ) -> FetchedFingerprint | FetchFailure:
        """The fingerprint of ``track``, or why not. Never raises for a remote failure."""
        if timeout_s <= 0.0:
            return FetchFailure(FallbackReason.DEADLINE_EXCEEDED, "no time left to ask")
        metadata = (("x-request-id", request_id),) if request_id else None
        try:
            if isinstance(track.source, bytes):
                response = await self._fetch_content(track.source, timeout_s, metadata)
            else:
                request = pb.GetFingerprintRequest(track=pb.TrackRef(path=track.relative_path))
                response = await self._stub.GetFingerprint(request, timeout=timeout_s,
                                                            metadata=metadata)
        except grpc.aio.AioRpcError as error:
            reason = _classify(error)
            log.warning("fingerprint_fetch_failed", reason=reason.value,
                        code=error.code().name, detail=error.details(), target=self._target)
            return FetchFailure(reason, f"{error.code().name}: {error.details()}")
        if response.algorithm_version != ALGORITHM_VERSION:
            return FetchFailure(FallbackReason.ERROR,
                                f"algorithm version {response.algorithm_version} differs from "
                                f"{ALGORITHM_VERSION}")
        return _from_pb(response)

    async def _fetch_content(
        self, content: bytes, timeout_s: float, metadata: tuple[tuple[str, str], ...] | None
    ) -> pb.GetFingerprintResponse:
        """Ask by hash first; send the bytes only when the service has not seen them."""
        started = time.monotonic()
        by_hash = pb.GetFingerprintRequest(
            track=pb.TrackRef(content_sha256=sha256_bytes(content)), cached_only=True)
        try:
            response: pb.GetFingerprintResponse = await self._stub.GetFingerprint(
                by_hash, timeout=timeout_s, metadata=metadata)
            return response
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
        remaining = max(0.001, timeout_s - (time.monotonic() - started))
        full = pb.GetFingerprintRequest(track=pb.TrackRef(content=content))
        response = await self._stub.GetFingerprint(full, timeout=remaining, metadata=metadata)
        return response

