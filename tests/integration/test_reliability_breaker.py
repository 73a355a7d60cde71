"""Issue 10, the circuit breaker: with the fingerprint service SIGSTOPped, after the breaker opens
the first chunk arrives without waiting for the fingerprint timeout; after SIGCONT, fingerprints
are used again within the probe interval.

The fingerprint service runs as a process of its own (so it can be stopped); the mastering server
runs in-process with short breaker settings.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.proto.mastering.v1 import mastering_pb2 as pb
from tests.integration.mastering_harness import by_path, split_stream, write_track
from tests.servers import ServiceProcess, Stack, mastering_stack

FINGERPRINT_TIMEOUT_MS = 1500
BREAKER_FAILURES = 2
COOLDOWN_S = 0.5
PROBE_INTERVAL_S = 0.5
#: A stream with the breaker open must start well before the fingerprint timeout would run out.
NO_WAIT_S = FINGERPRINT_TIMEOUT_MS / 1000.0 * 0.6
#: After SIGCONT: the probe interval, plus the cool-down, plus time for the stopped process to
#: catch up with what queued while it was stopped (generous: a shared, busy machine; 0.4 s
#: measured on an idle one).
BACK_WITHIN_S = PROBE_INTERVAL_S + COOLDOWN_S + 2.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, ServiceProcess]]:
    root: Path = tmp_path_factory.mktemp("breaker")
    media = root / "media"
    media.mkdir()
    write_track(media, "song.wav")
    fingerprint = ServiceProcess("fingerprint_service", {
        "MEDIA_ROOT": str(media), "DATA_DIR": str(root / "fp-data"), "LOG_LEVEL": "info",
        "FINGERPRINT_WORKERS": "1", "SHUTDOWN_GRACE_S": "2"}, "FINGERPRINT_LISTEN")
    try:
        with mastering_stack(root, fingerprint=False,
                             fingerprint_target=f"127.0.0.1:{fingerprint.port}",
                             mastering_env={
                                 "FINGERPRINT_TIMEOUT_MS": str(FINGERPRINT_TIMEOUT_MS),
                                 "FINGERPRINT_BREAKER_FAILURES": str(BREAKER_FAILURES),
                                 "FINGERPRINT_BREAKER_COOLDOWN_S": str(COOLDOWN_S),
                                 "FINGERPRINT_BREAKER_PROBE_INTERVAL_S": str(PROBE_INTERVAL_S),
                             }) as servers:
            yield servers, fingerprint
    finally:
        os.kill(fingerprint.proc.pid, signal.SIGCONT)
        fingerprint.kill()


def _first_chunk(servers: Stack) -> tuple[float, pb.StreamHeader]:
    started = time.monotonic()
    call = servers.mastering_stub().MasterTrack(by_path("song.wav"), timeout=60)
    header = next(call)
    first = next(call)
    elapsed = time.monotonic() - started
    assert first.WhichOneof("event") == "chunk"
    rest = split_stream(call)
    assert rest.summary.frames_sent > 0
    return elapsed, header.header


@pytest.mark.slow
def test_breaker_open_streams_start_at_once_and_fingerprints_return_after_sigcont(
        stack: tuple[Stack, ServiceProcess]) -> None:
    servers, fingerprint = stack
    _, warm = _first_chunk(servers)
    assert warm.plan.fingerprint_source != pb.FALLBACK
    os.kill(fingerprint.proc.pid, signal.SIGSTOP)
    try:
        for _ in range(BREAKER_FAILURES):  # each pays the timeout, and counts
            waited_s, header = _first_chunk(servers)
            assert header.plan.fallback_reason == pb.DEADLINE_EXCEEDED
            assert waited_s >= FINGERPRINT_TIMEOUT_MS / 1000.0 * 0.9
        open_s, header = _first_chunk(servers)
        assert open_s < NO_WAIT_S, f"breaker open, yet the first chunk took {open_s:.2f} s"
        assert header.plan.fingerprint_source == pb.FALLBACK
        assert any("circuit breaker open" in reason for reason in header.plan.reasons)
    finally:
        os.kill(fingerprint.proc.pid, signal.SIGCONT)
    resumed = time.monotonic()
    while True:
        _, header = _first_chunk(servers)
        if header.plan.fingerprint_source != pb.FALLBACK:
            break
        assert time.monotonic() - resumed < BACK_WITHIN_S, "fingerprints never came back"
        time.sleep(PROBE_INTERVAL_S / 5)
