"""The one gRPC server bootstrap both services run on.

It owns what every RPC has in common: the health service and reflection (each behind a config
switch), the request id (``x-request-id`` metadata or a generated one), one structured access-log
event per RPC, the mapping from typed domain errors to status codes, the receive-size limit,
keepalive policy, and shutdown: SIGTERM or SIGINT → health NOT_SERVING and new calls refused with
UNAVAILABLE → in-flight calls drain within the grace period → the transport closes → exit 0.

The transport closes only after the drain, and never sooner than ``_DRAIN_NOTICE_S`` after the
signal: gRPC core cancels (CANCELLED, not UNAVAILABLE) every call that has reached the server but
not yet a handler when it shuts down, so until then calls already on the wire are let through to
their handlers' wrapping, which refuses them with a status the caller can retry on.

Servicers stay thin: they raise ``shared.errors`` exceptions and call ``annotate(...)`` with the
domain fields (source, category, …) that the access-log event should carry.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import signal
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from shared.config import Config
from shared.errors import (
    Draining,
    InvalidArgument,
    LibraryUnavailable,
    LimitExceeded,
    NotCached,
    PathOutsideRoot,
    SeekOutOfRange,
    ServiceError,
    StreamStalled,
    TrackNotFound,
    WorkerLost,
)

log = structlog.get_logger("grpc")

#: Typed errors → status codes, in one place (SPEC section 3). Subclasses inherit their base's
#: code (UnsupportedAudio is an InvalidArgument).
STATUS_FOR: dict[type[ServiceError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    PathOutsideRoot: grpc.StatusCode.PERMISSION_DENIED,
    TrackNotFound: grpc.StatusCode.NOT_FOUND,
    NotCached: grpc.StatusCode.NOT_FOUND,
    LimitExceeded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    SeekOutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    StreamStalled: grpc.StatusCode.DEADLINE_EXCEEDED,
    Draining: grpc.StatusCode.UNAVAILABLE,
    LibraryUnavailable: grpc.StatusCode.UNAVAILABLE,
    WorkerLost: grpc.StatusCode.UNAVAILABLE,
}

REQUEST_ID_KEY = "x-request-id"
#: Head-room above MAX_CONTENT_BYTES for the rest of a request message.
_MESSAGE_OVERHEAD_BYTES = 64 * 1024
#: Clients may ping every 10 s or slower, even between calls (the mastering service's channel
#: pings every 30 s); faster pings are answered with GOAWAY as usual.
_MIN_CLIENT_PING_INTERVAL_MS = 10_000
#: After the drain signal, the least time before the transport closes: calls sent just before it
#: reach their handlers (and get UNAVAILABLE) within a few milliseconds on a loaded machine.
_DRAIN_NOTICE_S = 0.25
#: How often the drain checks whether the in-flight calls have finished.
_DRAIN_POLL_S = 0.02

_rpc_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "rpc_fields", default=None
)


def status_for(exc: ServiceError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in STATUS_FOR:
            return STATUS_FOR[cls]
    return grpc.StatusCode.INTERNAL


def annotate(**fields: Any) -> None:
    """Add domain fields to the current RPC's access-log event."""
    current = _rpc_fields.get()
    if current is not None:
        current.update(fields)


def current_request_id() -> str:
    current = _rpc_fields.get()
    return str(current.get("request_id", "")) if current else ""


def _request_id(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and value:
            return str(value)[:128]
    return uuid.uuid4().hex


@dataclass
class _CallLog:
    method: str
    request_id: str
    peer: str
    started: float = field(default_factory=time.perf_counter)
    status: str = "OK"

    def finish(self, fields: dict[str, Any]) -> None:
        duration_ms = round((time.perf_counter() - self.started) * 1000.0, 3)
        extra = {k: v for k, v in fields.items() if k != "request_id"}
        emit = log.debug if self.method.startswith("/grpc.") else log.info
        emit("rpc", method=self.method, status=self.status, duration_ms=duration_ms,
             peer=self.peer, request_id=self.request_id, **extra)


async def _fail(context: grpc.aio.ServicerContext, call: _CallLog, exc: BaseException) -> None:
    """Turn an exception into the right status; never leaks a traceback to the caller."""
    if isinstance(exc, ServiceError):
        code = status_for(exc)
        call.status = code.name
        await context.abort(code, str(exc))
    log.exception("rpc_failed", method=call.method, request_id=call.request_id)
    call.status = grpc.StatusCode.INTERNAL.name
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {call.request_id})")


