"""Mastering judgement on real music (SPEC section 12): this project and
``ffmpeg -af loudnorm=I=-14:TP=-1`` side by side on the same tracks in one run, judged by ffmpeg's
``ebur128=peak=true``.

The tracks are the 18 calibration tracks (orchestral, electronic and jazz-ish game music from
three Debian packages, ``scripts/fetch-calibration``). Per track: requested, effective and
measured loudness, true peak, LRA in and out, crest in and out, for both. Summary rows: how many
renders land within ±0.5 LU of −14 with a true peak ≤ −0.9 dBTP, the spread of the output
loudness, and the mean LRA change. ``python -m tests.benchmarks bench_judgement`` runs it alone.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fingerprint_service.extractor import extract
from mastering_service.engine import RenderOptions, render_to_file
from mastering_service.lwrp import fingerprint_plan
from tests.calibration_music import calibration_tracks
from tests.signals import FfmpegMeasurement, crest_db, ffmpeg_ebur128

TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
#: A render counts as on target within this of −14 LUFS with its true peak at most −0.9 dBTP.
ON_TARGET_LU = 0.5
TRUE_PEAK_LIMIT_DBTP = CEILING_DBTP + 0.1


def _loudnorm(source: Path, out: Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-af",
                    f"loudnorm=I={TARGET_LUFS:g}:TP={CEILING_DBTP:g}", "-ar", "44100", str(out)],
                   check=True)


def _on_target(measured: FfmpegMeasurement) -> bool:
    return (abs(measured.integrated_lufs - TARGET_LUFS) <= ON_TARGET_LU
            and measured.true_peak_dbtp <= TRUE_PEAK_LIMIT_DBTP)


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ours: list[FfmpegMeasurement] = []
    theirs: list[FfmpegMeasurement] = []
    lra_changes: dict[str, list[float]] = {"this project": [], "ffmpeg loudnorm": []}
    table = [("track", "in LUFS", "effective", "ours LUFS", "ours dBTP", "ours LRA", "ours crest",
              "loudnorm LUFS", "loudnorm dBTP", "loudnorm LRA", "loudnorm crest", "in LRA",
              "in crest")]
    with tempfile.TemporaryDirectory() as folder:
        for track in calibration_tracks():
            source = ffmpeg_ebur128(track)
            crest_in = crest_db(track)
            plan = fingerprint_plan(*extract(track), target_lufs=TARGET_LUFS,
                                    true_peak_ceiling_dbtp=CEILING_DBTP)
            mine = Path(folder) / "ours.wav"
            render_to_file(track, mine, plan, RenderOptions(container="wav"))
            other = Path(folder) / "loudnorm.wav"
            _loudnorm(track, other)
            measured, reference = ffmpeg_ebur128(mine), ffmpeg_ebur128(other)
            ours.append(measured)
            theirs.append(reference)
            lra_changes["this project"].append(measured.loudness_range_lu
                                               - source.loudness_range_lu)
            lra_changes["ffmpeg loudnorm"].append(reference.loudness_range_lu
                                                  - source.loudness_range_lu)
            table.append((track.stem[:28], f"{source.integrated_lufs:.1f}",
                          f"{plan.effective_target_lufs:.1f}",
                          f"{measured.integrated_lufs:.1f}", f"{measured.true_peak_dbtp:.1f}",
                          f"{measured.loudness_range_lu:.1f}", f"{crest_db(mine):.1f}",
                          f"{reference.integrated_lufs:.1f}", f"{reference.true_peak_dbtp:.1f}",
                          f"{reference.loudness_range_lu:.1f}", f"{crest_db(other):.1f}",
                          f"{source.loudness_range_lu:.1f}", f"{crest_in:.1f}"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)),
              file=sys.stderr)
    for name, results in (("this project", ours), ("ffmpeg loudnorm", theirs)):
        loudness = np.array([m.integrated_lufs for m in results])
        rows.append({"metric": f"judgement: {name}: within ±0.5 LU of -14 and TP ≤ -0.9 dBTP",
                     "value": sum(_on_target(m) for m in results), "unit": f"of {len(results)}",
                     "target": "all due renders (SPEC section 12)", "ok": None})
        rows.append({"metric": f"judgement: {name}: spread of output loudness",
                     "value": float(loudness.max() - loudness.min()), "unit": "LU",
                     "target": "small (a playlist should not jump)", "ok": None})
        rows.append({"metric": f"judgement: {name}: mean LRA change",
                     "value": float(np.mean(lra_changes[name])), "unit": "LU",
                     "target": "near 0 (dynamics kept)", "ok": None})
    return rows
