"""Wiring: config → store, worker pool, service, servicer, on the shared server bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import structlog

from fingerprint_service.service import FingerprintService
from fingerprint_service.servicer import FingerprintServicer
from fingerprint_service.store import FingerprintStore
from shared.config import Config
from shared.grpc_runtime import GrpcApp, ServiceSpec
from shared.proto.fingerprint.v1 import fingerprint_pb2_grpc as pb_grpc

SERVICE_NAME = "fingerprint.v1.FingerprintService"

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class FingerprintServer:
    app: GrpcApp
    service: FingerprintService


async def build_server(
    config: Config,
    *,
    listen: str | None = None,
    pool_factory: Callable[[], Executor] | None = None,
) -> FingerprintServer:
    """Everything the service needs; ``pool_factory`` replaces the worker pool (tests slow it
    down or count calls)."""
    if config.database_url.startswith("sqlite:///"):
        try:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            # The store starts degraded and the service answers by computing.
            log.warning("data_dir_unusable", data_dir=str(config.data_dir), reason=str(exc))
    store = FingerprintStore(config.database_url)
    service = FingerprintService(config, store, pool_factory)
    await service.warm_up()
    app = GrpcApp(
        config=config,
        listen=listen or config.fingerprint_listen,
        services=[ServiceSpec(SERVICE_NAME, FingerprintServicer(service),
                              pb_grpc.add_FingerprintServiceServicer_to_server)],
        on_stop=service.close,
    )
    return FingerprintServer(app=app, service=service)


async def build_app(config: Config) -> GrpcApp:
    return (await build_server(config)).app
