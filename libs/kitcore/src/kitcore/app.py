"""The runner: one process serving a Flask app (granian or waitress) and a gRPC server.

::

    config = KitConfig.from_env("book")
    setup_process(config)  # JSON logs and tracing, before any server exists
    ...  # store -> service -> endpoints -> transports
    App(config, http_app=flask_app, grpc_register=register_book_service,
        fault_settings=knobs).run()

Both servers run in threads of this one process, so there is one readiness,
one set of fault knobs, one ``/metrics`` registry and tracing set up once, and
nothing forks. The HTTP server is ``KIT_HTTP_SERVER``: granian's Rust HTTP
worker by default, waitress on request (:mod:`kitcore.http_servers`), each
with ``KIT_HTTP_THREADS`` threads running the app.

:meth:`App.run` freezes what the process made to start (``gc.freeze``: the
garbage collector no longer walks it), starts both transports, marks the
process ready, registers
the instance in etcd (when ``KIT_ETCD_ENDPOINTS`` is set) and blocks until
SIGTERM or SIGINT (handled here, never by the HTTP server). Then it stops
gracefully, in this order:

1. not ready: ``/readyz`` answers 503 and the gRPC health service NOT_SERVING;
2. deregister from etcd, so clients stop picking this instance;
3. stop accepting: new connections are refused on both ports, and idle
   keep-alive HTTP connections are closed;
4. drain: requests in flight finish, within ``KIT_SHUTDOWN_GRACE`` seconds,
   each HTTP connection closing once its answer is sent;
5. stop the gRPC server and close the HTTP server; ``run()`` returns (exit
   status 0). If requests are still running when the grace ends, the process
   exits at once, still with status 0. Another SIGTERM or SIGINT from then on
   is ignored, so it cannot turn the clean exit into death by signal.

:meth:`App.start` and :meth:`App.stop` do the same without signals, for tests.
Every service gets the same plumbing from here, so its ``main`` only wires
what is its own. Before serving, the app adds to the Flask app ``/healthz`` and
``/readyz`` (answering from the readiness), ``/metrics``, ``/admin/faults``
(when given fault settings; basic auth with the config's admin user and
password) and server spans when tracing is on, each unless the app already has
it; and to the gRPC server the standard gRPC health service. Every gRPC answer
names the instance (``KIT_INSTANCE_ID``) in the trailing metadata
``x-served-by``; a service's Flask app does the same in ``X-Served-By`` when
made with ``http.new_app(name, served_by=config.instance_id)``.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flask
import grpc

from kitcore import faults, health, log, tracing
from kitcore.config import KitConfig
from kitcore.http_servers import HTTPServer, new_http_server
from kitcore.transport import http_admin, instrument
from kitcore.transport.grpc import new_server
from kitcore.transport.grpc_health import add_grpc_health

_log = logging.getLogger("kitcore.app")

HTTP_THREADS = 8
"""The HTTP server's threads running the app by default (``KIT_HTTP_THREADS``):
requests served at once."""

_CLOSE_RESERVE = 0.5  # seconds of the grace period kept for closing the servers


def setup_process(config: KitConfig) -> None:
    """Set up logging and tracing for the process; call first, before any server exists.

    Logs are JSON lines at ``config.log_level``. Tracing is on when an OTLP
    endpoint is configured (``OTEL_*``); then kitcore's gRPC servers make server
    spans (the Flask app gets its own from :class:`App`). Client spans are a
    caller's choice: ``instrument.instrument_requests()`` and
    ``instrument.instrument_grpc_client()``, before any session or channel exists.
    """
    log.setup(config.service_name, config.log_level)
    tracing.setup(config.service_name)


class App:
    """Runs one service instance: HTTP and gRPC servers, registration, graceful stop."""

    def __init__(
        self,
        config: KitConfig,
        *,
        http_app: flask.Flask | None = None,
        grpc_register: Callable[[grpc.Server], None] | None = None,
        readiness: health.Readiness | None = None,
        fault_settings: faults.FaultSettings | None = None,
        instance_meta: Mapping[str, str] | None = None,
        version: str = "",
        grpc_interceptors: Sequence[grpc.ServerInterceptor] = (),
    ) -> None:
        self.config = config
        self.readiness = readiness or health.Readiness()
        self._http_app = http_app
        self._grpc_register = grpc_register
        self.fault_settings = fault_settings
        self._meta = dict(instance_meta or {})
        self._version = version
        self._interceptors = tuple(grpc_interceptors)
        self._http: HTTPServer | None = None
        self._grpc: grpc.Server | None = None
        self._registrar: Any = None
        self._lock = threading.Lock()
        self._stopped = False
        self._drained = False

    @property
    def drained(self) -> bool:
        """True once :meth:`stop` saw every request in flight finish within the grace."""
        return self._drained

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop gracefully and return.

        If requests are still running when the grace period ends, the process
        exits (status 0) instead of returning, so it never outlives the grace.
        """
        log.setup(self.config.service_name, self.config.log_level)
        signalled = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            _log.info("signal received", extra={"fields": {"signal": signal.Signals(signum).name}})
            signalled.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        _freeze_startup_objects()
        try:
            self.start()
            while not signalled.wait(1.0):
                pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                # A second signal while the process exits must not turn a clean stop into
                # death by signal (exit status 143): the default action is not restored.
                signal.signal(sig, signal.SIG_IGN if handler == signal.SIG_DFL else handler)
        if not self.drained:
            _exit_now()

    def start(self) -> App:
        """Start serving, mark ready, register; returns at once."""
        try:
            self._start_grpc()
            self._start_http()
        except Exception:
            self.stop()
            raise
        self.readiness.set_ready(True)
        registered = self._register()
        fields = {
            "service": self.config.service_name,
            "instance": self.config.instance_id,
            "http": self.config.http_address or None,
            "grpc": self.config.grpc_address or None,
            "etcd": list(self.config.etcd_endpoints) or None,
            "registered": registered,
            "gc_frozen": gc.get_freeze_count(),
        }
        _log.info("started", extra={"fields": fields})
        return self

    def stop(self) -> None:
        """Stop gracefully: not ready, deregister, refuse new work, drain, close.

        Returns within ``shutdown_grace`` seconds; requests still running by
        then are cut off.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        started = time.monotonic()
        # Keep a little of the grace period for closing the servers themselves.
        deadline = started + max(0.0, self.config.shutdown_grace - _CLOSE_RESERVE)
        self.readiness.drain()
        self._deregister()
        grpc_stopped = self._grpc.stop(_left(deadline)) if self._grpc else None
        drained = True
        if self._http:
            self._http.stop_accepting()
            drained = self._http.drain(deadline)
        if grpc_stopped is not None:
            drained = grpc_stopped.wait(_left(deadline)) and drained
        if self._http:
            self._http.close(_CLOSE_RESERVE)
        self._drained = drained
        fields = {
            "service": self.config.service_name,
            "instance": self.config.instance_id,
            "drained": drained,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
        _log.info("stopped", extra={"fields": fields})

    def _start_grpc(self) -> None:
        if self._grpc_register is None or not self.config.grpc_port:
            return
        server = new_server(interceptors=self._interceptors, served_by=self.config.instance_id)
        self._grpc_register(server)
        add_grpc_health(server, self.readiness)
        server.add_insecure_port(f"0.0.0.0:{self.config.grpc_port}")
        server.start()
        self._grpc = server

    def _start_http(self) -> None:
        if self._http_app is None or not self.config.http_port:
            return
        self._add_standard_routes(self._http_app)
        config = self.config
        self._http = new_http_server(
            config.http_server, self._http_app, "0.0.0.0", config.http_port, config.http_threads
        )
        self._http.start()

    def _add_standard_routes(self, app: flask.Flask) -> None:
        """Health, metrics, the fault knobs' admin route and server spans, unless already there."""
        routes = app.view_functions
        if "readyz" not in routes:
            http_admin.health_routes(app, self.readiness)
        if "metrics" not in routes:
            http_admin.metrics_route(app)
        if self.fault_settings is not None and "admin_get_faults" not in routes:
            http_admin.fault_routes(
                app, self.fault_settings, self.config.admin_user, self.config.admin_password
            )
        instrument.instrument_flask(app)

    def _register(self) -> bool:
        """Register in etcd when endpoints are configured; True once registered."""
        if not self.config.etcd_endpoints:
            return False
        from kitcore.sd import EtcdRegistrar, Instance  # only services that register need it

        instance = Instance(
            id=self.config.instance_id,
            service=self.config.service_name,
            http=self.config.http_address or None,
            grpc=self.config.grpc_address or None,
            version=self._version,
            meta=self._meta,
        )
        self._registrar = EtcdRegistrar(
            list(self.config.etcd_endpoints), instance, ttl=self.config.register_ttl
        )
        # Never blocks start-up for long: if etcd is away, the registrar keeps trying.
        return self._registrar.register(wait=2.0)

    def _deregister(self) -> None:
        if self._registrar is not None:
            self._registrar.deregister()
            self._registrar = None


def _freeze_startup_objects() -> None:
    """Leave what the process made to start (modules, routes, the app) out of every
    later garbage collection: a service's heap is mostly that, and the collector
    would walk it again and again for the few objects each request leaves
    (gc.freeze; about 5 % of a gRPC call's CPU in the benchmark)."""
    gc.collect()
    gc.freeze()


def _exit_now() -> None:
    """End the process at once (status 0): requests outlived the grace period.

    Python cannot stop a running thread, and the gRPC worker pool is joined at
    interpreter exit, so one endless handler would keep the process alive.
    """
    _log.warning("requests still running after the grace period; exiting now")
    logging.shutdown()
    os._exit(0)


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
