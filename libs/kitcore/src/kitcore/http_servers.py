"""The WSGI servers :mod:`kitcore.app` can run a Flask app on, behind one small interface.

::

    server = new_http_server("granian", flask_app, "0.0.0.0", 8080, threads=8)
    server.start()                # answering when it returns
    ...
    server.stop_accepting()       # new connections are refused from here on
    drained = server.drain(deadline)  # requests in flight finish (time.monotonic())
    server.close(0.5)

Both run in threads of the calling process, so HTTP and gRPC share one process:
one registration, one readiness, one ``/metrics`` registry, tracing set up once.

- ``granian`` (the default): granian's Rust HTTP worker with ``threads``
  blocking threads running the app. It measured about twice waitress's
  throughput at half its CPU per request (docs/benchmarks.md, "Which server").
- ``waitress``: waitress's event loop in a thread, with ``threads`` workers.

**granian internals used.** granian runs a worker in a thread of its own
process only in ``granian.server.MTServer``, which is meant for free-threaded
Python and, from its ``serve()``, refuses a build with the GIL and takes over
SIGTERM/SIGINT. :class:`GranianServer` therefore calls what ``serve()`` calls
after those steps: ``_init_shared_socket()`` and ``_spawn_workers()`` with
``_spawn_wsgi_worker``, then ``terminate()`` on the workers in ``wrks`` and a
join of each one's thread (``inner``). The Rust worker needs no free-threaded
build: it takes the GIL for each call into the app, as in granian's process
workers. These are private names, so granian is pinned exactly
(requirements.lock) and ``tests/test_http_servers.py`` checks the behaviour
kitcore relies on: the port refused at once on stop, idle keep-alive
connections closed, requests in flight answered, a drain that says when it ran
out of time, a taken port failing the start (checked here first: granian's
socket shares its port with any other socket that allows it, SO_REUSEPORT).
Process workers (granian's default) would put HTTP and gRPC in different
processes, with readiness, the fault knobs and metrics to share between them.

granian's blocking threads are started on demand, and its pool decides to
start one only as a request is queued: a request queued in the instant a
thread has taken the previous one off the queue but not yet counted itself
busy waits behind that request, however long it runs, until another request
arrives (on a busy machine, that instant is long enough to be hit). So
:class:`GranianServer` starts every blocking thread before it reports the
server started (``threads`` warm-up requests held at a barrier until all of
them run at once) and never lets one go idle: from then on a request waits
only when every thread is busy.

granian's WSGI layer copies the process environment into every request's
environ; :class:`GranianServer` removes it again, so the service's settings
(its secrets among them) never reach a request, and a variable named
``HTTP_*`` never reads as a request header.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import waitress
from granian.constants import HTTPModes, Interfaces, RuntimeModes
from granian.log import LogLevels
from granian.server import MTServer
from waitress import wasyncore

from kitcore.config import HTTP_SERVERS

_START_TIMEOUT = 10.0  # seconds granian's worker may take to listen
_WARM_TIMEOUT = 5.0  # seconds granian may take to start all its blocking threads
_NEVER_IDLE = 10 * 365 * 24 * 3600  # seconds a blocking thread may wait for work: forever
_WARM_PATH = "/.kitcore/warm-up"
_STOP_TIMEOUT = 1.0  # seconds it may take to close its listener once told

# Leave kitcore's logging as it is: granian's own lines go to the root logger
# (JSON), warnings and errors only.
_KEEP_LOGGING = {"version": 1, "incremental": True, "handlers": {}, "loggers": {}}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class HTTPServer(Protocol):
    """A WSGI server in threads of this process, stopped in the steps of a graceful stop."""

    def start(self) -> None:
        """Start serving; the port answers requests when this returns."""

    def stop_accepting(self) -> None:
        """Refuse new connections from now on; requests in flight go on."""

    def drain(self, deadline: float) -> bool:
        """Wait until every request in flight is answered and its connection
        closed, or ``deadline`` (time.monotonic()) passes; True if all were."""

    def close(self, timeout: float) -> None:
        """Release the server's threads, within about ``timeout`` seconds."""


