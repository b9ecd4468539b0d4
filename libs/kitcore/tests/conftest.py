"""Shared fixtures for kitcore's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from etcd_fixtures import etcd_client  # noqa: F401  (etcd for the sd tests)

from kitcore.config import HTTP_SERVERS
from kitcore.testing.fixtures import database_url, etcd, postgres  # noqa: F401 (fixtures)
from kitcore.testing.http_server import ServedApp, serve_in_thread


@pytest.fixture(params=HTTP_SERVERS)
def http_server(request: pytest.FixtureRequest) -> str:
    """Each HTTP server ``KIT_HTTP_SERVER`` can name, in turn."""
    return request.param


@pytest.fixture
def serve(http_server: str) -> Iterator[Callable[..., ServedApp]]:
    """Start a WSGI app on a free port, on each HTTP server in turn; stopped after the test."""
    stops: list[Callable[[], None]] = []

    def start(app: object) -> ServedApp:
        served = serve_in_thread(app, server=http_server)
        stops.append(served.stop)
        return served

    yield start
    for stop in stops:
        stop()
