"""The server bootstrap wraps every handler once, when a service registers
(``shared.grpc_runtime``): whichever way a service registers, through a generic handler only (as
older generated stubs do) or also by method, its calls get the request id, the error mapping
and their access-log event."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from structlog.testing import capture_logs

from shared.errors import TrackNotFound
from shared.grpc_runtime import GrpcApp, ServiceSpec
from tests.servers import channel, in_process, make_config

SERVICE = "probe.v1.Probe"


async def _echo(request: bytes, _context: Any) -> bytes:
    if request == b"missing":
        raise TrackNotFound("track not found: missing.wav")
    return request[::-1]


def _handlers() -> dict[str, grpc.RpcMethodHandler]:
    return {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}


def _generic_only(_servicer: object, server: Any) -> None:
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE,
                                                                          _handlers()),))


def _generic_and_registered(_servicer: object, server: Any) -> None:
    _generic_only(_servicer, server)
    server.add_registered_method_handlers(SERVICE, _handlers())


@dataclass
class _Server:
    app: GrpcApp


@pytest.mark.parametrize("register", [_generic_only, _generic_and_registered],
                         ids=["generic-only", "generic-and-registered"])
def test_every_registered_handler_is_wrapped(tmp_path: Path, register: Any) -> None:
    config = make_config(tmp_path)

    async def build() -> _Server:
        return _Server(GrpcApp(config=config, listen="127.0.0.1:0",
                               services=[ServiceSpec(SERVICE, object(), register)]))

    with capture_logs() as events, in_process(build) as (server, _loop), \
            channel(server.app.port) as ch:
        echo = ch.unary_unary(f"/{SERVICE}/Echo")
        answer, call = echo.with_call(b"abc", metadata=[("x-request-id", "probe-1")],
                                      timeout=10)
        with pytest.raises(grpc.RpcError) as failed:
            echo(b"missing", metadata=[("x-request-id", "probe-2")], timeout=10)
    assert answer == b"cba"
    assert ("x-request-id", "probe-1") in call.trailing_metadata()
    assert failed.value.code() is grpc.StatusCode.NOT_FOUND
    assert "missing.wav" in failed.value.details()
    logged = {e["request_id"]: e for e in events
              if e.get("event") == "rpc" and e.get("method") == f"/{SERVICE}/Echo"}
    assert sorted(logged) == ["probe-1", "probe-2"]
    assert logged["probe-1"]["status"] == "OK"
    assert logged["probe-2"]["status"] == "NOT_FOUND"
