"""Fingerprint benchmarks (SPEC section 9): extraction time against bare decode time, on one
core, for a generated 4-min 44.1 kHz stereo WAV and for one corpus OGG; peak RSS while
fingerprinting a generated 60-min track. The corpus OGG is also set beside two peers measured in
the same run: ffmpeg's bare decode of the file (``ffmpeg -i f -f null -``) and a librosa pipeline
(load at its default rate, beat_track, spectral centroid/rolloff/flatness, chroma_stft; warm,
imports done), from the bench-only ``bench`` extra.

Every measurement runs in a fresh child process pinned to one CPU with single-threaded BLAS,
so it sees exactly one core and its ``ru_maxrss`` is its own. Times are the best of a few runs
(the machine is shared; the minimum is the least disturbed figure); the corpus OGG and its two
peers are measured in alternating rounds, so a busy spell slows all three alike.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from tests.signals import music_like

REPO_ROOT = Path(__file__).resolve().parents[2]
RATE = 44_100
TRACK_S = 240.0
LONG_TRACK_MIN = 60
RUNS = 3
#: Alternating rounds of the fingerprint and its peers (see ``_timing_rows``).
PEER_ROUNDS = 3
FINGERPRINT_TARGET_S = 1.0
DECODE_RATIO_TARGET = 2.0
PEAK_RSS_TARGET_MB = 400.0
#: Cold fingerprint of the corpus OGG against ffmpeg's bare decode of the same file.
FFMPEG_RATIO_TARGET = 3.0
#: Cold fingerprint of the corpus OGG against the librosa pipeline on it.
LIBROSA_RATIO_TARGET = 0.33
#: The 60-min file is written from one generated minute, repeated (it never sits in memory whole).
_SEGMENT_S = 60.0

# Runs in the child: time `repeats` bare decodes and `repeats` fingerprints of one file.
_CHILD = """
import json, resource, sys, time
from pathlib import Path
from shared.audio import open_audio
from fingerprint_service.extractor import extract

path, mode, repeats = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])


def decode():
    with open_audio(path) as reader:
        for _block in reader.blocks():
            pass


def best_of(task, name):
    wall = cpu = float("inf")
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        task()
        wall = min(wall, time.perf_counter() - start_wall)
        cpu = min(cpu, time.process_time() - start_cpu)
    result[name + "_s"], result[name + "_cpu_s"] = wall, cpu


result = {}
if mode in ("time", "decode"):
    best_of(decode, "decode")
if mode in ("time", "fingerprint"):
    best_of(lambda: extract(path), "fingerprint")
result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps(result))
"""


# Runs in the child: the librosa peer, warm (imports and a first run done), best of `repeats`.
_LIBROSA_CHILD = """
import json, sys, time
import librosa

path, repeats = sys.argv[1], int(sys.argv[2])


def pipeline():
    y, sr = librosa.load(path)
    librosa.beat.beat_track(y=y, sr=sr)
    librosa.feature.spectral_centroid(y=y, sr=sr)
    librosa.feature.spectral_rolloff(y=y, sr=sr)
    librosa.feature.spectral_flatness(y=y)
    librosa.feature.chroma_stft(y=y, sr=sr)


pipeline()
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    pipeline()
    best = min(best, time.perf_counter() - start)
print(json.dumps({"librosa_s": best}))
"""


def _one_core_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _pin_to_one_cpu() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})


def _measure(path: Path, mode: str, repeats: int) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode, str(repeats)],
        capture_output=True,
        text=True,
        check=True,
        env=_one_core_env(),
        cwd=REPO_ROOT,
        preexec_fn=_pin_to_one_cpu,
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _ffmpeg_decode_s(path: Path, repeats: int) -> float:
    """Best wall time of ``ffmpeg -i path -f null -`` on the same one core."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
            check=True,
            preexec_fn=_pin_to_one_cpu,
        )
        best = min(best, time.perf_counter() - start)
    return best


def _librosa_s(path: Path, repeats: int) -> float | None:
    """Best wall time of the librosa pipeline, or None when the ``bench`` extra is missing."""
    if importlib.util.find_spec("librosa") is None:
        return None
    proc = subprocess.run(
        [sys.executable, "-c", _LIBROSA_CHILD, str(path), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
        env=_one_core_env(),
        cwd=REPO_ROOT,
        preexec_fn=_pin_to_one_cpu,
    )
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["librosa_s"])


def _peer_rows(
    label: str, path: Path, fingerprint_s: float, ffmpeg_s: float, librosa_s: float | None
) -> list[dict[str, Any]]:
    """The fingerprint beside ffmpeg's bare decode and the librosa pipeline, same run."""
    rows: list[dict[str, Any]] = [
        {
            "metric": f"ffmpeg bare decode {label}",
            "value": ffmpeg_s,
            "unit": "s",
            "target": "(peer)",
            "ok": None,
        },
        {
            "metric": f"fingerprint / ffmpeg decode {label}",
            "value": fingerprint_s / ffmpeg_s,
            "unit": "x",
            "target": f"<= {FFMPEG_RATIO_TARGET:g}x",
            "ok": fingerprint_s / ffmpeg_s <= FFMPEG_RATIO_TARGET,
        },
    ]
    if librosa_s is None:
        rows.append(
            {
                "metric": f"fingerprint / librosa {label}",
                "value": float("nan"),
                "unit": "x",
                "target": "install the 'bench' extra",
                "ok": None,
            }
        )
        return rows
    return [
        *rows,
        {
            "metric": f"librosa pipeline {label}",
            "value": librosa_s,
            "unit": "s",
            "target": "(peer)",
            "ok": None,
        },
        {
            "metric": f"fingerprint / librosa {label}",
            "value": fingerprint_s / librosa_s,
            "unit": "x",
            "target": f"<= {LIBROSA_RATIO_TARGET:g}x",
            "ok": fingerprint_s / librosa_s <= LIBROSA_RATIO_TARGET,
        },
    ]


