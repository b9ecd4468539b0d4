"""Serve a Flask (WSGI) app under waitress in a background thread, for tests.

::

    served = serve_in_thread(app)          # a free port on 127.0.0.1
    requests.get(served.url + "/healthz")
    served.stop()

The same server the services run in production (waitress), on a free port,
stopped cleanly: the event loop runs in the thread and closes its own sockets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import waitress
from waitress import wasyncore


class ServedApp(NamedTuple):
    """A running test server: where it listens, and how to stop it."""

    host: str
    port: int
    stop: Callable[[], None]

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"


def serve_in_thread(app: Any, host: str = "127.0.0.1", threads: int = 4) -> ServedApp:
    """Start ``app`` under waitress on a free port of ``host``; returns (host, port, stop)."""
    server = waitress.create_server(app, host=host, port=0, threads=threads)
    stopping = threading.Event()

    def run() -> None:
        # One loop pass at a time, so the stop flag is seen within 50 ms.
        while not stopping.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, count=1)
        wasyncore.close_all(server._map)
        server.task_dispatcher.shutdown()

    thread = threading.Thread(target=run, name=f"waitress-{server.effective_port}", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(timeout=10)

    return ServedApp(host, int(server.effective_port), stop)
