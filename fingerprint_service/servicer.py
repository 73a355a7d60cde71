"""FingerprintService over gRPC: protobuf in, domain call, protobuf out. Nothing else."""

from __future__ import annotations

import grpc

from fingerprint_service.service import FingerprintResult, FingerprintService, TrackQuery
from shared.errors import InvalidArgument
from shared.fingerprint import FINGERPRINT_FIELDS, FingerprintSource
from shared.grpc_runtime import annotate
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc

_SOURCE_TO_PB = {
    FingerprintSource.DATABASE: pb.DATABASE,
    FingerprintSource.SIDECAR: pb.SIDECAR,
    FingerprintSource.COMPUTED: pb.COMPUTED,
}


def query_from_pb(track: pb.TrackRef) -> TrackQuery:
    which = track.WhichOneof("source")
    if which == "path":
        return TrackQuery(path=track.path)
    if which == "content":
        return TrackQuery(content=track.content)
    if which == "content_sha256":
        return TrackQuery(content_sha256=track.content_sha256)
    raise InvalidArgument("track: set exactly one of track.path, track.content or "
                          "track.content_sha256")


def response_to_pb(result: FingerprintResult) -> pb.GetFingerprintResponse:
    fp = result.fingerprint
    info = result.info
    return pb.GetFingerprintResponse(
        fingerprint=pb.Fingerprint(**{name: getattr(fp, name) for name in FINGERPRINT_FIELDS}),
        track_info=pb.TrackInfo(**info.to_dict()),
        algorithm_version=result.algorithm_version,
        source=_SOURCE_TO_PB[result.source],
        compute_ms=result.compute_ms,
    )


class FingerprintServicer(pb_grpc.FingerprintServiceServicer):
    def __init__(self, service: FingerprintService) -> None:
        self._service = service

    async def GetFingerprint(
        self, request: pb.GetFingerprintRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetFingerprintResponse:
        query = query_from_pb(request.track)
        annotate(track=query.path if query.path is not None else "<content>")
        result = await self._service.get(
            query, cached_only=request.cached_only, force_recompute=request.force_recompute
        )
        annotate(source=result.source.value, compute_ms=round(result.compute_ms, 1))
        return response_to_pb(result)