def new_http_server(kind: str, app: WSGIApp, host: str, port: int, threads: int) -> HTTPServer:
    """The server named ``kind`` (one of ``HTTP_SERVERS``), serving ``app`` on ``host:port``."""
    if kind == "granian":
        return GranianServer(app, host, port, threads)
    if kind == "waitress":
        return WaitressServer(app, host, port, threads)
    raise ValueError(f"unknown HTTP server {kind!r}: one of {', '.join(HTTP_SERVERS)}")


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


# --- granian ---------------------------------------------------------------------------


class GranianServer:
    """granian's Rust HTTP worker in a thread, ``threads`` blocking threads running the app."""

    def __init__(self, app: WSGIApp, host: str, port: int, threads: int) -> None:
        self._app = _WithoutProcessEnviron(app)
        self._host, self._port, self._threads = host, port, threads
        self._server = MTServer(
            target="kitcore",  # a name only: the app is handed over, not imported
            address=host,
            port=port,
            interface=Interfaces.WSGI,
            workers=1,
            blocking_threads=threads,
            blocking_threads_idle_timeout=_NEVER_IDLE,
            runtime_mode=RuntimeModes.mt,
            http=HTTPModes.http1,
            websockets=False,
            log_level=LogLevels.warning,
            log_dictconfig=_KEEP_LOGGING,
        )

    def start(self) -> None:
        """Start the worker and wait until it answers on its port.

        Raises OSError when something already listens on the port (granian's
        own socket shares a port with any other that allows it).
        """
        _check_port_free(self._host, self._port)
        self._app.inherit(os.environ)
        self._server._init_shared_socket()
        self._server._spawn_workers(self._server._spawn_wsgi_worker, self._app)
        self._wait_listening()
        self._warm_up()

    def stop_accepting(self) -> None:
        """Tell the worker to stop, and wait (a moment) until its port refuses.

        The worker closes its listener, then each connection once its request
        is answered (idle keep-alive ones at once).
        """
        for worker in self._server.wrks:
            worker.terminate()
        deadline = time.monotonic() + _STOP_TIMEOUT
        while self._accepting() and time.monotonic() < deadline:
            time.sleep(0.005)

    def drain(self, deadline: float) -> bool:
        """Wait for the worker to answer its last request and end."""
        threads = [worker.inner for worker in self._server.wrks]  # is_alive() is False once told
        for thread in threads:
            thread.join(_left(deadline))
        return not any(thread.is_alive() for thread in threads)

    def close(self, timeout: float) -> None:
        """Nothing left to do: the worker ends its runtime when it has drained.

        A worker still running a request keeps its thread until it answers;
        :meth:`kitcore.app.App.run` ends the process then.
        """

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._answering():
            if not any(worker.is_alive() for worker in self._server.wrks):
                raise RuntimeError(f"granian's worker on port {self._port} ended at start")
            if time.monotonic() > deadline:
                raise TimeoutError(f"granian not listening on port {self._port} after "
                                   f"{_START_TIMEOUT}s")
            time.sleep(0.005)

    def _warm_up(self) -> None:
        """Start every blocking thread: ``threads`` requests that each wait at a barrier
        until all of them run at once (the app never sees them)."""
        barrier = threading.Barrier(self._threads, timeout=_WARM_TIMEOUT)
        self._app.warming = barrier
        try:
            with contextlib.ExitStack() as opened:  # every probe closed, even on an error
                probes = [opened.enter_context(socket.create_connection(
                    self._probe_address(), timeout=_WARM_TIMEOUT * 2))
                    for _ in range(self._threads)]
                for probe in probes:
                    probe.sendall(f"GET {_WARM_PATH} HTTP/1.0\r\n\r\n".encode())
                for probe in probes:
                    probe.recv(64)
        except OSError:
            pass  # the threads start on demand instead
        finally:
            self._app.warming = None

    def _accepting(self) -> bool:
        """True if the port takes a connection (into its backlog, answered or not)."""
        try:
            with socket.create_connection(self._probe_address(), timeout=0.5):
                return True
        except OSError:
            return False

    def _answering(self) -> bool:
        """True once the worker answers on the port.

        The listening socket exists before the worker runs, so a connection
        alone proves nothing: a request sent then waits in the backlog until
        the worker starts, on a busy machine for seconds. A malformed request
        line is answered 400 by granian itself, without calling the app.
        """
        try:
            with socket.create_connection(self._probe_address(), timeout=0.5) as probe:
                probe.sendall(b"GET\r\n\r\n")
                return probe.recv(5) == b"HTTP/"
        except OSError:
            return False

    def _probe_address(self) -> tuple[str, int]:
        return ("127.0.0.1" if self._host in ("0.0.0.0", "") else self._host), self._port


