"""The HTTP server adapter: Flask routes that decode, call an endpoint, encode.

``new_app(name)`` makes a Flask app whose every error is the JSON error body
``{"error": {"code": <Kind value>, "message": ...}}`` with the status from
:data:`kitcore.errors.TABLE`: unknown routes (404), wrong methods (405),
bodies over ``max_body_bytes`` (413), ``KitError`` raised anywhere, and
unexpected exceptions (500 ``internal``, traceback logged, never sent).
A path matches a route only as written: a path with a doubled slash, or with
a trailing slash (rules end without one), is an unknown route (404), never
a redirect.

``route(app, rule, methods, endpoint, decode)`` serves one endpoint:
``decode(flask.request, path_params) -> request``, then
``endpoint(ctx, request)``, then ``encode(response)``. The Context carries
the request headers (lower-case keys) as metadata, the deadline from
``X-Request-Timeout`` (seconds) and the current OpenTelemetry context when a
span is active; ``kitcore.tracing`` starts that span by instrumenting Flask.

Logging: a request rejected before its endpoint ran (bad route, method, body,
header) is logged here, one line, and counted in ``kit_requests_total``. A
request that reached its endpoint is logged by ``kitcore.log.logging_middleware``
around that endpoint, not here, so each request leaves exactly one line. The
one exception: an unexpected exception that no log middleware logged is
logged here, with its traceback.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import flask
from opentelemetry import context as otel_context
from werkzeug.exceptions import HTTPException

from kitcore import log, metrics
from kitcore.endpoint import Context, Endpoint
from kitcore.errors import Internal, InvalidArgument, KitError, from_http_status, translate

TIMEOUT_HEADER = "X-Request-Timeout"
"""Request header with the seconds the caller still waits for an answer."""

TRACE_ID_HEADER = "X-Trace-Id"
"""Response header with the trace id of the request, when tracing is on."""

REMOTE_ADDR_KEY = "remote-addr"
"""Metadata key holding the address of the peer that sent the request."""

UNMATCHED = "unmatched"
"""The endpoint label of requests that matched no route."""

Decode = Callable[[flask.Request, dict[str, Any]], Any]
"""Turns a Flask request and its path parameters into an endpoint request."""

Encode = Callable[[Any], Any]
"""Turns an endpoint response into a Flask response (or ``(body, status)``)."""

_log = logging.getLogger("kitcore.transport.http")


def new_app(
    name: str, *, max_body_bytes: int = 1 << 20, served_by: str | None = None
) -> flask.Flask:
    """A Flask app for service ``name`` whose errors are all JSON error bodies.

    ``served_by`` (an instance id), when given, is written as ``X-Served-By``
    on every response.
    """
    app = flask.Flask(name)
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.config["KIT_SERVICE_NAME"] = name
    # Exact paths only: werkzeug would answer "//" and a missing trailing
    # slash with a 308 HTML page; here they are unknown routes (JSON 404).
    app.url_map.merge_slashes = False
    app.register_error_handler(HTTPException, _on_http_exception)
    app.register_error_handler(KitError, encode_error)
    app.register_error_handler(Exception, _on_unexpected)

    @app.before_request
    def start_clock() -> flask.Response | None:
        flask.g.kit_started = time.perf_counter()
        raw = _raw_path(flask.request.environ)
        if "//" in raw:  # the WSGI server may have merged it away in PATH_INFO
            return _reject(UNMATCHED, from_http_status(404, f"no route for {raw}"))
        return None

    @app.after_request
    def add_headers(response: flask.Response) -> flask.Response:
        ids = log.trace_ids()
        if ids:
            response.headers[TRACE_ID_HEADER] = ids[0]
        if served_by:
            response.headers["X-Served-By"] = served_by
        return response

    return app


def route(
    app: flask.Flask,
    rule: str,
    methods: Sequence[str],
    endpoint: Endpoint,
    decode: Decode,
    encode: Encode | None = None,
    *,
    name: str | None = None,
) -> None:
    """Serve ``endpoint`` at ``rule`` for ``methods``: decode, call, encode.

    ``name`` labels the route in logs and metrics (default ``"GET /rule"``).
    """
    if rule.endswith("/") and rule != "/":
        raise ValueError(f"rule {rule!r}: a rule ends without a slash (paths match as written)")
    route_name = name or f"{methods[0]} {rule}"
    encode = encode or encode_json

    def view(**path_params: Any) -> Any:
        try:
            ctx = context_from_request(flask.request)
            request = decode(flask.request, path_params)
        except Exception as exc:
            return _reject(route_name, exc)
        try:
            return encode(endpoint(ctx, request))
        except KitError as err:
            return encode_error(err)
        except Exception as exc:
            return _on_unexpected(exc)

    app.add_url_rule(rule, endpoint=route_name, view_func=view, methods=list(methods))


def context_from_request(request: flask.Request) -> Context:
    """The Context of an HTTP request: headers, deadline, current trace context.

    ``remote-addr`` holds the socket peer's address; it is set after the
    headers, so a client cannot choose it by sending a header of that name.
    """
    ctx = Context.background().with_metadata(dict(request.headers.items()))
    ctx = ctx.with_metadata({REMOTE_ADDR_KEY: request.remote_addr or ""})
    timeout = request.headers.get(TIMEOUT_HEADER)
    if timeout is not None:
        ctx = ctx.with_timeout(_parse_timeout(timeout))
    if log.trace_ids():
        ctx = ctx.with_trace(otel_context.get_current())
    return ctx


def encode_json(response: Any, status: int = 200) -> flask.Response:
    """A JSON response from a dict, list or dataclass; ``None`` gives 204."""
    if response is None:
        return flask.Response(status=204)
    if dataclasses.is_dataclass(response) and not isinstance(response, type):
        response = dataclasses.asdict(response)
    body = flask.jsonify(response)
    body.status_code = status
    return body


def encode_error(err: KitError) -> flask.Response:
    """The one HTTP error encoder: JSON body, status from the table, error headers."""
    response = flask.jsonify({"error": {"code": err.kind.value, "message": err.message}})
    response.status_code = err.wire.http_status
    for key, value in err.headers.items():
        response.headers[key] = value
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(max(0, math.ceil(err.retry_after)))
    return response


def _parse_timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgument(f"{TIMEOUT_HEADER} must be a number of seconds >= 0, got {value!r}")
    return seconds


def _raw_path(environ: dict[str, Any]) -> str:
    """The path as the client sent it (waitress and werkzeug keep it as RAW_URI)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
    if not raw.startswith("/"):
        raw = urlsplit(raw).path  # absolute form: http://host/path
    return raw.split("?", 1)[0]


