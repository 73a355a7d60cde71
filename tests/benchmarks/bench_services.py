"""Service-level benchmarks over loopback (SPEC section 9): both services as real processes.

warm GetFingerprint p50/p99 · cold and warm first-chunk latency p50/p95 · single-stream
throughput (s16, × real time) · 16 concurrent streams (errors, slowest × real time) · memory
added per concurrent stream.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import soundfile as sf

from shared.proto.fingerprint.v1 import fingerprint_pb2 as fp_pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as fp_grpc
from shared.proto.mastering.v1 import mastering_pb2 as ms_pb
from shared.proto.mastering.v1 import mastering_pb2_grpc as ms_grpc
from tests.servers import ServiceProcess, channel
from tests.signals import music_like

TRACK_S = 240.0
RATE = 44_100
COLD_CALLS = 20
WARM_CALLS = 30
LOOKUP_CALLS = 300
CONCURRENT = 16


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _rss_now_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _first_chunk_s(stub: Any, path: str) -> float:
    started = time.perf_counter()
    call = stub.MasterTrack(ms_pb.MasterTrackRequest(track=ms_pb.TrackRef(path=path)),
                            timeout=120)
    try:
        for message in call:
            if message.WhichOneof("event") == "chunk":
                return time.perf_counter() - started
    finally:
        call.cancel()
    raise RuntimeError("no chunk arrived")


def _full_stream(stub: Any, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    frames = 0
    for message in stub.MasterTrack(ms_pb.MasterTrackRequest(track=ms_pb.TrackRef(path=path)),
                                    timeout=600):
        if message.WhichOneof("event") == "summary":
            frames = message.summary.frames_sent
    return time.perf_counter() - started, frames


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-services-") as tmp:
        media = Path(tmp) / "media"
        media.mkdir()
        base = music_like(TRACK_S, RATE, level_dbfs=-8.0)
        sf.write(str(media / "warm.wav"), base, RATE, subtype="PCM_16")
        for i in range(COLD_CALLS):
            # Distinct content per file (a different 1-LSB offset): every call is really cold.
            sf.write(str(media / f"cold{i:02d}.wav"), base + (i + 1) / 32768.0, RATE,
                     subtype="PCM_16")
        env = {"MEDIA_ROOT": str(media), "DATA_DIR": str(Path(tmp) / "data"),
               "LOG_LEVEL": "info", "FINGERPRINT_WORKERS": "2",
               "MASTERING_MAX_STREAMS": str(CONCURRENT)}
        fingerprint = ServiceProcess("fingerprint_service", env, "FINGERPRINT_LISTEN")
        mastering = ServiceProcess(
            "mastering_service",
            {**env, "FINGERPRINT_TARGET": f"127.0.0.1:{fingerprint.port}"}, "MASTERING_LISTEN")
        try:
            rows += _bench_lookups(fingerprint.port)
            rows += _bench_first_chunk(mastering.port)
            rows += _bench_throughput(mastering.port, mastering.proc.pid)
        finally:
            fingerprint.terminate()
            mastering.terminate()
    return rows


def _bench_lookups(port: int) -> list[dict[str, Any]]:
    with channel(port) as ch:
        stub = fp_grpc.FingerprintServiceStub(ch)
        request = fp_pb.GetFingerprintRequest(track=fp_pb.TrackRef(path="warm.wav"))
        stub.GetFingerprint(request, timeout=120)
        times = []
        for _ in range(LOOKUP_CALLS):
            started = time.perf_counter()
            stub.GetFingerprint(request, timeout=10)
            times.append((time.perf_counter() - started) * 1000.0)
    p50, p99 = _percentile(times, 50), _percentile(times, 99)
    return [
        {"metric": "warm GetFingerprint p50", "value": p50, "unit": "ms", "target": "≤ 2 ms",
         "ok": p50 <= 2.0},
        {"metric": "warm GetFingerprint p99", "value": p99, "unit": "ms", "target": "-",
         "ok": None},
    ]


def _bench_first_chunk(port: int) -> list[dict[str, Any]]:
    with channel(port) as ch:
        stub = ms_grpc.MasteringServiceStub(ch)
        cold = [_first_chunk_s(stub, f"cold{i:02d}.wav") * 1000.0 for i in range(COLD_CALLS)]
        warm = [_first_chunk_s(stub, "warm.wav") * 1000.0 for _ in range(WARM_CALLS)]
    return [
        {"metric": "cold first chunk p50", "value": _percentile(cold, 50), "unit": "ms",
         "target": "≤ 1500 ms", "ok": _percentile(cold, 50) <= 1500.0},
        {"metric": "cold first chunk p95", "value": _percentile(cold, 95), "unit": "ms",
         "target": "-", "ok": None},
        {"metric": "warm first chunk p50", "value": _percentile(warm, 50), "unit": "ms",
         "target": "≤ 50 ms", "ok": _percentile(warm, 50) <= 50.0},
        {"metric": "warm first chunk p95", "value": _percentile(warm, 95), "unit": "ms",
         "target": "-", "ok": None},
    ]


def _bench_throughput(port: int, mastering_pid: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with channel(port) as ch:
        stub = ms_grpc.MasteringServiceStub(ch)
        elapsed, frames = _full_stream(stub, "warm.wav")
        single_x = frames / RATE / elapsed
        rows.append({"metric": "single stream (s16, 44.1k stereo)", "value": single_x,
                     "unit": "x real time", "target": "≥ 150x", "ok": single_x >= 150.0})
        rss_before = _rss_now_mb(mastering_pid)
        results: list[float] = []
        errors: list[str] = []

        def play() -> None:
            try:
                seconds, played = _full_stream(stub, "warm.wav")
                results.append(played / RATE / seconds)
            except grpc.RpcError as error:
                errors.append(f"{error.code().name}: {error.details()}")

        threads = [threading.Thread(target=play) for _ in range(CONCURRENT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rss_peak = _rss_peak_mb(mastering_pid)
    slowest = min(results) if results else 0.0
    per_stream_mb = (rss_peak - rss_before) / CONCURRENT
    cores = len(os.sched_getaffinity(0))
    rows += [
        {"metric": f"{CONCURRENT} concurrent streams: errors", "value": len(errors), "unit": "",
         "target": "0", "ok": not errors},
        {"metric": f"{CONCURRENT} concurrent streams: slowest ({cores} cores)", "value": slowest,
         "unit": "x real time", "target": "≥ 5x", "ok": slowest >= 5.0},
        {"metric": f"{CONCURRENT} concurrent streams: median", "value":
         statistics.median(results) if results else 0.0, "unit": "x real time", "target": "-",
         "ok": None},
        {"metric": "memory per concurrent stream", "value": per_stream_mb, "unit": "MB",
         "target": "≤ 30 MB", "ok": per_stream_mb <= 30.0},
    ]
    return rows
