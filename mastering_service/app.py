"""Wiring: config → fingerprint client, service, servicer, on the shared server bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from mastering_service.fp_client import FingerprintClient
from mastering_service.service import MasteringService
from mastering_service.servicer import MasteringServicer
from shared.config import Config
from shared.grpc_runtime import GrpcApp, ServiceSpec
from shared.proto.mastering.v1 import mastering_pb2_grpc as pb_grpc

SERVICE_NAME = "mastering.v1.MasteringService"


@dataclass(frozen=True)
class MasteringServer:
    app: GrpcApp
    service: MasteringService


async def build_server(
    config: Config,
    *,
    listen: str | None = None,
    pool_factory: Callable[[], Executor] | None = None,
) -> MasteringServer:
    """Everything the service needs; ``pool_factory`` replaces the fallback analyses' worker
    processes (tests)."""
    service = MasteringService(config, FingerprintClient.from_config(config), pool_factory)
    await service.warm_up()
    app = GrpcApp(
        config=config,
        listen=listen or config.mastering_listen,
        services=[ServiceSpec(SERVICE_NAME, MasteringServicer(service),
                              pb_grpc.add_MasteringServiceServicer_to_server)],
        on_stop=service.close,
    )
    return MasteringServer(app=app, service=service)


async def build_app(config: Config) -> GrpcApp:
    return (await build_server(config)).app
