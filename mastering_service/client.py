"""Command-line client: ``python -m mastering_service.client master PATH -o out.wav``.

Streams a mastered track from a running mastering service into a file — WAV, or FLAC, Opus,
MP3 or AAC with ``--format`` (or the output's extension) — shows progress on stderr, and prints
the plan, the stream header and the summary as JSON on stdout. PATH is relative to the server's
media root; ``--upload`` sends a local file's bytes instead (and ``--reference`` likewise names a
reference track on the server, or a local file with ``--upload``). ``--report FILE.png`` draws
what the plan did to the track, which must then be readable here: ``--upload``, or PATH under
``--media-root``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict, ParseDict

from mastering_service.plan import Category, FallbackReason, MasteringPlan
from mastering_service.report import MissingReportDependency, require_matplotlib, write_report
from mastering_service.request import ASPECT_AMOUNT_FIELDS
from shared.fingerprint import FingerprintSource
from shared.proto.mastering.v1 import mastering_pb2 as pb
from shared.proto.mastering.v1 import mastering_pb2_grpc as pb_grpc

_ENCODINGS = {"s16": pb.PCM_S16LE, "s24": pb.PCM_S24LE, "f32": pb.PCM_F32LE}
_FORMATS = {"wav": pb.WAV, "raw": pb.RAW, "flac": pb.FLAC, "ogg_opus": pb.OGG_OPUS,
            "mp3": pb.MP3, "mp4_aac": pb.MP4_AAC, "adts_aac": pb.ADTS_AAC}
#: ``--format`` when it is not given: from the output file's extension, else WAV.
_FORMAT_BY_EXTENSION = {".wav": "wav", ".raw": "raw", ".flac": "flac", ".opus": "ogg_opus",
                        ".ogg": "ogg_opus", ".mp3": "mp3", ".m4a": "mp4_aac",
                        ".mp4": "mp4_aac", ".aac": "adts_aac"}
_MAX_MESSAGE_BYTES = 64 << 20
_PROGRESS_INTERVAL_S = 0.2


def build_request(args: argparse.Namespace) -> pb.MasterTrackRequest:
    track = (pb.TrackRef(content=Path(args.track).read_bytes()) if args.upload
             else pb.TrackRef(path=args.track))
    output_format = args.format or _FORMAT_BY_EXTENSION.get(Path(args.output).suffix.lower(),
                                                             "wav")
    request = pb.MasterTrackRequest(track=track, encoding=_ENCODINGS[args.encoding],
                                    container=_FORMATS[output_format], start_s=args.start_s,
                                    chunk_frames=args.chunk_frames, mp3_vbr=args.mp3_vbr)
    if args.bit_rate_kbps is not None:
        request.bit_rate_kbps = args.bit_rate_kbps
    if args.target_lufs is not None:
        request.target_lufs = args.target_lufs
    if args.ceiling_dbtp is not None:
        request.true_peak_ceiling_dbtp = args.ceiling_dbtp
    if args.intensity is not None:
        request.intensity = args.intensity
    if args.fingerprint_timeout_ms is not None:
        request.fingerprint_timeout_ms = args.fingerprint_timeout_ms
    if args.reference is not None:
        request.reference.CopyFrom(
            pb.TrackRef(content=Path(args.reference).read_bytes()) if args.upload
            else pb.TrackRef(path=args.reference))
    for name in ASPECT_AMOUNT_FIELDS:
        if getattr(args, name) is not None:
            setattr(request, name, getattr(args, name))
    return request


def plan_from_pb(plan: pb.MasteringPlan) -> MasteringPlan:
    """The header's plan as the domain object (for the report)."""
    values: dict[str, Any] = {field.name: getattr(plan, field.name)
                              for field in fields(MasteringPlan)}
    values["category"] = Category(pb.Category.Name(plan.category))
    values["fingerprint_source"] = FingerprintSource(
        pb.FingerprintSource.Name(plan.fingerprint_source))
    values["fallback_reason"] = FallbackReason(pb.FallbackReason.Name(plan.fallback_reason))
    values["reasons"] = tuple(plan.reasons)
    values["reference_lufs"] = plan.reference_lufs if plan.HasField("reference_lufs") else None
    return MasteringPlan(**values)


def _local_track(args: argparse.Namespace) -> Path:
    """The track as a local file, for the report."""
    local = Path(args.track) if args.upload else Path(args.media_root) / args.track
    if not local.is_file():
        raise FileNotFoundError(f"--report needs the track here: {local} is not a file "
                                "(use --upload, or --media-root for the server's media root)")
    return local