class _CallWrapper:
    """Request id, error mapping and one access-log event for every unary and server-stream RPC,
    wrapped around each method's handler once, when the service is registered (``_Registrar``).
    A server interceptor would do the same on every call, at a cost of about 0.1 ms a call: its
    chain is a coroutine per call and a new handler object per call.

    While the server drains, new application calls are refused with UNAVAILABLE before the
    transport itself stops accepting them (health and reflection keep answering).
    """

    def __init__(self, draining: Callable[[], bool], idle_timeout_s: float) -> None:
        self._draining = draining
        self._idle_timeout_s = idle_timeout_s
        #: Calls admitted (not refused) and not yet finished: what a drain waits for.
        self.in_flight = 0

    def _refuse_if_draining(self, method: str) -> None:
        if self._draining() and not method.startswith("/grpc."):
            raise Draining("the server is shutting down; retry the call")

    def _admit(self) -> bool:
        self.in_flight += 1
        return True

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` of the full ``method`` name with the wrapping; request-streaming
        handlers (reflection) pass unchanged."""
        if handler.request_streaming:
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            # A coroutine handler streams with context.write (e.g. Health.Watch); an async
            # generator yields its responses, which the wrapper writes.
            behavior = handler.unary_stream
            wrapped = (self._wrap_unary(method, behavior)
                       if inspect.iscoroutinefunction(behavior)
                       else self._wrap_stream(method, behavior))
            return grpc.unary_stream_rpc_method_handler(
                wrapped,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    @staticmethod
    def _begin(method: str, context: grpc.aio.ServicerContext) -> tuple[_CallLog, dict[str, Any]]:
        call = _CallLog(method=method, request_id=_request_id(context), peer=context.peer())
        fields: dict[str, Any] = {"request_id": call.request_id}
        _rpc_fields.set(fields)
        structlog.contextvars.bind_contextvars(request_id=call.request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, call.request_id),))
        return call, fields

    def _wrap_unary(
        self, method: str, behavior: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call, fields = self._begin(method, context)
            admitted = False
            try:
                self._refuse_if_draining(method)
                admitted = self._admit()
                return await behavior(request, context)
            except asyncio.CancelledError:
                call.status = "CANCELLED"
                raise
            except grpc.aio.AbortError:
                call.status = (context.code() or grpc.StatusCode.UNKNOWN).name
                raise
            except Exception as exc:  # every failure must map to a status
                await _fail(context, call, exc)
            finally:
                self.in_flight -= admitted
                call.finish(fields)

        return wrapped

    def _wrap_stream(
        self,
        method: str,
        behavior: Callable[[Any, grpc.aio.ServicerContext], AsyncGenerator[Any, None]],
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]]:
        """The handler's responses are written here, each under the idle timeout: a client that
        stops reading holds the write (HTTP/2 flow control), and without a bound it would hold
        the stream, and its slot, forever."""

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> None:
            call, fields = self._begin(method, context)
            admitted = False
            try:
                self._refuse_if_draining(method)
                admitted = self._admit()
                async with aclosing(behavior(request, context)) as responses:
                    async for response in responses:
                        await self._write(context, response)
            except asyncio.CancelledError:
                call.status = "CANCELLED"
                raise
            except grpc.aio.AbortError:
                call.status = (context.code() or grpc.StatusCode.UNKNOWN).name
                raise
            except Exception as exc:  # every failure must map to a status
                await _fail(context, call, exc)
            finally:
                self.in_flight -= admitted
                call.finish(fields)

        return wrapped

    async def _write(self, context: grpc.aio.ServicerContext, response: Any) -> None:
        timeout_s = self._idle_timeout_s if self._idle_timeout_s > 0.0 else None
        try:
            await asyncio.wait_for(context.write(response), timeout_s)
        except TimeoutError:
            log.warning("stream_idle_timeout", idle_timeout_s=self._idle_timeout_s)
            raise StreamStalled(
                f"the client read nothing for {self._idle_timeout_s:g} s; the stream was "
                "ended to free its slot") from None
        except grpc.RpcError:
            raise
        except Exception:
            if context.cancelled():  # the client went away while the write was pending
                raise asyncio.CancelledError from None
            raise


class _WrappedGeneric(grpc.GenericRpcHandler):  # type: ignore[misc]
    """A generic handler whose handlers come out wrapped, each wrapped once."""

    def __init__(self, inner: grpc.GenericRpcHandler, calls: _CallWrapper) -> None:
        self._inner = inner
        self._calls = calls
        self._wrapped: dict[str, grpc.RpcMethodHandler | None] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method
        if method not in self._wrapped:
            handler = self._inner.service(details)
            self._wrapped[method] = None if handler is None else self._calls.wrap(method, handler)
        return self._wrapped[method]


class _Registrar:
    """What a generated ``add_…_to_server`` registers on: the server, with every handler
    wrapped on the way in."""

    def __init__(self, server: grpc.aio.Server, calls: _CallWrapper) -> None:
        self._server = server
        self._calls = calls

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_WrappedGeneric(handler, self._calls) for handler in handlers))

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self._server.add_registered_method_handlers(service, {
            name: self._calls.wrap(f"/{service}/{name}", handler)
            for name, handler in handlers.items()})


@dataclass(frozen=True)
class ServiceSpec:
    """One gRPC service to mount: its full name and the generated ``add_…_to_server``."""

    name: str
    servicer: object
    add_to_server: Callable[[object, grpc.aio.Server], None]


class GrpcApp:
    """A started-on-demand aio server with health, reflection, access logs and graceful stop."""

    def __init__(
        self,
        *,
        config: Config,
        listen: str,
        services: Sequence[ServiceSpec],
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._config = config
        self._listen = listen
        self._services = list(services)
        self._on_stop = on_stop
        self._health: Any = None
        self._stopping = False
        self.port = 0
        receive_limit = config.max_content_bytes + _MESSAGE_OVERHEAD_BYTES
        self._calls = _CallWrapper(lambda: self._stopping,
                                   config.mastering_stream_idle_timeout_s)
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", receive_limit),
                ("grpc.max_send_message_length", receive_limit),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_recv_ping_interval_without_data_ms",
                 _MIN_CLIENT_PING_INTERVAL_MS),
                ("grpc.http2.max_ping_strikes", 2),
            ],
        )

    async def start(self) -> int:
        registrar = _Registrar(self.server, self._calls)
        for spec in self._services:
            spec.add_to_server(spec.servicer, registrar)
        names = [spec.name for spec in self._services]
        if self._config.health_service_enabled:
            self._health = health.aio.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(self._health, registrar)
            names.append(health.SERVICE_NAME)
        if self._config.reflection_enabled:
            reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], self.server)
        self.port = self.server.add_insecure_port(self._listen)
        if self.port == 0:
            raise OSError(f"cannot listen on {self._listen}")
        await self.server.start()
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        log.info("server_started", listen=self._listen, port=self.port,
                 services=[spec.name for spec in self._services])
        return self.port

    async def _set_health(self, status: int) -> None:
        if self._health is None:
            return
        for name in ["", *(spec.name for spec in self._services)]:
            await self._health.set(name, status)

    async def stop(self, grace_s: float | None = None) -> None:
        """NOT_SERVING, refuse new calls, let in-flight ones finish within the grace period."""
        if self._stopping:
            return
        self._stopping = True
        grace = self._config.shutdown_grace_s if grace_s is None else grace_s
        log.info("server_draining", grace_s=grace, in_flight=self._calls.in_flight)
        drain_ends = time.monotonic() + grace
        notice_ends = time.monotonic() + min(grace, _DRAIN_NOTICE_S)
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        while time.monotonic() < drain_ends and (
                self._calls.in_flight > 0 or time.monotonic() < notice_ends):
            await asyncio.sleep(_DRAIN_POLL_S)
        # What is still running when the grace period is over is cancelled here.
        await self.server.stop(max(0.0, drain_ends - time.monotonic()))
        if self._on_stop is not None:
            await self._on_stop()
        log.info("server_stopped")

    async def run_until_signal(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop gracefully."""
        await self.start()
        stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop_requested.set)
        waiter = asyncio.create_task(self.server.wait_for_termination())
        signalled = asyncio.create_task(stop_requested.wait())
        await asyncio.wait({waiter, signalled}, return_when=asyncio.FIRST_COMPLETED)
        await self.stop()
        waiter.cancel()
        signalled.cancel()


def run_app(build: Callable[[], Awaitable[GrpcApp]]) -> int:
    """Build and serve an app until a signal arrives; the process exit code (0 after a drain)."""

    async def main() -> None:
        app = await build()
        await app.run_until_signal()

    asyncio.run(main())
    return 0