def _timing_rows(
    label: str, path: Path, time_target: bool, peers: bool = False
) -> list[dict[str, Any]]:
    """Wall-clock rows carry the targets; CPU-time rows show what a busy machine hides.

    With ``peers``, the fingerprint, ffmpeg's decode and the librosa pipeline are measured in
    ``PEER_ROUNDS`` alternating rounds and each keeps its best: a minute of a busy neighbour
    then slows all three, not just the one that happened to run in it."""
    if not peers:
        m = _measure(path, "time", RUNS)
        peer_rows: list[dict[str, Any]] = []
    else:
        rounds = []
        for _ in range(PEER_ROUNDS):
            rounds.append((_measure(path, "time", RUNS), _ffmpeg_decode_s(path, RUNS),
                           _librosa_s(path, RUNS)))
        m = {key: min(r[0][key] for r in rounds) for key in rounds[0][0]}
        librosa_times = [r[2] for r in rounds if r[2] is not None]
        peer_rows = _peer_rows(label, path, m["fingerprint_s"], min(r[1] for r in rounds),
                               min(librosa_times) if librosa_times else None)
    ratio = m["fingerprint_s"] / m["decode_s"]
    return [
        *peer_rows,
        {
            "metric": f"fingerprint {label}",
            "value": m["fingerprint_s"],
            "unit": "s",
            "target": f"<= {FINGERPRINT_TARGET_S:g} s" if time_target else "(info)",
            "ok": m["fingerprint_s"] <= FINGERPRINT_TARGET_S if time_target else None,
        },
        {
            "metric": f"fingerprint CPU time {label}",
            "value": m["fingerprint_cpu_s"],
            "unit": "s",
            "target": "(info)",
            "ok": None,
        },
        {
            "metric": f"bare decode {label}",
            "value": m["decode_s"],
            "unit": "s",
            "target": "(info)",
            "ok": None,
        },
        {
            "metric": f"bare decode CPU time {label}",
            "value": m["decode_cpu_s"],
            "unit": "s",
            "target": "(info)",
            "ok": None,
        },
        {
            "metric": f"fingerprint / decode {label}",
            "value": ratio,
            "unit": "x",
            "target": f"<= {DECODE_RATIO_TARGET:g}x",
            "ok": ratio <= DECODE_RATIO_TARGET,
        },
    ]


def _write_long_track(path: Path, minutes: int) -> None:
    segment = music_like(_SEGMENT_S, RATE).astype(np.float32)
    with sf.SoundFile(str(path), "w", samplerate=RATE, channels=2, subtype="PCM_16") as out:
        for _ in range(minutes):
            out.write(segment)


def _corpus_track() -> Path | None:
    from tests.conftest import CORPUS_DIR

    tracks = sorted(CORPUS_DIR.glob("*.ogg"), key=lambda p: p.stat().st_size)
    # The one closest to four minutes of Vorbis at ~128 kbit/s (≈ 4 MB): the WAV's twin.
    return min(tracks, key=lambda p: abs(p.stat().st_size - 4_000_000)) if tracks else None


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-fingerprint-") as tmp:
        wav = Path(tmp) / "four-minutes.wav"
        sf.write(str(wav), music_like(TRACK_S, RATE), RATE, subtype="PCM_16")
        rows += _timing_rows("4-min 44.1 kHz stereo WAV", wav, time_target=True)
        wav.unlink()

        ogg = _corpus_track()
        if ogg is not None:
            duration_s = sf.info(str(ogg)).duration
            rows += _timing_rows(
                f"corpus OGG {ogg.stem} ({duration_s:.0f} s)", ogg, time_target=False, peers=True
            )

        long_track = Path(tmp) / "sixty-minutes.wav"
        _write_long_track(long_track, LONG_TRACK_MIN)
        m = _measure(long_track, "fingerprint", 1)
        rows += [
            {
                "metric": f"fingerprint peak RSS, {LONG_TRACK_MIN}-min stereo WAV",
                "value": m["peak_rss_mb"],
                "unit": "MB",
                "target": f"< {PEAK_RSS_TARGET_MB:g} MB",
                "ok": m["peak_rss_mb"] < PEAK_RSS_TARGET_MB,
            },
            {
                "metric": f"fingerprint {LONG_TRACK_MIN}-min stereo WAV",
                "value": m["fingerprint_s"],
                "unit": "s",
                "target": "(info)",
                "ok": None,
            },
        ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
