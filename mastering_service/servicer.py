"""MasteringService over gRPC: protobuf in, domain stream, protobuf out. Nothing else."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import grpc

from mastering_service.plan import LoudnessMode, MasteringPlan
from mastering_service.request import ASPECT_AMOUNT_FIELDS, MasterRequest
from mastering_service.service import (
    MasteringService,
    StreamChunk,
    StreamEnd,
    StreamEvent,
    StreamStart,
)
from shared.errors import InvalidArgument
from shared.grpc_runtime import annotate, current_request_id
from shared.proto.mastering.v1 import mastering_pb2 as pb
from shared.proto.mastering.v1 import mastering_pb2_grpc as pb_grpc

_ENCODING_FROM_PB = {pb.PCM_S16LE: "s16", pb.PCM_S24LE: "s24", pb.PCM_F32LE: "f32"}
_ENCODING_TO_PB = {name: value for value, name in _ENCODING_FROM_PB.items()}
_CONTAINER_FROM_PB = {pb.RAW: "raw", pb.WAV: "wav", pb.FLAC: "flac", pb.OGG_OPUS: "ogg_opus",
                      pb.MP3: "mp3", pb.MP4_AAC: "mp4_aac", pb.ADTS_AAC: "adts_aac"}
_CONTAINER_TO_PB = {name: value for value, name in _CONTAINER_FROM_PB.items()}


def _loudness_mode(value: int) -> LoudnessMode:
    if value not in pb.LoudnessMode.values():
        raise InvalidArgument(f"loudness_mode {value} is not one of TRACK, ALBUM")
    return LoudnessMode(pb.LoudnessMode.Name(value))


def request_from_pb(request: pb.MasterTrackRequest) -> MasterRequest:
    which = request.track.WhichOneof("source")
    if which is None:
        raise InvalidArgument("track: set exactly one of track.path or track.content")
    if request.encoding not in _ENCODING_FROM_PB:
        raise InvalidArgument(f"encoding {request.encoding} is not one of PCM_S16LE, PCM_S24LE, "
                              "PCM_F32LE")
    if request.container not in _CONTAINER_FROM_PB:
        raise InvalidArgument(f"container {request.container} is not one of "
                              f"{', '.join(pb.Container.Name(v) for v in _CONTAINER_FROM_PB)}")
    reference = request.reference.WhichOneof("source") if request.HasField("reference") else None
    if request.HasField("reference") and reference is None:
        raise InvalidArgument("reference: set exactly one of reference.path or "
                              "reference.content (or leave reference unset)")
    defaults = MasterRequest()
    return MasterRequest(
        path=request.track.path if which == "path" else None,
        content=request.track.content if which == "content" else None,
        target_lufs=(request.target_lufs if request.HasField("target_lufs")
                     else defaults.target_lufs),
        true_peak_ceiling_dbtp=(request.true_peak_ceiling_dbtp
                                if request.HasField("true_peak_ceiling_dbtp")
                                else defaults.true_peak_ceiling_dbtp),
        intensity=request.intensity if request.HasField("intensity") else defaults.intensity,
        encoding=_ENCODING_FROM_PB[request.encoding],
        container=_CONTAINER_FROM_PB[request.container],
        start_s=request.start_s,
        chunk_frames=request.chunk_frames,
        fingerprint_timeout_ms=(request.fingerprint_timeout_ms
                                if request.HasField("fingerprint_timeout_ms") else None),
        bit_rate_kbps=request.bit_rate_kbps if request.HasField("bit_rate_kbps") else None,
        mp3_vbr=request.mp3_vbr,
        loudness_mode=_loudness_mode(request.loudness_mode),
        reference_path=request.reference.path if reference == "path" else None,
        reference_content=request.reference.content if reference == "content" else None,
        **{name: getattr(request, name) if request.HasField(name) else None
           for name in ASPECT_AMOUNT_FIELDS},
    )


def plan_to_pb(plan: MasteringPlan) -> pb.MasteringPlan:
    """Field for field: the plan's names are the wire names (enums by their value names)."""
    fields = plan.to_dict()
    fields["category"] = pb.Category.Value(fields["category"])
    fields["fingerprint_source"] = pb.FingerprintSource.Value(fields["fingerprint_source"])
    fields["fallback_reason"] = pb.FallbackReason.Value(fields["fallback_reason"])
    return pb.MasteringPlan(**fields)


def event_to_pb(event: StreamEvent) -> pb.MasterTrackResponse:
    if isinstance(event, StreamChunk):
        return pb.MasterTrackResponse(chunk=pb.AudioChunk(
            sequence=event.sequence, start_frame=event.start_frame, pcm=event.pcm))
    if isinstance(event, StreamStart):
        return pb.MasterTrackResponse(header=pb.StreamHeader(
            sample_rate=event.sample_rate, channels=event.channels,
            encoding=_ENCODING_TO_PB[event.encoding], container=_CONTAINER_TO_PB[event.container],
            total_frames=event.total_frames, duration_s=event.duration_s,
            plan=plan_to_pb(event.plan), content_sha256=event.content_sha256,
            codec=event.codec, bit_rate_kbps=event.bit_rate_kbps,
            output_sample_rate=event.output_sample_rate,
            encoder_delay_frames=event.encoder_delay_frames,
        ))
    assert isinstance(event, StreamEnd)
    return pb.MasterTrackResponse(summary=pb.StreamSummary(
        frames_sent=event.frames_sent, output_lufs=event.output_lufs,
        output_true_peak_dbtp=event.output_true_peak_dbtp, processing_ms=event.processing_ms,
        first_chunk_ms=event.first_chunk_ms, bytes_sent=event.bytes_sent,
    ))


class MasteringServicer(pb_grpc.MasteringServiceServicer):
    def __init__(self, service: MasteringService) -> None:
        self._service = service

    async def MasterTrack(
        self, request: pb.MasterTrackRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[pb.MasterTrackResponse, None]:
        master_request = request_from_pb(request)
        annotate(track=master_request.path if master_request.path is not None else "<content>")
        stream = self._service.master(master_request, caller_remaining_s=context.time_remaining(),
                                      request_id=current_request_id())
        async with aclosing(stream) as events:
            async for event in events:
                yield event_to_pb(event)
