"""SPEC section 10 on real music: what a player decodes from each lossy format keeps the ceiling
(+0.5 dB), and the codec moves the loudness by at most 0.5 LU, judged by ffmpeg.

The tracks are the ones whose decoded true peak overshot most when the head-room table in
``chain.codecs`` was measured (plus one loud, dense track), at the default bit rate and at the
low rate the table covers. Each is planned as MasterTrack plans it (for the limiter's ceiling,
the requested one less the format's head-room). The loudness reference is the 16-bit WAV render
of the same plan at the same limiter ceiling: how close that lands on the effective target is
the planner's accuracy, which ``test_mastering_corpus`` judges.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from fingerprint_service.extractor import extract
from mastering_service.chain.codecs import FORMATS, output_headroom_db
from mastering_service.engine import RenderOptions, render_to_file
from mastering_service.lwrp import plan_mastering
from shared.fingerprint import Fingerprint, TrackInfo
from tests.conftest import corpus_tracks
from tests.signals import ffmpeg_ebur128

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

TRACKS = ("Proton.ogg", "music002.ogg", "music012.ogg", "Infinite.ogg")
TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
LOSSY_PEAK_MARGIN_DB = 0.5
LOUDNESS_TOLERANCE_LU = 0.5
#: (format, bit rate): each lossy format at its default and at the table's low rate (AAC,
#: which refuses rates under its default, above it).
CASES = [("ogg_opus", None), ("ogg_opus", 96), ("mp3", None), ("mp3", 128), ("mp4_aac", None),
         ("adts_aac", 256)]


@cache
def _fingerprint(name: str) -> tuple[Fingerprint, TrackInfo]:
    return extract(_path(name))


def _path(name: str) -> Path:
    return {track.name: track for track in corpus_tracks()}[name]


@pytest.mark.parametrize(("fmt", "bit_rate_kbps"), CASES,
                         ids=[f"{fmt}-{rate or 'default'}" for fmt, rate in CASES])
@pytest.mark.parametrize("name", TRACKS)
def test_corpus_decoded_lossy_output_keeps_ceiling_and_loudness(
    name: str, fmt: str, bit_rate_kbps: int | None, tmp_path: Path, ffmpeg: str,
) -> None:
    fingerprint, info = _fingerprint(name)
    limiter_ceiling_dbtp = CEILING_DBTP - output_headroom_db(fmt, bit_rate_kbps)
    planned = plan_mastering(
        input_lufs=fingerprint.lufs, input_crest_db=fingerprint.crest_db,
        input_true_peak_dbtp=info.true_peak_dbtp, fingerprint=fingerprint,
        target_lufs=TARGET_LUFS, true_peak_ceiling_dbtp=limiter_ceiling_dbtp,
    )
    plan = replace(planned, true_peak_ceiling_dbtp=CEILING_DBTP)
    out = tmp_path / f"out.{FORMATS[fmt].extension}"
    render_to_file(_path(name), out, plan,
                   RenderOptions(container=fmt, bit_rate_kbps=bit_rate_kbps))
    reference = tmp_path / "reference.wav"
    render_to_file(_path(name), reference, planned, RenderOptions(container="wav"))
    judged, lossless = ffmpeg_ebur128(out), ffmpeg_ebur128(reference)
    assert judged.true_peak_dbtp <= CEILING_DBTP + LOSSY_PEAK_MARGIN_DB, (
        f"{name} {fmt}: decoded true peak {judged.true_peak_dbtp:.2f} dBTP")
    assert abs(judged.integrated_lufs - lossless.integrated_lufs) <= LOUDNESS_TOLERANCE_LU, (
        f"{name} {fmt}: {judged.integrated_lufs:.2f} LUFS vs {lossless.integrated_lufs:.2f} "
        f"for the lossless render")
