"""Real servers for the integration tests: in-process on 127.0.0.1:0 (each on its own event loop
thread, so the test body can use ordinary blocking gRPC clients), or as a subprocess for the
signal and process-level tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

from shared.config import Config, load_config

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent


class BrokenPool(Executor):
    """A worker pool whose worker was killed: every call fails as ProcessPoolExecutor's then
    does (the pool-replacement tests of both services)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_exception(BrokenProcessPool("a worker died"))
        return future


def make_config(tmp_path: Path, **overrides: str) -> Config:
    """A config for a test server: its own media root, data dir and quiet logs."""
    env = {
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "warning",
        "FINGERPRINT_WORKERS": "2",
        "SHUTDOWN_GRACE_S": "5",
    }
    env.update(overrides)
    (tmp_path / "media").mkdir(parents=True, exist_ok=True)
    return load_config(environ=env)


class LoopThread:
    """An asyncio loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@contextmanager
def in_process(build: Callable[[], Awaitable[T]]) -> Iterator[tuple[T, LoopThread]]:
    """Build a server object (anything with ``.app``, a GrpcApp) on a loop thread and start it."""
    loop = LoopThread()
    server: Any = loop.run(build())
    loop.run(server.app.start())
    try:
        yield server, loop
    finally:
        loop.run(server.app.stop(0.5))
        loop.close()


def channel(port: int, *, slow_reader: bool = False) -> grpc.Channel:
    """A client channel. ``slow_reader`` keeps the receive window at its initial 64 KiB (no
    BDP probing), so a stream the test does not read holds the server back after a few chunks,
    as a slow listener on a slow link would, instead of after megabytes."""
    options: list[tuple[str, int]] = [("grpc.max_receive_message_length", 256 << 20),
                                      ("grpc.max_send_message_length", 256 << 20)]
    if slow_reader:
        options.append(("grpc.http2.bdp_probe", 0))
    return grpc.insecure_channel(f"127.0.0.1:{port}", options=options)


class ServiceProcess:
    """``python -m <module> serve`` as a child process; the port is read from its start-up log.

    The child's output goes to a file, read when asked for: a thread reading a pipe would wake
    on every log line and take the GIL from the test's own client while a call is in flight
    (a quarter of a millisecond on a warm lookup, measured).
    """

    def __init__(self, module: str, env: dict[str, str], listen_var: str, *,
                 new_session: bool = False) -> None:
        # The port is read from the info-level start-up event, so info is the quietest level.
        full_env = {**os.environ, **env, "LOG_FORMAT": "json", listen_var: "127.0.0.1:0"}
        if full_env.get("LOG_LEVEL", "info") not in ("debug", "info"):
            raise ValueError("ServiceProcess needs LOG_LEVEL info or debug to read the port")
        # Kept open as long as this object: the output is read after the process has exited.
        self._output = tempfile.TemporaryFile("w+b")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "serve"], env=full_env, cwd=REPO_ROOT,
            stdout=self._output, stderr=subprocess.STDOUT, start_new_session=new_session,
        )
        self.port = self._wait_for_port()

    @property
    def lines(self) -> list[str]:
        """The child's output so far, line by line (a partly written last line left out)."""
        text = os.pread(self._output.fileno(), os.fstat(self._output.fileno()).st_size, 0)
        return text.decode(errors="replace").splitlines(keepends=True)[
            : text.count(b"\n")]

    def _wait_for_port(self, timeout_s: float = 60.0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            started = self.events("server_started")
            if started:
                return int(started[0]["port"])
            if self.proc.poll() is not None:
                raise RuntimeError("server exited early:\n" + "".join(self.lines))
            time.sleep(0.01)
        raise TimeoutError("server did not start:\n" + "".join(self.lines))

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and event.get("event") == name:
                found.append(event)
        return found

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def free_port() -> int:
    """A loopback port nobody listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SilentListener:
    """A hung service: a TCP listener that accepts connections and never answers a byte."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)
        for conn in self.accepted:
            conn.close()
        self._sock.close()

    def __enter__(self) -> SilentListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Stack:
    """A mastering server (and usually a fingerprint server beside it) sharing one media root."""

    media: Path
    mastering: Any  # mastering_service.app.MasteringServer
    fingerprint: Any | None  # fingerprint_service.app.FingerprintServer
    mastering_loop: LoopThread
    _channels: list[grpc.Channel] = field(default_factory=list)

    @property
    def mastering_port(self) -> int:
        return int(self.mastering.app.port)

    @property
    def fingerprint_port(self) -> int:
        assert self.fingerprint is not None
        return int(self.fingerprint.app.port)

    def _channel(self, port: int, *, slow_reader: bool = False) -> grpc.Channel:
        ch = channel(port, slow_reader=slow_reader)
        self._channels.append(ch)
        return ch

    def mastering_stub(self, *, slow_reader: bool = False) -> Any:
        from shared.proto.mastering.v1 import mastering_pb2_grpc

        return mastering_pb2_grpc.MasteringServiceStub(
            self._channel(self.mastering_port, slow_reader=slow_reader))

    def fingerprint_stub(self) -> Any:
        from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc

        return fingerprint_pb2_grpc.FingerprintServiceStub(self._channel(self.fingerprint_port))

    def health_stub(self) -> Any:
        from grpc_health.v1 import health_pb2_grpc

        return health_pb2_grpc.HealthStub(self._channel(self.mastering_port))

    def close_channels(self) -> None:
        for ch in self._channels:
            ch.close()


@contextmanager
def mastering_stack(
    tmp_path: Path,
    *,
    fingerprint: bool = True,
    fingerprint_target: str | None = None,
    fingerprint_env: dict[str, str] | None = None,
    mastering_env: dict[str, str] | None = None,
    pool_factory: Callable[[], Executor] | None = None,
    fallback_pool_factory: Callable[[], Executor] | None = None,
) -> Iterator[Stack]:
    """In-process servers on 127.0.0.1:0: a fingerprint server (one worker unless told) and a
    mastering server calling it, or calling ``fingerprint_target`` when there is none.
    ``pool_factory`` replaces the fingerprint workers, ``fallback_pool_factory`` the mastering
    service's fallback analysis workers."""
    from fingerprint_service.app import build_server as build_fingerprint
    from mastering_service.app import build_server as build_mastering

    with ExitStack() as stack:
        fp_server = None
        target = fingerprint_target
        if fingerprint:
            fp_config = make_config(tmp_path, FINGERPRINT_WORKERS="1", **(fingerprint_env or {}))
            fp_server, _ = stack.enter_context(in_process(
                lambda: build_fingerprint(fp_config, listen="127.0.0.1:0",
                                          pool_factory=pool_factory)))
            target = f"127.0.0.1:{fp_server.app.port}"
        if target is None:
            target = f"127.0.0.1:{free_port()}"
        m_config = make_config(tmp_path, FINGERPRINT_TARGET=target, **(mastering_env or {}))
        m_server, m_loop = stack.enter_context(in_process(
            lambda: build_mastering(m_config, listen="127.0.0.1:0",
                                    pool_factory=fallback_pool_factory)))
        result = Stack(media=m_config.media_root, mastering=m_server, fingerprint=fp_server,
                       mastering_loop=m_loop)
        stack.callback(result.close_channels)
        yield result
