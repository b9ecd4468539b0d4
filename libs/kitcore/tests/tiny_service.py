"""A tiny service for test_app.py: one endpoint over HTTP and gRPC under kitcore.app.App.

Run as ``python tiny_service.py`` with the ``KIT_*`` (and ``OTEL_*``) variables
set. The one endpoint, ``work``, sleeps ``sleep_ms`` milliseconds and says so,
which lets a test keep a request in flight while the process is told to stop.
"""

from __future__ import annotations

import time
from typing import Any

import flask
import grpc
from google.protobuf import json_format, struct_pb2

from kitcore.app import App, setup_process
from kitcore.config import KitConfig
from kitcore.endpoint import Context
from kitcore.transport import grpc as kgrpc
from kitcore.transport.http import new_app, query_int, route

GRPC_SERVICE = "kitcore.test.Tiny"
"""The gRPC service name; its one method is ``Work`` (Struct in, Struct out)."""


def work(ctx: Context, sleep_ms: int) -> dict[str, Any]:
    """Sleep ``sleep_ms`` milliseconds, then say how long."""
    time.sleep(sleep_ms / 1000)
    return {"slept_ms": sleep_ms}


def decode_http(request: flask.Request, path_params: dict[str, Any]) -> int:
    """``?sleep_ms=`` as the request."""
    return query_int(request, "sleep_ms", min_value=0, max_value=60_000, default=0)


def decode_grpc(message: struct_pb2.Struct) -> int:
    """The ``sleep_ms`` field of the Struct as the request."""
    return int(json_format.MessageToDict(message).get("sleep_ms", 0))


def encode_grpc(response: dict[str, Any]) -> struct_pb2.Struct:
    """The response dict as a Struct."""
    message = struct_pb2.Struct()
    message.update(response)
    return message


def register(server: grpc.Server) -> None:
    """Add the Tiny service to the gRPC server."""
    handler = grpc.unary_unary_rpc_method_handler(
        kgrpc.Handler(work, decode_grpc, encode_grpc, name="Work"),
        request_deserializer=struct_pb2.Struct.FromString,
        response_serializer=struct_pb2.Struct.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(GRPC_SERVICE, {"Work": handler}),)
    )


def main() -> None:
    """Read the config, wire the endpoint to both transports, run until SIGTERM."""
    config = KitConfig.from_env("tiny")
    setup_process(config)
    http_app = new_app(config.service_name, served_by=config.instance_id)
    route(http_app, "/work", ["GET"], work, decode_http)
    App(config, http_app=http_app, grpc_register=register, instance_meta={"zone": "test"}).run()


if __name__ == "__main__":
    main()
