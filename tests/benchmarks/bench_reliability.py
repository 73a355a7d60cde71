"""Reliability benchmarks (issue 10): both services as real processes over loopback.

cold burst of 16 first plays of different real tracks (first chunk p50/p95/max, how many fell
back) · a hung fingerprint service (SIGSTOP): first chunk while the breaker counts, and once it
is open · peak RSS of one stream of a truncated VBR MP3 (its header claims far more frames than
the file holds).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from shared.proto.mastering.v1 import mastering_pb2 as ms_pb
from shared.proto.mastering.v1 import mastering_pb2_grpc as ms_grpc
from tests.servers import ServiceProcess, channel
from tests.signals import music_like, write_wav

CORPUS_DIR = Path(os.environ.get("CORPUS_DIR",
                                  Path.home() / ".cache" / "audio-mastering" / "corpus"))
BURST = 16
#: The issue's goal for the slowest first chunk of a cold burst of 16 on 2 cores.
BURST_GOAL_S = 6.0
#: Synthetic tracks when the corpus is missing: as long as a typical song.
SYNTHETIC_TRACK_S = 240.0
RATE = 44_100
#: Plays while the fingerprint service is stopped: the breaker's three, then three more.
HUNG_PLAYS = 6
BREAKER_FAILURES = 3
#: A long VBR MP3 cut to a twentieth of its bytes: the header claims 20× the frames.
MP3_CLAIMED_S = 1200.0
MP3_KEPT_FRACTION = 0.05
#: SPEC section 9: mastering adds at most this per concurrent stream.
STREAM_MEMORY_GOAL_MB = 30.0


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _play(stub: Any, path: str) -> tuple[float, ms_pb.StreamHeader]:
    """Seconds to the first chunk and the header; the stream is read to its end."""
    started = time.perf_counter()
    first_s = float("nan")
    header = ms_pb.StreamHeader()
    for message in stub.MasterTrack(ms_pb.MasterTrackRequest(track=ms_pb.TrackRef(path=path)),
                                    timeout=300):
        kind = message.WhichOneof("event")
        if kind == "header":
            header = message.header
        elif kind == "chunk" and message.chunk.sequence == 0:
            first_s = time.perf_counter() - started
    return first_s, header


@contextmanager
def _stack(media: Path, data: Path, **mastering_env: str
           ) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    env = {"MEDIA_ROOT": str(media), "DATA_DIR": str(data), "LOG_LEVEL": "info",
           "FINGERPRINT_WORKERS": "2", "MASTERING_MAX_STREAMS": str(BURST)}
    fingerprint = ServiceProcess("fingerprint_service", env, "FINGERPRINT_LISTEN")
    mastering = ServiceProcess(
        "mastering_service", {**env, **mastering_env,
                              "FINGERPRINT_TARGET": f"127.0.0.1:{fingerprint.port}"},
        "MASTERING_LISTEN")
    try:
        yield fingerprint, mastering
    finally:
        if fingerprint.proc.poll() is None:
            fingerprint.proc.send_signal(signal.SIGCONT)
        mastering.terminate()
        fingerprint.terminate()


def _burst_tracks(media: Path) -> list[str]:
    corpus = sorted(CORPUS_DIR.glob("*.ogg"), key=lambda p: p.stat().st_size, reverse=True)
    names = []
    if len(corpus) >= BURST:
        for track in corpus[:BURST]:
            shutil.copy(track, media / track.name)
            names.append(track.name)
        return names
    base = music_like(SYNTHETIC_TRACK_S, RATE, level_dbfs=-10.0)
    for i in range(BURST):
        write_wav(media / f"cold{i:02d}.wav", base + (i + 1) / 32768.0, RATE, subtype="PCM_16")
        names.append(f"cold{i:02d}.wav")
    return names


def _bench_cold_burst(root: Path) -> list[dict[str, Any]]:
    media = root / "burst"
    media.mkdir()
    names = _burst_tracks(media)
    results: list[tuple[float, ms_pb.StreamHeader]] = []
    errors: list[str] = []
    with _stack(media, root / "burst-data") as (_, mastering), channel(mastering.port) as ch:
        stub = ms_grpc.MasteringServiceStub(ch)

        def play(name: str) -> None:
            try:
                results.append(_play(stub, name))
            except Exception as error:  # counted, not raised: the row says how many
                errors.append(repr(error))

        threads = [threading.Thread(target=play, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    firsts = [first for first, _ in results]
    fallbacks = sum(1 for _, header in results if header.plan.fingerprint_source == ms_pb.FALLBACK)
    worst = max(firsts) if firsts else float("inf")
    p50, p95 = (float(np.percentile(firsts, q)) for q in (50, 95)) if firsts else (0.0, 0.0)
    return [
        {"metric": f"cold burst of {BURST}: errors", "value": len(errors), "unit": "",
         "target": "0", "ok": not errors},
        {"metric": f"cold burst of {BURST}: first chunk p50", "value": p50, "unit": "s",
         "target": "-", "ok": None},
        {"metric": f"cold burst of {BURST}: first chunk p95", "value": p95, "unit": "s",
         "target": "-", "ok": None},
        {"metric": f"cold burst of {BURST}: first chunk max", "value": worst, "unit": "s",
         "target": f"≤ {BURST_GOAL_S:g} s", "ok": worst <= BURST_GOAL_S},
        {"metric": f"cold burst of {BURST}: fell back", "value": fallbacks, "unit": "streams",
         "target": "-", "ok": None},
    ]


def _bench_hung(root: Path) -> list[dict[str, Any]]:
    media = root / "hung"
    media.mkdir()
    write_wav(media / "song.wav", music_like(SYNTHETIC_TRACK_S, RATE, level_dbfs=-10.0), RATE,
              subtype="PCM_16")
    with _stack(media, root / "hung-data",
                FINGERPRINT_BREAKER_FAILURES=str(BREAKER_FAILURES)) as (fingerprint, mastering), \
            channel(mastering.port) as ch:
        stub = ms_grpc.MasteringServiceStub(ch)
        _play(stub, "song.wav")  # computed, then cached
        _play(stub, "song.wav")
        os.kill(fingerprint.proc.pid, signal.SIGSTOP)
        firsts = [_play(stub, "song.wav")[0] for _ in range(HUNG_PLAYS)]
        os.kill(fingerprint.proc.pid, signal.SIGCONT)
    counting = statistics.median(firsts[:BREAKER_FAILURES])
    opened = statistics.median(firsts[BREAKER_FAILURES:])
    return [
        {"metric": "hung fingerprint service: first chunk, breaker closed", "value": counting,
         "unit": "s", "target": "the timeout (5 s) + fallback", "ok": None},
        {"metric": "hung fingerprint service: first chunk, breaker open", "value": opened,
         "unit": "s", "target": "≤ 1.5 s (no wait)", "ok": opened <= 1.5},
    ]


def _truncated_vbr_mp3(path: Path) -> None:
    full = path.with_suffix(".full.mp3")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"anoisesrc=d={MP3_CLAIMED_S}:c=pink:a=0.2", "-ac", "2", "-ar", str(RATE),
                    "-c:a", "libmp3lame", "-q:a", "2", str(full)], check=True)
    data = full.read_bytes()
    path.write_bytes(data[:int(len(data) * MP3_KEPT_FRACTION)])
    full.unlink()


def _bench_truncated_mp3(root: Path) -> list[dict[str, Any]]:
    media = root / "mp3"
    media.mkdir()
    _truncated_vbr_mp3(media / "cut.mp3")
    write_wav(media / "small.wav", music_like(5.0, RATE), RATE, subtype="PCM_16")
    with _stack(media, root / "mp3-data") as (_, mastering), channel(mastering.port) as ch:
        stub = ms_grpc.MasteringServiceStub(ch)
        _play(stub, "small.wav")  # every import and pool warmed up
        before_mb = _status_mb(mastering.proc.pid, "VmRSS")
        _play(stub, "cut.mp3")
        peak_mb = _status_mb(mastering.proc.pid, "VmHWM")
    added_mb = peak_mb - before_mb
    return [
        {"metric": "truncated VBR MP3 stream: peak RSS", "value": peak_mb, "unit": "MB",
         "target": "-", "ok": None},
        {"metric": "truncated VBR MP3 stream: added by the stream", "value": added_mb,
         "unit": "MB", "target": f"≤ {STREAM_MEMORY_GOAL_MB:g} MB",
         "ok": added_mb <= STREAM_MEMORY_GOAL_MB},
    ]


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        root = Path(tmp)
        for part in (_bench_cold_burst, _bench_hung, _bench_truncated_mp3):
            rows += part(root)
    return rows
