"""Real servers for the integration tests: in-process on 127.0.0.1:0 (each on its own event loop
thread, so the test body can use ordinary blocking gRPC clients), or as a subprocess for the
signal and process-level tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc

from shared.config import Config, load_config

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent


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


def channel(port: int) -> grpc.Channel:
    return grpc.insecure_channel(f"127.0.0.1:{port}",
                                 options=[("grpc.max_receive_message_length", 256 << 20),
                                          ("grpc.max_send_message_length", 256 << 20)])


class ServiceProcess:
    """``python -m <module> serve`` as a child process; the port is read from its start-up log."""

    def __init__(self, module: str, env: dict[str, str], listen_var: str) -> None:
        full_env = {**os.environ, **env, "LOG_FORMAT": "json", listen_var: "127.0.0.1:0"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "serve"], env=full_env, cwd=REPO_ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self.port = self._wait_for_port()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _wait_for_port(self, timeout_s: float = 60.0) -> int:
        deadline = time.monotonic() + timeout_s
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("server exited early:\n" + "".join(self.lines))
            self.lines.append(line)
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "server_started":
                return int(event["port"])
        raise TimeoutError("server did not start:\n" + "".join(self.lines))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in list(self.lines):
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == name:
                found.append(event)
        return found

    def terminate(self, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
