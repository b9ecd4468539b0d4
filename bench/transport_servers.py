"""The Python servers of the transport benchmark, one per process.

    python bench/transport_servers.py KIND PORT [--otlp URL]

Every KIND answers the same lookup (:mod:`catalogue`), ``GET /books/<id>`` over
HTTP or ``BookService.GetBook`` over gRPC:

- ``flask-granian``: a bare Flask route on kitcore.app's default server,
  granian's Rust worker in a thread (:mod:`kitcore.http_servers`), with
  kitcore.app's thread count as blocking threads;
- ``kitcore-http-granian``: a kitcore endpoint behind
  ``kitcore.transport.http.route`` with the server chain the book service uses
  (metrics, log, faults off, deadline), wired as a service's main does
  (``setup_process``, then :class:`kitcore.app.App` as shipped: granian, JSON
  log lines);
- ``flask`` / ``kitcore-http``: the same two on waitress (``KIT_HTTP_SERVER=waitress``);
- ``grpc-bare``: a generated servicer on ``grpc.server`` with 16 threads;
- ``kitcore-grpc``: the same endpoint and chain behind
  ``kitcore.transport.grpc.Handler`` on ``kitcore.app.App``'s gRPC server;
- ``kitcore-http-traced`` / ``kitcore-grpc-traced``: kitcore-http (waitress) and
  kitcore-grpc with
  ``kitcore.tracing`` on, every request sampled, spans exported over OTLP to
  ``--otlp`` (see :mod:`otlp_sink`);
- ``kitcore-http-shipped`` / ``kitcore-grpc-shipped``: tracing on with the
  sampler as shipped (``OTEL_TRACES_SAMPLER`` unset: parent-based, up to 10
  new traces per second);
- ``flask-granian-process``: the bare app on granian's own process worker (its
  command line: WSGI, 1 worker, 8 blocking threads), against the worker in a
  thread that kitcore runs;
- ``flask-gunicorn`` / ``kitcore-http-gunicorn``: the same two Flask apps (the
  kitcore one with the routes kitcore.app adds) on gunicorn (gthread, 1
  worker, 8 threads), for the server comparison;
- ``grpc-aio``: the bare servicer on ``grpc.aio``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from concurrent import futures
from typing import Any

import flask
import grpc
import waitress
from catalogue import SERVED_BY, book_reply

from kitcore import errors, faults, log, metrics, tracing
from kitcore.app import HTTP_THREADS, App, setup_process
from kitcore.config import DEFAULT_HTTP_SERVER, KitConfig
from kitcore.endpoint import Context, Endpoint, chain, deadline_middleware
from kitcore.http_servers import new_http_server
from kitcore.transport import http
from kitcore.transport.grpc import Handler
from protos import book_pb2, book_pb2_grpc

SERVICE = SERVED_BY  # the instance id kitcore names on every answer
KNOBS = faults.FaultSettings()
"""The fault knobs, off, as a service runs them when no fault is asked for."""

GRPC_THREADS = 16
"""Worker threads of both gRPC servers (kitcore.transport.grpc.new_server's default)."""


# --- the kitcore side: endpoint, chain, transports ----------------------------------


def get_book(ctx: Context, book_id: str) -> dict[str, Any]:
    """The endpoint: the book's reply, or NotFound."""
    reply = book_reply(book_id)
    if reply is None:
        raise errors.NotFound(f"no book {book_id}")
    return reply


def server_chain(endpoint: Endpoint, name: str) -> Endpoint:
    """``endpoint`` in the middlewares the book service wraps each of its endpoints in."""
    return chain(
        metrics.metrics_middleware(SERVICE, name),
        log.logging_middleware(logging.getLogger(SERVICE), name),
        faults.fault_middleware(KNOBS),
        deadline_middleware(5.0),
    )(endpoint)


def kitcore_config(http_port: int, grpc_port: int, otlp: str, sample_all: bool,
                   http_server: str = DEFAULT_HTTP_SERVER) -> KitConfig:
    """The config a service would read: one port, no etcd, tracing to ``otlp`` if given
    (every request sampled when ``sample_all``, else the default sampler), HTTP on
    ``http_server``.

    This process is the edge, so it puts the ``OTEL_*`` settings in its own
    environment, where ``setup_process`` reads them as in any service.
    """
    if otlp:
        os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = otlp
    if otlp and sample_all:
        os.environ["OTEL_TRACES_SAMPLER"] = "always_on"
    environ = {
        "KIT_INSTANCE_ID": SERVICE,
        "KIT_HTTP_PORT": str(http_port),
        "KIT_GRPC_PORT": str(grpc_port),
        "KIT_ADVERTISE_HOST": "127.0.0.1",
        "KIT_SHUTDOWN_GRACE": "1",
        "KIT_HTTP_SERVER": http_server,
        **{k: v for k, v in os.environ.items() if k.startswith("OTEL_")},
    }
    config = KitConfig.from_env(SERVICE, environ)
    setup_process(config)  # JSON logs, and tracing when an OTLP endpoint is set
    if otlp and not tracing.enabled():
        raise SystemExit("tracing did not start")
    return config


def kitcore_http_app() -> flask.Flask:
    """The kitcore Flask app: the route behind the server chain."""
    app = http.new_app(SERVICE, served_by=SERVICE)
    http.route(app, "/books/<book_id>", ["GET"], server_chain(get_book, "get_book"),
               lambda request, path: path["book_id"], name="get_book")
    return app


def run_kitcore_http(port: int, otlp: str, sample_all: bool = True,
                     http_server: str = "waitress") -> None:
    """kitcore.transport.http on kitcore.app.App (which adds health, metrics, spans)."""
    config = kitcore_config(port, 0, otlp, sample_all, http_server)
    App(config, http_app=kitcore_http_app(), fault_settings=KNOBS).run()


def kitcore_http_app_served_elsewhere() -> flask.Flask:
    """The kitcore app with every route kitcore.app adds, for another WSGI server."""
    config = kitcore_config(1, 0, "", False)
    app = kitcore_http_app()
    App(config, http_app=app, fault_settings=KNOBS)._add_standard_routes(app)
    return app


def run_kitcore_grpc(port: int, otlp: str, sample_all: bool = True) -> None:
    """kitcore.transport.grpc.Handler on kitcore.app.App's gRPC server."""
    config = kitcore_config(0, port, otlp, sample_all)
    handler = Handler(
        server_chain(get_book, "GetBook"),
        lambda message: message.id,
        lambda reply: book_pb2.BookReply(book=book_pb2.Book(**reply["book"])),
        name="GetBook",
    )

    class Servicer(book_pb2_grpc.BookServiceServicer):
        GetBook = handler

    def register(server: grpc.Server) -> None:
        book_pb2_grpc.add_BookServiceServicer_to_server(Servicer(), server)

    App(config, grpc_register=register, fault_settings=KNOBS).run()


# --- the bare side ------------------------------------------------------------------


def bare_flask_app() -> flask.Flask:
    """A bare Flask route answering the lookup."""
    app = flask.Flask(SERVICE)

    @app.get("/books/<book_id>")
    def get(book_id: str) -> Any:
        reply = book_reply(book_id)
        if reply is None:
            return flask.jsonify({"error": {"code": "not_found", "message": "no book"}}), 404
        return flask.jsonify(reply), {"X-Served-By": SERVED_BY}

    return app


def run_flask(port: int) -> None:
    """The bare Flask app on waitress, as many threads as kitcore.app gives waitress."""
    waitress.serve(bare_flask_app(), host="127.0.0.1", port=port, threads=HTTP_THREADS,
                   _quiet=True)


def run_flask_as_kitcore(port: int) -> None:
    """The bare Flask app on kitcore.app's default server, as kitcore.app runs it, until SIGTERM."""
    server = new_http_server(DEFAULT_HTTP_SERVER, bare_flask_app(), "127.0.0.1", port,
                             HTTP_THREADS)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    server.start()
    stopped.wait()
    server.stop_accepting()
    server.drain(time.monotonic() + 1)
    server.close(0.5)


def run_on(server: str, factory: str, port: int) -> None:
    """Replace this process with ``server`` (granian or gunicorn) serving ``factory()``."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    binary = os.path.join(os.path.dirname(sys.executable), server)
    if server == "granian":
        argv = [binary, "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", "--blocking-threads", str(HTTP_THREADS), "--no-ws",
                "--log-level", "warning", "--factory", f"transport_servers:{factory}"]
    else:
        argv = [binary, "--workers", "1", "--worker-class", "gthread",
                "--threads", str(HTTP_THREADS), "--bind", f"127.0.0.1:{port}",
                "--no-control-socket", "--log-level", "warning",
                f"transport_servers:{factory}()"]
    os.execve(binary, argv, env)


_SERVED_BY_TRAILER = (("x-served-by", SERVED_BY),)
"""What kitcore's gRPC server adds to every answer, written by hand on the bare side."""


class BareBookServicer(book_pb2_grpc.BookServiceServicer):
    """GetBook written straight against grpcio."""

    def GetBook(self, request: book_pb2.GetBookRequest, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """The book, or NOT_FOUND."""
        reply = book_reply(request.id)
        context.set_trailing_metadata(_SERVED_BY_TRAILER)
        if reply is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "no book")
        return book_pb2.BookReply(book=book_pb2.Book(**reply["book"]))


def run_grpc_aio(port: int) -> None:
    """The same servicer on grpc.aio (its methods run on the event loop), until SIGTERM."""
    import asyncio

    class AioBookServicer(book_pb2_grpc.BookServiceServicer):
        async def GetBook(self, request: Any, context: Any) -> Any:  # noqa: N802
            reply = book_reply(request.id)
            context.set_trailing_metadata(_SERVED_BY_TRAILER)
            if reply is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, "no book")
            return book_pb2.BookReply(book=book_pb2.Book(**reply["book"]))

    async def serve() -> None:
        server = grpc.aio.server()
        book_pb2_grpc.add_BookServiceServicer_to_server(AioBookServicer(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop(0)

    asyncio.run(serve())


def run_grpc_bare(port: int) -> None:
    """A generated servicer on a plain grpc.server, until SIGTERM."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=GRPC_THREADS))
    book_pb2_grpc.add_BookServiceServicer_to_server(BareBookServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    signal.signal(signal.SIGTERM, lambda signum, frame: server.stop(0))
    server.wait_for_termination()


KINDS = {
    "flask": lambda port, otlp: run_flask(port),
    "kitcore-http": run_kitcore_http,
    "kitcore-http-traced": lambda port, otlp: run_kitcore_http(
        port, otlp, http_server=DEFAULT_HTTP_SERVER),
    "kitcore-http-shipped": lambda port, otlp: run_kitcore_http(
        port, otlp, sample_all=False, http_server=DEFAULT_HTTP_SERVER),
    "flask-granian": lambda port, otlp: run_flask_as_kitcore(port),
    "kitcore-http-granian": lambda port, otlp: run_kitcore_http(port, otlp, http_server="granian"),
    "flask-granian-process": lambda port, otlp: run_on("granian", "bare_flask_app", port),
    "flask-gunicorn": lambda port, otlp: run_on("gunicorn", "bare_flask_app", port),
    "kitcore-http-gunicorn": lambda port, otlp: run_on(
        "gunicorn", "kitcore_http_app_served_elsewhere", port),
    "grpc-bare": lambda port, otlp: run_grpc_bare(port),
    "grpc-aio": lambda port, otlp: run_grpc_aio(port),
    "kitcore-grpc": run_kitcore_grpc,
    "kitcore-grpc-traced": run_kitcore_grpc,
    "kitcore-grpc-shipped": lambda port, otlp: run_kitcore_grpc(port, otlp, sample_all=False),
}
"""Server kinds by name."""


def main(argv: list[str]) -> None:
    """Serve one KIND on PORT until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("port", type=int)
    parser.add_argument("--otlp", default="", help="OTLP/HTTP traces URL (the *-traced kinds)")
    args = parser.parse_args(argv)
    traced = args.kind.endswith(("-traced", "-shipped"))
    if traced and not args.otlp:
        parser.error(f"{args.kind} needs --otlp")
    otlp = args.otlp if traced else ""
    KINDS[args.kind](args.port, otlp)


if __name__ == "__main__":
    main(sys.argv[1:])
