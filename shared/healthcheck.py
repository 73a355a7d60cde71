"""Container health probe: ``python -m shared.healthcheck ADDR [--service NAME] [--timeout S]``.

Calls ``grpc.health.v1.Health/Check`` once and prints one line. Exit status 0 when the answer is
SERVING; 1 for any other status, an unknown service name, a connection error or a timeout — the
contract of Docker's ``HEALTHCHECK`` and of exec probes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

EXIT_SERVING = 0
EXIT_UNHEALTHY = 1
#: Below Docker's and Kubernetes' usual probe timeouts, so the probe reports its own verdict.
DEFAULT_TIMEOUT_S = 3.0


def check(
    address: str, service: str = "", timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[bool, str]:
    """Ask ``address`` for the health of ``service`` ("" = the whole server).

    Returns (serving, one-line description).
    """
    target = f"{address} service={service!r}" if service else address
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            details = error.details() if isinstance(error, grpc.Call) else str(error)
            name = code.name if code is not None else "ERROR"
            return False, f"{target}: {name}: {details}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{target}: {status}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.healthcheck",
        description="Exit 0 when the gRPC server at ADDR reports SERVING, 1 otherwise.",
    )
    parser.add_argument("address", metavar="ADDR", help="host:port of the gRPC server")
    parser.add_argument(
        "--service",
        default="",
        help="service name to check, e.g. fingerprint.v1.FingerprintService "
        "(default: the whole server)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait for the answer (default {DEFAULT_TIMEOUT_S})",
    )
    args = parser.parse_args(argv)
    serving, line = check(args.address, args.service, args.timeout)
    print(line, flush=True)
    return EXIT_SERVING if serving else EXIT_UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
