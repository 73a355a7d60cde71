"""Issue 10, items 6 and 7: the services' processes as a terminal or an OOM killer treats them.
A ``kill -9`` of either server leaves no worker, forkserver or resource tracker behind (item 6;
the mastering service's workers run its fallback analyses); Ctrl-C, which signals the whole
foreground process group, drains a computation in flight like SIGTERM does and exits 0 without
a traceback (item 7)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from shared.proto.fingerprint.v1 import fingerprint_pb2 as pb
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc
from tests.integration.fingerprint_harness import by_path, wait_until, write_track
from tests.servers import ServiceProcess, channel

#: Long enough that its computation is still running when the signal arrives.
LONG_TRACK_S = 900.0
#: Time for the request to be resolved, hashed and handed to a worker.
COMPUTATION_STARTS_S = 1.0
#: How long the orphaned processes may take to notice (a bound, not a speed claim).
ORPHAN_EXIT_BOUND_S = 10.0
CALL_TIMEOUT_S = 120.0


class SessionServiceProcess(ServiceProcess):
    """A ServiceProcess in a session of its own, as a shell runs a foreground job: the test can
    signal its whole process group and find every process it started."""

    def __init__(self, env: dict[str, str], module: str = "fingerprint_service",
                 listen_var: str = "FINGERPRINT_LISTEN") -> None:
        super().__init__(module, {**env, "LOG_LEVEL": "info"}, listen_var, new_session=True)


def session_members(session_id: int) -> set[int]:
    """Live (not zombie) processes of a session."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        state, session = fields[0], int(fields[3])
        if session == session_id and state != "Z":
            members.add(int(entry.name))
    return members


def survivors_of_kill_9(server: SessionServiceProcess) -> set[int]:
    """``kill -9`` the server; the processes of its session still alive after the bound."""
    server.proc.kill()
    server.proc.wait(10)
    deadline = time.monotonic() + ORPHAN_EXIT_BOUND_S
    while session_members(server.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return session_members(server.proc.pid)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    media = tmp_path / "media"
    write_track(media, "long.wav", duration_s=LONG_TRACK_S)
    return media


@pytest.fixture
def server(tmp_path: Path, media: Path) -> Iterator[SessionServiceProcess]:
    process = SessionServiceProcess({"MEDIA_ROOT": str(media), "DATA_DIR": str(tmp_path / "data"),
                                     "FINGERPRINT_WORKERS": "1", "SHUTDOWN_GRACE_S": "60"})
    try:
        yield process
    finally:
        with_leftovers = session_members(process.proc.pid)
        for pid in with_leftovers:
            os.kill(pid, signal.SIGKILL)
        process.kill()


@pytest.mark.slow
def test_item6_kill_9_of_the_server_leaves_no_orphan(server: SessionServiceProcess) -> None:
    started = session_members(server.proc.pid)
    # The server, the forkserver, one worker, and the resource tracker.
    assert len(started) >= 3, started
    with channel(server.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        future = stub.GetFingerprint.future(by_path("long.wav"), timeout=CALL_TIMEOUT_S)
        time.sleep(COMPUTATION_STARTS_S)
        assert survivors_of_kill_9(server) == set()
        with pytest.raises(grpc.RpcError):
            future.result()


@pytest.mark.slow
def test_item6_kill_9_of_the_mastering_server_leaves_no_orphan(tmp_path: Path) -> None:
    server = SessionServiceProcess({"MEDIA_ROOT": str(tmp_path), "DATA_DIR": str(tmp_path),
                                    "FINGERPRINT_TARGET": "127.0.0.1:9"},
                                   "mastering_service", "MASTERING_LISTEN")
    try:
        # The server, the forkserver, the fallback analyses' workers, the resource tracker.
        assert len(session_members(server.proc.pid)) >= 3
        assert survivors_of_kill_9(server) == set()
    finally:
        for pid in session_members(server.proc.pid):
            os.kill(pid, signal.SIGKILL)
        server.kill()


@pytest.mark.slow
def test_item7_ctrl_c_drains_a_computation_and_exits_0(server: SessionServiceProcess) -> None:
    with channel(server.port) as ch:
        stub = pb_grpc.FingerprintServiceStub(ch)
        future = stub.GetFingerprint.future(by_path("long.wav"), timeout=CALL_TIMEOUT_S)
        time.sleep(COMPUTATION_STARTS_S)
        os.killpg(server.proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        response: pb.GetFingerprintResponse = future.result()
    assert response.source == pb.COMPUTED
    assert server.terminate(CALL_TIMEOUT_S) == 0
    output = "".join(server.lines)
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert server.events("server_draining") and server.events("server_stopped")
    wait_until(lambda: not session_members(server.proc.pid), "every process to exit")
