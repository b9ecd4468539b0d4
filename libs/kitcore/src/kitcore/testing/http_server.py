"""Serve a Flask (WSGI) app in threads of this process, for tests.

::

    served = serve_in_thread(app)          # a free port on 127.0.0.1
    requests.get(served.url + "/healthz")
    served.stop()

The server the services run (:mod:`kitcore.http_servers`: granian unless
another is named), on a free port, stopped as :class:`kitcore.app.App` stops
it: refuse new connections, let requests in flight finish, close.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

from kitcore.config import DEFAULT_HTTP_SERVER
from kitcore.http_servers import new_http_server
from kitcore.testing.process import free_port

STOP_GRACE = 5.0
"""Seconds requests in flight get to finish when a test server stops."""


class ServedApp(NamedTuple):
    """A running test server: where it listens, and how to stop it."""

    host: str
    port: int
    stop: Callable[[], None]

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"


def serve_in_thread(
    app: Any, host: str = "127.0.0.1", threads: int = 4, server: str = DEFAULT_HTTP_SERVER
) -> ServedApp:
    """Start ``app`` on ``server`` on a free port of ``host``; returns (host, port, stop)."""
    port = free_port(host)
    http = new_http_server(server, app, host, port, threads)
    http.start()

    def stop() -> None:
        http.stop_accepting()
        http.drain(time.monotonic() + STOP_GRACE)
        http.close(0.5)

    return ServedApp(host, port, stop)
