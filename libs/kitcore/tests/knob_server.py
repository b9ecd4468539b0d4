"""A real HTTP server whose answers a test turns like knobs: delay, failure, blocking.

:func:`start_knob_server` serves ``GET /work`` on the services' HTTP server on a free port.
Each answer is ``{"served_by": name}`` after ``delay`` seconds, or a 503 when
``failing``, or a 404 when ``missing``; while ``gate`` is cleared, calls wait
for it. ``calls`` counts what reached the server. :func:`client_endpoint`
is a kitcore HTTP client endpoint for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import flask

from kitcore.endpoint import Endpoint
from kitcore.sd import Endpointer, Instance, StaticInstancer
from kitcore.testing.http_server import ServedApp, serve_in_thread
from kitcore.transport.http import ClientRequest, HTTPClient


class Knobs:
    """How the server answers now, and how many calls reached it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.delay = 0.0
        self.failing = False
        self.missing = False
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0
        self._lock = threading.Lock()

    def count(self) -> None:
        """Count one call that reached the server."""
        with self._lock:
            self.calls += 1


def _app(knobs: Knobs) -> flask.Flask:
    app = flask.Flask(knobs.name)

    @app.get("/work")
    def work() -> Any:
        knobs.count()
        knobs.gate.wait(10)
        time.sleep(knobs.delay)
        if knobs.failing:
            return {"error": {"code": "unavailable", "message": "knob"}}, 503
        if knobs.missing:
            return {"error": {"code": "not_found", "message": "knob"}}, 404
        return {"served_by": knobs.name}

    return app


@contextmanager
def start_knob_server(name: str, threads: int = 8) -> Iterator[tuple[Knobs, ServedApp]]:
    """A knob server on a free port, stopped on exit."""
    knobs = Knobs(name)
    served = serve_in_thread(_app(knobs), threads=threads)
    try:
        yield knobs, served
    finally:
        knobs.gate.set()
        served.stop()


def client_endpoint(url: str, timeout: float = 5.0) -> tuple[Endpoint, HTTPClient]:
    """A kitcore client endpoint for ``GET url/work`` answering who served, and its client."""
    client = HTTPClient(url, timeout=timeout)
    endpoint = client.endpoint("GET", "/work", lambda _: ClientRequest(),
                               lambda body, headers: body["served_by"])
    return endpoint, client


@contextmanager
def knob_servers(*names: str) -> Iterator[tuple[dict[str, Knobs], Endpointer]]:
    """Real knob servers by name, and one Endpointer over them (service "svc")."""
    with ExitStack() as stack:
        knobs, urls = {}, {}
        for name in names:
            knobs[name], served = stack.enter_context(start_knob_server(name))
            urls[name] = served.url
        instances = [Instance(name, "svc", url, None, "1", {}) for name, url in urls.items()]

        def factory(instance: Instance) -> tuple[Endpoint, Any]:
            endpoint, client = client_endpoint(urls[instance.id])
            return endpoint, client.close

        yield knobs, Endpointer(StaticInstancer(instances), factory)