def _check_port_free(host: str, port: int) -> None:
    """Raise OSError (address in use) when a socket already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class _WithoutProcessEnviron:
    """The app, called with the request's environ minus what granian copied from
    the process environment (a request header of the same name and another
    value is kept)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.inherited: tuple[tuple[str, str], ...] = ()
        self.warming: threading.Barrier | None = None

    def inherit(self, environ: Mapping[str, str]) -> None:
        """Note the environment granian's worker copies as it starts."""
        self.inherited = tuple(environ.items())

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        warming = self.warming
        if warming is not None and environ.get("PATH_INFO") == _WARM_PATH:
            return _warm(warming, start_response)
        for name, value in self.inherited:
            if environ.get(name) == value:
                del environ[name]
        return self.app(environ, start_response)


def _warm(barrier: threading.Barrier, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Hold this blocking thread until every one is running a warm-up request."""
    with contextlib.suppress(threading.BrokenBarrierError):  # timed out: answer anyway
        barrier.wait()
    start_response("204 No Content", [])
    return []


# --- waitress --------------------------------------------------------------------------


class WaitressServer:
    """Waitress's event loop in a thread, with ``threads`` worker threads."""

    def __init__(self, app: WSGIApp, host: str, port: int, threads: int) -> None:
        self._server = waitress.create_server(app, host=host, port=port, threads=threads)
        self._thread = threading.Thread(target=self._server.run, name="waitress", daemon=True)

    def start(self) -> None:
        """Run waitress's event loop in its thread (it listens from construction)."""
        self._thread.start()

    def stop_accepting(self) -> None:
        """Close the listening socket."""
        server = self._server

        def close_listener() -> None:
            server.accepting = False
            server.del_channel()
            server.socket.close()

        self._in_loop(close_listener)

    def drain(self, deadline: float) -> bool:
        """Close each connection once its requests are answered."""
        channels = self._server.active_channels
        while channels and time.monotonic() < deadline:
            self._in_loop(self._close_idle_channels)
            time.sleep(0.05)
        return not channels

    def close(self, timeout: float) -> None:
        """Stop the worker threads and the event loop."""
        self._server.task_dispatcher.shutdown(timeout=timeout / 2)
        self._in_loop(lambda: wasyncore.close_all(self._server._map))
        self._thread.join(timeout / 2)

    def _close_idle_channels(self) -> None:
        for channel in list(self._server.active_channels.values()):
            if not channel.requests:
                channel.close_when_flushed = True  # waitress closes it after sending

    def _in_loop(self, action: Callable[[], None]) -> None:
        """Run ``action`` in waitress's event-loop thread and wait for it."""
        done = threading.Event()

        def thunk() -> None:
            try:
                action()
            finally:
                done.set()

        if not self._thread.is_alive():
            thunk()
            return
        self._server.trigger.pull_trigger(thunk)
        done.wait(1.0)
