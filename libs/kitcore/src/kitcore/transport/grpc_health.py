"""The standard gRPC health service (``grpc.health.v1.Health``), following a Readiness.

:class:`kitcore.app.App` adds it to every gRPC server it starts, so load
balancers and ``grpc_health_probe`` see SERVING exactly while ``/readyz``
says 200.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from kitcore.health import Readiness


def add_grpc_health(
    server: grpc.Server, readiness: Readiness, service_names: Iterable[str] = ()
) -> health.HealthServicer:
    """Serve ``grpc.health.v1.Health`` for ``""`` and ``service_names``, following ``readiness``.

    Statuses follow the flag (SERVING / NOT_SERVING) as it changes, and each
    ``Check`` call runs the named checks too, as ``/readyz`` does: while the
    database is down, a health check says NOT_SERVING.
    """
    servicer = _ReadinessHealth(readiness, ["", *service_names])
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer


class _ReadinessHealth(health.HealthServicer):
    """The standard health servicer, its statuses taken from a :class:`Readiness`."""

    def __init__(self, readiness: Readiness, names: list[str]) -> None:
        super().__init__()
        self._readiness = readiness
        self._names = names
        readiness.subscribe(self._apply)
        self._apply(readiness.ready)

    def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Run the readiness checks, then answer as the standard servicer does."""
        self._apply(self._readiness.problem() is None)
        return super().Check(request, context)

    def _apply(self, ready: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ready else (
            health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in self._names:
            self.set(name, status)
