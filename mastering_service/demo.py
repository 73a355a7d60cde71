"""``make demo``: start both services, stream a generated track, write it, measure it.

The demo track is synthesised here (a quiet, dynamic 30 s groove), written into a temporary
media root, mastered through the real gRPC path, and the result judged by ffmpeg's
``ebur128=peak=true`` when ffmpeg is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
import numpy as np
import soundfile as sf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from numpy.typing import NDArray

from mastering_service.client import master_to_file
from shared.proto.mastering.v1 import mastering_pb2 as pb

DEMO_RATE_HZ = 44_100
DEMO_DURATION_S = 30.0
DEMO_TEMPO_BPM = 96.0
DEMO_PEAK_DBFS = -9.0  # a quiet, unmastered mix: the plan will raise it (category QUIET)
_STARTUP_TIMEOUT_S = 60.0


def synth_demo_track(duration_s: float = DEMO_DURATION_S, rate: int = DEMO_RATE_HZ
                     ) -> NDArray[np.float64]:
    """A stereo groove: kick and hats, a bass line and a two-chord pad, panned apart."""
    t = np.arange(int(duration_s * rate)) / rate
    beat_s = 60.0 / DEMO_TEMPO_BPM
    phase = (t % beat_s) / beat_s
    kick = np.sin(2 * np.pi * 55.0 * t * (1.0 + 2.0 * np.exp(-phase * 30))) * np.exp(-phase * 12)
    rng = np.random.default_rng(2024)
    hat_phase = (t % (beat_s / 2)) / (beat_s / 2)
    hats = rng.standard_normal(t.size) * np.exp(-hat_phase * 60) * 0.15
    bar = (t // (4 * beat_s)).astype(int) % 2
    root_hz = np.where(bar == 0, 110.0, 98.0)
    bass = 0.35 * np.sin(2 * np.pi * root_hz * t)
    pad = sum(0.12 * np.sin(2 * np.pi * root_hz * ratio * 2 * t) for ratio in (1.0, 1.26, 1.5))
    left = kick + 0.8 * hats + bass + 1.2 * pad
    right = kick + 1.2 * hats + bass + 0.8 * pad
    mix = np.stack([left, right], axis=1)
    return np.asarray(mix * (10 ** (DEMO_PEAK_DBFS / 20) / np.abs(mix).max()))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_serving(address: str) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"{address} did not become SERVING")


def _ffmpeg_summary(path: Path) -> str | None:
    if shutil.which("ffmpeg") is None:
        return None
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af",
                           "ebur128=peak=true", "-f", "null", "-"],
                          capture_output=True, text=True, check=False)
    summary = proc.stderr[proc.stderr.rfind("Summary:"):]
    return re.sub(r"\n\s*\n", "\n", summary).strip() or None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mastering_service.demo")
    parser.add_argument("--output", type=Path, default=Path("demo-mastered.wav"))
    parser.add_argument("--write-track", type=Path,
                        help="only write the demo track to this file and exit")
    args = parser.parse_args(argv)
    if args.write_track:
        args.write_track.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(args.write_track), synth_demo_track(), DEMO_RATE_HZ, subtype="PCM_24")
        return 0

    with tempfile.TemporaryDirectory(prefix="mastering-demo-") as tmp:
        media = Path(tmp) / "media"
        media.mkdir()
        sf.write(str(media / "demo.wav"), synth_demo_track(), DEMO_RATE_HZ, subtype="PCM_24")
        fp_port, ms_port = _free_port(), _free_port()
        env = {**os.environ, "MEDIA_ROOT": str(media), "DATA_DIR": str(Path(tmp) / "data"),
               "FINGERPRINT_LISTEN": f"127.0.0.1:{fp_port}",
               "MASTERING_LISTEN": f"127.0.0.1:{ms_port}",
               "FINGERPRINT_TARGET": f"127.0.0.1:{fp_port}", "LOG_LEVEL": "warning"}
        services = [subprocess.Popen([sys.executable, "-m", module, "serve"], env=env)
                    for module in ("fingerprint_service", "mastering_service")]
        try:
            _wait_serving(f"127.0.0.1:{fp_port}")
            _wait_serving(f"127.0.0.1:{ms_port}")
            request = pb.MasterTrackRequest(track=pb.TrackRef(path="demo.wav"),
                                            container=pb.WAV)
            result = master_to_file(f"127.0.0.1:{ms_port}", request, args.output,
                                    timeout_s=120.0)
        finally:
            for proc in services:
                proc.send_signal(signal.SIGTERM)
            for proc in services:
                proc.wait(30)
    print(json.dumps(result, indent=2))
    judged = _ffmpeg_summary(args.output)
    print(f"\nffmpeg ebur128 on {args.output}:\n{judged}" if judged
          else "\n(ffmpeg not installed: no independent measurement)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
