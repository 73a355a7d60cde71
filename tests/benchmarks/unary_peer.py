"""The warm lookup's peer: a bare grpc.aio server answering one unary method with a fixed
message, nothing else on the call path. ``python -m tests.benchmarks.unary_peer BYTES`` prints
its port, then serves until killed.

It runs in a process of its own, as the fingerprint service does, so the client of the
benchmark times both the same way."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc

SERVICE = "peer.Unary"
METHOD = f"/{SERVICE}/Call"


async def serve(response_bytes: int) -> None:
    payload = b"\x01" * response_bytes

    async def call(_request: bytes, _context: Any) -> bytes:
        return payload

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {
        "Call": grpc.unary_unary_rpc_method_handler(
            call, request_deserializer=None, response_serializer=None)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
