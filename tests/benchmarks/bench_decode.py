"""Decoder benchmarks (SPEC section 10): decode time of a 4-min track per input format, the
project's decoder (``shared.audio``) against the old one (soundfile, where it reads the format
at all) and against ffmpeg's own single-threaded ``-f null`` decode, all in the same run; what
finding the exact frame count costs at open; peak RSS while decoding a 60-min track.

Times are the best of ``RUNS`` (the machine is shared; the minimum is the least disturbed
figure). Each decode converts to float64 blocks of ``DEFAULT_BLOCK_FRAMES``, as the services do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import soundfile as sf

from shared.audio import DEFAULT_BLOCK_FRAMES, open_audio
from tests.conftest import corpus_tracks
from tests.input_formats import FORMATS, encode

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS = 3
TRACK_S = 240.0
LONG_TRACK_MIN = 60
PEAK_RSS_TARGET_MB = 200.0

_RSS_CHILD = """
import json, resource, sys
from pathlib import Path
from shared.audio import open_audio
frames = 0
with open_audio(Path(sys.argv[1])) as reader:
    for block in reader.blocks():
        frames += block.shape[0]
print(json.dumps({"frames": frames,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _best(task: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        task()
        best = min(best, time.perf_counter() - start)
    return best


def _pyav(path: Path) -> None:
    with open_audio(path) as reader:
        for _block in reader.blocks():
            pass


def _open_only(path: Path) -> None:
    open_audio(path).close()


def _soundfile(path: Path) -> None:
    for _block in sf.blocks(str(path), blocksize=DEFAULT_BLOCK_FRAMES, dtype="float64",
                            always_2d=True):
        pass


def _ffmpeg_null(path: Path) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-threads", "1", "-i", str(path), "-f",
                    "null", "-"], check=True)


def _soundfile_reads(path: Path) -> bool:
    try:
        with sf.SoundFile(str(path)) as handle:
            handle.read(1024)
        return True
    except (sf.LibsndfileError, RuntimeError):
        return False


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "track.wav"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(corpus_tracks()[0]), "-t",
                        str(TRACK_S), "-c:a", "pcm_s16le", str(source)], check=True)
        for fmt in FORMATS:
            path = encode(source, work, fmt)
            new_s = _best(lambda: _pyav(path))  # noqa: B023 - called at once
            open_s = _best(lambda: _open_only(path))  # noqa: B023
            peer_s = _best(lambda: _ffmpeg_null(path))  # noqa: B023
            old_s = _best(lambda: _soundfile(path)) if _soundfile_reads(path) else None  # noqa: B023
            rows.append({"metric": f"decode 4-min {fmt.name}: shared.audio", "value": new_s,
                         "unit": "s",
                         "target": "≤ soundfile" if old_s is not None else "soundfile cannot",
                         "ok": None if old_s is None else new_s <= old_s})
            rows.append({"metric": f"decode 4-min {fmt.name}: soundfile",
                         "value": "cannot read" if old_s is None else old_s,
                         "unit": "" if old_s is None else "s", "target": "", "ok": None})
            rows.append({"metric": f"decode 4-min {fmt.name}: ffmpeg -f null", "value": peer_s,
                         "unit": "s", "target": "peer", "ok": None})
            rows.append({"metric": f"open + exact frame count {fmt.name}", "value": open_s,
                         "unit": "s", "target": "", "ok": None})
        long_path = work / "long.flac"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-stream_loop", "-1", "-i", str(source),
                        "-t", str(LONG_TRACK_MIN * 60), "-c:a", "flac", str(long_path)],
                       check=True)
        child = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(long_path)], cwd=REPO_ROOT,
                               check=True, capture_output=True, text=True)
        measured = json.loads(child.stdout)
        rows.append({"metric": f"peak RSS decoding a {LONG_TRACK_MIN}-min FLAC",
                     "value": measured["peak_rss_mb"], "unit": "MB",
                     "target": f"< {PEAK_RSS_TARGET_MB:.0f} MB (flat in duration)",
                     "ok": measured["peak_rss_mb"] < PEAK_RSS_TARGET_MB})
    return rows
