"""Offline use of the mastering engine: ``render IN OUT`` and ``plan IN``.

The plan comes from the track's own fingerprint, computed here by the fingerprint service's
extractor (the CLI sits above both services in the import order, beside the servicers), or with
``--no-fingerprint`` from the quick local analysis, the fallback plan; the printed plan says
which in ``fingerprint_source`` / ``fallback_reason``. ``--reference FILE`` fingerprints a
reference track the same way: the tonal balance and width move toward it and, without
``--target-lufs``, so does the loudness. ``render --report FILE.png`` also draws what the render
did (``report``; needs the optional matplotlib). Parameters are checked by the same
``request.validate`` as MasterTrack's. Errors go to stderr with exit status 2.

A file on the command line has the machine to itself, so both passes use two cores: the
fingerprint's STFT half and the render's decoding and chain run in forked children
(``extract(two_processes=True)``, ``render_to_file(two_processes=True)``), with the same results
as in one process.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from fingerprint_service.extractor import extract
from mastering_service.analysis import analyze
from mastering_service.chain.codecs import FORMATS, output_headroom_db
from mastering_service.chain.encoding import ENCODINGS
from mastering_service.engine import RenderOptions, render_to_file
from mastering_service.lwrp import fallback_plan, fingerprint_plan
from mastering_service.plan import FallbackReason, MasteringPlan
from mastering_service.report import MissingReportDependency, require_matplotlib, write_report
from mastering_service.request import (
    ASPECT_AMOUNT_FIELDS,
    CONTAINERS,
    DEFAULT_CEILING_DBTP,
    DEFAULT_INTENSITY,
    DEFAULT_TARGET_LUFS,
    MasterRequest,
    validate,
)
from shared.audio import probe
from shared.errors import ServiceError, TrackNotFound

#: Exit status for every error the user can cause (bad file, bad parameter).
EXIT_ERROR = 2
#: Tracks longer than this report progress on stderr.
PROGRESS_MIN_DURATION_S = 30.0
#: Progress is reported every this many percent.
PROGRESS_STEP_PERCENT = 10

def make_plan(
    path: Path,
    *,
    target_lufs: float | None = None,
    true_peak_ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    intensity: float = DEFAULT_INTENSITY,
    use_fingerprint: bool = True,
    reference: Path | None = None,
    tonal_amount: float | None = None,
    width_amount: float | None = None,
    dynamics_amount: float | None = None,
) -> MasteringPlan:
    """The plan for a local file: from its fingerprint, or (``use_fingerprint`` off, or the
    extractor failing on something other than the input) from the quick analysis
    (``fingerprint_source`` FALLBACK). ``reference``: a reference track, fingerprinted here
    (an unreadable one is an error, as for the input)."""
    options: dict[str, Any] = {
        "tonal_amount": tonal_amount, "width_amount": width_amount,
        "dynamics_amount": dynamics_amount,
        "reference": None if reference is None else extract(reference, two_processes=True)[0],
    }
    reason = FallbackReason.UNAVAILABLE
    if use_fingerprint:
        try:
            fingerprint, info = extract(path, two_processes=True)
        except ServiceError:
            raise
        except Exception:  # an extractor bug must not stop an offline render
            reason = FallbackReason.ERROR
        else:
            return fingerprint_plan(
                fingerprint, info, target_lufs=target_lufs,
                true_peak_ceiling_dbtp=true_peak_ceiling_dbtp, intensity=intensity, **options,
            )
    return fallback_plan(
        analyze(path),
        target_lufs=target_lufs,
        true_peak_ceiling_dbtp=true_peak_ceiling_dbtp,
        intensity=intensity,
        reason=reason,
        **options,
    )


def _add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="audio file (WAV, FLAC, OGG, MP3, …)")
    parser.add_argument("--target-lufs", type=float, default=None,
                        help=f"integrated loudness to aim for (default {DEFAULT_TARGET_LUFS:g}, "
                             "or the reference track's loudness)")
    parser.add_argument("--ceiling-dbtp", type=float, default=DEFAULT_CEILING_DBTP,
                        help="true-peak ceiling")
    parser.add_argument("--intensity", type=float, default=DEFAULT_INTENSITY,
                        help="0 = level and ceiling only, 1 = full processing")
    parser.add_argument("--no-fingerprint", action="store_true",
                        help="plan from the quick local analysis only (the fallback plan)")
    parser.add_argument("--reference", type=Path, default=None, metavar="FILE",
                        help="reference track: move the tonal balance and width toward it "
                             "(and the loudness, without --target-lufs)")
    for name in ASPECT_AMOUNT_FIELDS:
        stage = name.removesuffix("_amount")
        parser.add_argument(f"--{stage}-amount", dest=name, type=float, default=None,
                            help=f"0-1: how much of the {stage} stage (default: --intensity)")


def _plan_from_args(args: argparse.Namespace) -> MasteringPlan:
    validate(MasterRequest(
        target_lufs=args.target_lufs, true_peak_ceiling_dbtp=args.ceiling_dbtp,
        intensity=args.intensity, encoding=getattr(args, "encoding", "s16"),
        start_s=getattr(args, "start_s", 0.0), container=getattr(args, "format", "wav"),
        bit_rate_kbps=getattr(args, "bit_rate_kbps", None),
        mp3_vbr=getattr(args, "mp3_vbr", False),
        reference_path=None if args.reference is None else str(args.reference),
        **{name: getattr(args, name) for name in ASPECT_AMOUNT_FIELDS},
    ))
    for path in (args.input, args.reference):
        if path is not None and not path.is_file():
            raise TrackNotFound(f"no such file: {path}")
    # Planned for the limiter's ceiling (less the output format's head-room), reported with the
    # requested one, as MasterTrack does.
    headroom_db = output_headroom_db(getattr(args, "format", "wav"),
                                     getattr(args, "bit_rate_kbps", None))
    plan = make_plan(
        args.input,
        target_lufs=args.target_lufs,
        true_peak_ceiling_dbtp=args.ceiling_dbtp - headroom_db,
        intensity=args.intensity,
        use_fingerprint=not args.no_fingerprint,
        reference=args.reference,
        **{name: getattr(args, name) for name in ASPECT_AMOUNT_FIELDS},
    )
    return replace(plan, true_peak_ceiling_dbtp=args.ceiling_dbtp)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


class _Progress:
    """Prints ``render: 40%`` lines on stderr, one per PROGRESS_STEP_PERCENT."""

    def __init__(self) -> None:
        self._next_percent = PROGRESS_STEP_PERCENT

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent >= self._next_percent:
            print(f"render: {percent}%", file=sys.stderr, flush=True)
            self._next_percent = (percent // PROGRESS_STEP_PERCENT + 1) * PROGRESS_STEP_PERCENT


#: ``--format`` when it is not given: from the output file's extension, else WAV.
FORMAT_BY_EXTENSION = {".wav": "wav", ".raw": "raw", ".pcm": "raw", ".ogg": "ogg_opus",
                       ".m4a": "mp4_aac", ".mp4": "mp4_aac",
                       **{f".{spec.extension}": name for name, spec in FORMATS.items()}}


def main_render(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mastering_service render",
        description="Master an audio file to a WAV, FLAC, Opus, MP3 or AAC file and print the "
                    "plan and the result as JSON.",
    )
    _add_plan_arguments(parser)
    parser.add_argument("output", type=Path, help="file to write")
    parser.add_argument("--format", choices=CONTAINERS, default=None,
                        help="output format (default: from the output file's extension, "
                             "else wav)")
    parser.add_argument("--encoding", choices=ENCODINGS, default="s16",
                        help="sample format of WAV/RAW output; FLAC's bit depth (s16 or s24)")
    parser.add_argument("--bit-rate-kbps", type=int, default=None,
                        help="bit rate of lossy output (defaults: Opus 160, MP3 256, AAC 192)")
    parser.add_argument("--mp3-vbr", action="store_true",
                        help="MP3: LAME's average-bit-rate VBR instead of CBR")
    parser.add_argument("--start-s", type=float, default=0.0, help="start position, seconds")
    parser.add_argument("--report", type=Path, default=None, metavar="FILE.png",
                        help="also draw loudness, spectrum and limiting before/after as a PNG "
                             "(needs matplotlib: the 'report' extra)")
    args = parser.parse_args(argv)
    if args.format is None:
        args.format = FORMAT_BY_EXTENSION.get(args.output.suffix.lower(), "wav")
    try:
        if args.report is not None:
            require_matplotlib()  # before the render, not after it
        plan = _plan_from_args(args)
        options = RenderOptions(encoding=args.encoding, start_s=args.start_s,
                                container=args.format, bit_rate_kbps=args.bit_rate_kbps,
                                mp3_vbr=args.mp3_vbr)
        long_track = probe(args.input).duration_s > PROGRESS_MIN_DURATION_S
        summary = render_to_file(args.input, args.output, plan, options,
                                 progress=_Progress() if long_track else None,
                                 two_processes=True)
        if args.report is not None:
            write_report(args.input, plan, args.report)
    except (ServiceError, OSError, MissingReportDependency) as exc:
        return _fail(str(exc))
    report: dict[str, Any] = {
        "plan": plan.to_dict(),
        "output": {
            "format": args.format,
            "lufs": summary.output_lufs,
            "true_peak_dbtp": summary.output_true_peak_dbtp,
            "frames": summary.frames_sent,
            "bytes": summary.bytes_sent,
        },
    }
    if args.report is not None:
        report["report"] = str(args.report)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


def main_plan(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mastering_service plan",
        description="Print the mastering plan for an audio file as JSON.",
    )
    _add_plan_arguments(parser)
    args = parser.parse_args(argv)
    try:
        plan = _plan_from_args(args)
    except (ServiceError, OSError) as exc:
        return _fail(str(exc))
    print(json.dumps(plan.to_dict(), indent=2, ensure_ascii=False))
    return 0
