"""Helpers for the fingerprint server tests: tracks, requests, a worker pool that can be held,
and bounded waiting."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import grpc

from fingerprint_service.app import FingerprintServer, build_server
from shared.config import Config
from shared.fingerprint import FINGERPRINT_FIELDS
from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.servers import LoopThread, in_process
from tests.signals import sine, white_noise, write_wav

#: Safety net for anything the tests wait for; never an assertion about speed.
SAFETY_TIMEOUT_S = 120.0
TRACK_RATE_HZ = 22_050


def write_track(media_root: Path, name: str, duration_s: float = 3.0,
                freq_hz: float = 440.0, level_dbfs: float = -6.0) -> Path:
    """A short stereo tone with a little noise (16-bit WAV); the noise is seeded by ``name``, so
    every track has content, and a content hash, of its own."""
    seed = zlib.crc32(name.encode())
    signal = sine(freq_hz, level_dbfs, duration_s, TRACK_RATE_HZ, channels=2)
    signal += white_noise(-50.0, duration_s, TRACK_RATE_HZ, 2, seed=seed)
    return write_wav(media_root / name, signal, TRACK_RATE_HZ, subtype="PCM_16")


def by_path(path: str, **options: bool) -> pb.GetFingerprintRequest:
    return pb.GetFingerprintRequest(track=pb.TrackRef(path=path), **options)


def values(response: pb.GetFingerprintResponse) -> dict[str, float]:
    return {name: getattr(response.fingerprint, name) for name in FINGERPRINT_FIELDS}


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SAFETY_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def poll_cached(stub: pb_grpc.FingerprintServiceStub, path: str) -> pb.GetFingerprintResponse:
    """cached_only requests until one succeeds (NOT_FOUND while a computation still runs)."""
    deadline = time.monotonic() + SAFETY_TIMEOUT_S
    while True:
        try:
            response: pb.GetFingerprintResponse = stub.GetFingerprint(
                by_path(path, cached_only=True), timeout=SAFETY_TIMEOUT_S)
            return response
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


class GatedPool(Executor):
    """A worker pool whose tasks wait for ``gate`` before they start, so a computation can be
    held "in progress" for as long as a test needs. Threads, not processes, so the gate is shared
    with the test."""

    def __init__(self, workers: int = 1) -> None:
        self._inner = ThreadPoolExecutor(max_workers=workers)
        self.gate = threading.Event()
        self.gate.set()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def gated() -> Any:
            self.gate.wait(SAFETY_TIMEOUT_S)
            return fn(*args, **kwargs)

        return self._inner.submit(gated)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Computations submitted inside the block wait until ``release()`` or the block's end
        (so a failing test never leaves the server's shutdown waiting on the gate)."""
        self.gate.clear()
        try:
            yield
        finally:
            self.release()

    def release(self) -> None:
        self.gate.set()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.gate.set()
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)


def serve(config: Config, pool: Executor | None = None
          ) -> AbstractContextManager[tuple[FingerprintServer, LoopThread]]:
    """A fingerprint server on 127.0.0.1:0, optionally with a replacement worker pool."""
    factory = (lambda: pool) if pool is not None else None
    return in_process(lambda: build_server(config, listen="127.0.0.1:0", pool_factory=factory))