def master_to_file(
    target: str, request: pb.MasterTrackRequest, out_path: Path, *, timeout_s: float | None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run one MasterTrack call, write the file, return {"plan": …, "header": …,
    "summary": …}."""
    options = [("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
               ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES)]
    header: pb.StreamHeader | None = None
    summary: pb.StreamSummary | None = None
    frames_done = 0
    last_report = 0.0
    with grpc.insecure_channel(target, options=options) as channel:
        stub = pb_grpc.MasteringServiceStub(channel)
        tmp_path = out_path.with_name(out_path.name + ".part")
        with tmp_path.open("wb") as out:
            for message in stub.MasterTrack(request, timeout=timeout_s):
                kind = message.WhichOneof("event")
                if kind == "header":
                    header = message.header
                elif kind == "chunk":
                    out.write(message.chunk.pcm)
                    if header is not None:
                        # Encoded chunks carry no frame count; where the chunk starts is close.
                        frames_done = message.chunk.start_frame
                        now = time.monotonic()
                        if progress and now - last_report > _PROGRESS_INTERVAL_S:
                            share = frames_done / max(1, header.total_frames)
                            print(f"\rmastering {share:6.1%}", end="", file=sys.stderr)
                            last_report = now
                elif kind == "summary":
                    summary = message.summary
        tmp_path.replace(out_path)
    if progress:
        print("\rmastering 100.0%", file=sys.stderr)
    if header is None or summary is None:
        raise RuntimeError("the stream ended without a header and a summary")
    as_dict = {"preserving_proto_field_name": True, "always_print_fields_with_no_presence": True}
    header_fields = MessageToDict(header, **as_dict)
    header_fields.pop("plan")
    return {"plan": MessageToDict(header.plan, **as_dict), "header": header_fields,
            "summary": MessageToDict(summary, **as_dict),
            "output": str(out_path)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mastering_service.client",
                                     description="stream a mastered track into a file")
    commands = parser.add_subparsers(dest="command", required=True)
    master = commands.add_parser("master", help="master one track")
    master.add_argument("track", help="path relative to the server's media root "
                                      "(or a local file with --upload)")
    master.add_argument("-o", "--output", required=True, type=Path, help="file to write")
    master.add_argument("--format", choices=sorted(_FORMATS), default=None,
                        help="output format (default: from the output's extension, else wav)")
    master.add_argument("--bit-rate-kbps", type=int, help="bit rate of lossy output")
    master.add_argument("--mp3-vbr", action="store_true", help="MP3: average-bit-rate VBR")
    master.add_argument("--target", default="localhost:50052", help="mastering service address")
    master.add_argument("--upload", action="store_true", help="send the file's bytes")
    master.add_argument("--target-lufs", type=float)
    master.add_argument("--ceiling-dbtp", type=float)
    master.add_argument("--intensity", type=float)
    master.add_argument("--encoding", choices=sorted(_ENCODINGS), default="s16")
    master.add_argument("--start-s", type=float, default=0.0)
    master.add_argument("--chunk-frames", type=int, default=0)
    master.add_argument("--fingerprint-timeout-ms", type=int)
    master.add_argument("--timeout-s", type=float, default=None, help="overall deadline")
    master.add_argument("--reference", default=None,
                        help="reference track: path relative to the media root (or a local "
                             "file with --upload)")
    for name in ASPECT_AMOUNT_FIELDS:
        master.add_argument(f"--{name.removesuffix('_amount')}-amount", dest=name, type=float,
                            help="0-1 (default: --intensity)")
    master.add_argument("--report", type=Path, default=None, metavar="FILE.png",
                        help="draw loudness, spectrum and limiting before/after (matplotlib)")
    master.add_argument("--media-root", default=".",
                        help="where PATH is readable here, for --report (default: .)")
    args = parser.parse_args(argv)
    try:
        if args.report is not None:
            require_matplotlib()
            local_track = _local_track(args)
        result = master_to_file(args.target, build_request(args), args.output,
                                timeout_s=args.timeout_s)
        if args.report is not None:
            plan = plan_from_pb(ParseDict(result["plan"], pb.MasteringPlan()))
            write_report(local_track, plan, args.report)
            result["report"] = str(args.report)
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    except (OSError, MissingReportDependency) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