def _http_exception_error(exc: HTTPException) -> KitError:
    request = flask.request
    code = exc.code or 500
    if code == 404:
        return from_http_status(404, f"no route for {request.path}")
    if code == 405:
        allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or []))
        err = from_http_status(405, f"method {request.method} not allowed for {request.path}")
        err.headers = {"Allow": allowed} if allowed else {}
        return err
    if code == 413:
        limit = flask.current_app.config["MAX_CONTENT_LENGTH"]
        return from_http_status(413, f"request body larger than {limit} bytes")
    return from_http_status(code, exc.description or exc.name)


def _reject(route_name: str, exc: Exception) -> flask.Response:
    """Answer, log (one line) and count a request rejected before any endpoint ran.

    A KitError or a werkzeug HTTP error is the client's fault (logged at
    INFO); any other exception is a bug in a decoder (500, logged at ERROR
    with its traceback).
    """
    level, exc_info = logging.INFO, None
    if isinstance(exc, KitError):
        err = exc
    elif isinstance(exc, HTTPException):
        err = _http_exception_error(exc)
    else:
        err, level, exc_info = Internal("internal error"), logging.ERROR, exc
        log.mark_logged(exc)
    seconds = time.perf_counter() - flask.g.get("kit_started", time.perf_counter())
    fields = {
        "endpoint": route_name,
        "method": flask.request.method,
        "path": flask.request.path,
        "outcome": err.kind.value,
        "status": err.wire.http_status,
        "duration_ms": round(seconds * 1000, 3),
        "error": str(exc) if exc_info else err.message,
    }
    _log.log(level, "rejected", exc_info=exc_info, extra={"fields": fields})
    service = flask.current_app.config.get("KIT_SERVICE_NAME", flask.current_app.name)
    metrics.observe(service, route_name, err.kind.value, seconds)
    return encode_error(err)


def _on_http_exception(exc: HTTPException) -> Any:
    if exc.code is None or exc.code < 400:
        return exc
    route_name = flask.request.url_rule.endpoint if flask.request.url_rule else UNMATCHED
    return _reject(route_name, exc)


def _on_unexpected(exc: Exception) -> flask.Response:
    """A known foreign failure as its kind (see errors.translate), else 500 with a
    generic message; the traceback is logged (once), never sent."""
    err = translate(exc)
    if not log.is_logged(exc) and isinstance(err, Internal):
        _log.error("unexpected error", exc_info=exc, extra={"fields": {"error": str(exc)}})
        log.mark_logged(exc)
    return encode_error(err)
