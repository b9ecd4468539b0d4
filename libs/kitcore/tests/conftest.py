"""Shared fixtures for kitcore's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from etcd_fixtures import etcd_client  # noqa: F401  (etcd for the sd tests)

from kitcore.testing.fixtures import database_url, etcd, postgres  # noqa: F401 (fixtures)
from kitcore.testing.http_server import ServedApp, serve_in_thread


@pytest.fixture
def serve() -> Iterator[Callable[..., ServedApp]]:
    """Start a WSGI app under waitress on a free port; stopped after the test."""
    stops: list[Callable[[], None]] = []

    def start(app: object) -> ServedApp:
        served = serve_in_thread(app)
        stops.append(served.stop)
        return served

    yield start
    for stop in stops:
        stop()
