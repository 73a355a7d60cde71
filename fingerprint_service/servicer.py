"""FingerprintService over gRPC: protobuf in, domain call, protobuf out. Nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from fingerprint_service.library.album_loudness import REPLAYGAIN_REFERENCE_LUFS
from fingerprint_service.library.catalog import Album, SimilarTrack
from fingerprint_service.library.scan import Outcome, ScanProgress
from fingerprint_service.service import FingerprintResult, FingerprintService, TrackQuery
from shared.errors import InvalidArgument
from shared.fingerprint import FINGERPRINT_FIELDS, FingerprintSource
from shared.grpc_runtime import annotate
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc

_OUTCOME_TO_PB = {
    Outcome.FINGERPRINTED: pb.FILE_FINGERPRINTED,
    Outcome.UNCHANGED: pb.FILE_UNCHANGED,
    Outcome.SKIPPED: pb.FILE_SKIPPED,
    Outcome.FAILED: pb.FILE_FAILED,
    Outcome.GONE: pb.FILE_GONE,
}

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


def progress_to_pb(progress: ScanProgress) -> pb.ScanProgress:
    return pb.ScanProgress(
        files_found=progress.found,
        files_fingerprinted=progress.fingerprinted,
        files_unchanged=progress.unchanged,
        files_skipped=progress.skipped,
        files_failed=progress.failed,
        files_gone=progress.gone,
        bytes_done=progress.bytes_done,
        bytes_to_do=progress.bytes_to_do,
        bytes_per_s=progress.bytes_per_s,
        eta_s=progress.eta_s,
        elapsed_s=progress.elapsed_s,
        path=progress.path,
        outcome=(pb.SCAN_OUTCOME_UNSPECIFIED if progress.outcome is None
                 else _OUTCOME_TO_PB[progress.outcome]),
        error=progress.error,
    )


def album_to_pb(album: Album) -> pb.GetAlbumResponse:
    facts = album.loudness
    return pb.GetAlbumResponse(
        album_id=album.album_id,
        album_artist=album.album_artist,
        album_title=album.album_title,
        grouped_by_folder=album.grouped_by_folder,
        integrated_lufs=facts.integrated_lufs,
        loudness_range_lu=facts.loudness_range_lu,
        true_peak_dbtp=facts.true_peak_dbtp,
        replaygain_album_gain_db=facts.replaygain_album_gain_db,
        replaygain_album_peak=facts.replaygain_album_peak,
        replaygain_reference_lufs=REPLAYGAIN_REFERENCE_LUFS,
        tracks=[
            pb.AlbumTrack(
                path=track.path, title=track.tags.title, artist=track.tags.artist,
                disc_number=track.tags.disc_number, track_number=track.tags.track_number,
                duration_s=track.duration_s, loudness_lufs=track.loudness_lufs,
                true_peak_dbtp=track.true_peak_dbtp,
                replaygain_track_gain_db=track.replaygain_track_gain_db,
                replaygain_track_peak=track.replaygain_track_peak,
                content_sha256=track.content_sha256,
            )
            for track in album.tracks
        ],
    )


def similar_to_pb(track: SimilarTrack) -> pb.SimilarTrack:
    return pb.SimilarTrack(path=track.path, distance=track.distance,
                           similarity=track.similarity, artist=track.artist, title=track.title,
                           album_id=track.album_id)


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

    async def ScanLibrary(
        self, request: pb.ScanLibraryRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ScanLibraryResponse]:
        annotate(folder=request.folder)
        async for progress in self._service.scan_library(request.folder):
            if progress.done:
                annotate(**progress.summary())
                yield pb.ScanLibraryResponse(summary=progress_to_pb(progress))
            else:
                yield pb.ScanLibraryResponse(progress=progress_to_pb(progress))

    async def GetAlbum(
        self, request: pb.GetAlbumRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAlbumResponse:
        which = request.WhichOneof("album")
        album = await self._service.catalog.album(
            album_id=request.album_id if which == "album_id" else None,
            track_path=request.track_path if which == "track_path" else None,
        )
        annotate(album_id=album.album_id, tracks=len(album.tracks))
        return album_to_pb(album)

    async def SimilarTracks(
        self, request: pb.SimilarTracksRequest, context: grpc.aio.ServicerContext
    ) -> pb.SimilarTracksResponse:
        annotate(track=request.track_path)
        found = await self._service.catalog.similar(
            request.track_path, request.count if request.HasField("count") else None,
            exclude_same_album=request.exclude_same_album,
            max_per_artist=request.max_per_artist, distinct=request.distinct,
        )
        return pb.SimilarTracksResponse(tracks=[similar_to_pb(t) for t in found])

    async def SonicPath(
        self, request: pb.SonicPathRequest, context: grpc.aio.ServicerContext
    ) -> pb.SonicPathResponse:
        annotate(start=request.start_path, end=request.end_path)
        walk = await self._service.catalog.sonic_path(
            request.start_path, request.end_path,
            request.count if request.HasField("count") else None,
        )
        return pb.SonicPathResponse(tracks=[similar_to_pb(t) for t in walk])
