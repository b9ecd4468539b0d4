"""The standard gRPC health service (``grpc.health.v1.Health``), following a Readiness.

:class:`kitcore.app.App` adds it to every gRPC server it starts, so load
balancers and ``grpc_health_probe`` see SERVING exactly while ``/readyz``
says 200.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from kitcore.health import Readiness


def add_grpc_health(
    server: grpc.Server, readiness: Readiness, service_names: Iterable[str] = ()
) -> health.HealthServicer:
    """Serve ``grpc.health.v1.Health`` for ``""`` and ``service_names``, following ``readiness``.

    Statuses follow the flag (SERVING / NOT_SERVING), not the named checks.
    """
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    names = ["", *service_names]

    def apply(ready: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ready else (
            health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in names:
            servicer.set(name, status)

    readiness.subscribe(apply)
    apply(readiness.ready)
    return servicer
