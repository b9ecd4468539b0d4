"""Serve gRPC services in this process on a free port, for tests.

::

    served = serve_grpc(lambda server: add_to_server(server, endpoints))
    channel = grpc.insecure_channel(served.address)
    ...
    channel.close()
    served.stop()

The same server the services run (:func:`kitcore.transport.grpc.new_server`),
on a port the operating system picks, so nothing clashes with other tests.
It is the gRPC counterpart of :mod:`kitcore.testing.http_server`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import grpc

from kitcore.transport.grpc import new_server


class ServedGRPC(NamedTuple):
    """A running test server: where it listens, and how to stop it."""

    host: str
    port: int
    stop: Callable[[], None]

    @property
    def address(self) -> str:
        """``host:port``, a channel's target."""
        return f"{self.host}:{self.port}"


def serve_grpc(
    register: Callable[[grpc.Server], None], host: str = "127.0.0.1", max_workers: int = 4,
    *, served_by: str | None = None,
) -> ServedGRPC:
    """Start a gRPC server with what ``register`` adds, on a free port of ``host``;
    its answers name ``served_by`` in ``x-served-by`` when given."""
    server = new_server(max_workers=max_workers, served_by=served_by)
    register(server)
    port = server.add_insecure_port(f"{host}:0")
    server.start()

    def stop() -> None:
        server.stop(None).wait()  # calls still running are cancelled

    return ServedGRPC(host, port, stop)
