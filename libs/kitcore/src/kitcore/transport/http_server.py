"""The HTTP server adapter: Flask routes that decode, call an endpoint, encode.

``new_app(name)`` makes a Flask app whose every error is the JSON error body
``{"error": {"code": <Kind value>, "message": ...}}`` with the status from
:data:`kitcore.errors.TABLE`: unknown routes (404), wrong methods (405),
bodies over ``max_body_bytes`` (413, chunked ones too), ``KitError`` raised anywhere, and
unexpected exceptions (500 ``internal``, traceback logged, never sent).
A path matches a route only as written: a path with a doubled slash, or with
a trailing slash (rules end without one), is an unknown route (404), never
a redirect.

``route(app, rule, methods, endpoint, decode)`` serves one endpoint:
``decode(flask.request, path_params) -> request``, then
``endpoint(ctx, request)``, then ``encode(response)``. The Context carries
the request headers (lower-case keys, read from the WSGI environ on demand,
never copied) as metadata, the deadline from ``X-Request-Timeout`` (seconds)
and the OpenTelemetry context of the request's span when tracing is on;
``kitcore.tracing`` starts that span (and sets ``X-Trace-Id``) by wrapping
the Flask app (:mod:`kitcore.spans`).

Logging: a request rejected before its endpoint ran (bad route, method, body,
header) is logged here, one line, and counted in ``kit_requests_total``. A
request that reached its endpoint is logged by ``kitcore.log.logging_middleware``
around that endpoint, not here, so each request leaves exactly one line. The
one exception: an unexpected exception that no log middleware logged is
logged here, with its traceback.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from kitcore import log, metrics, spans
from kitcore.endpoint import Context, Endpoint
from kitcore.errors import Internal, InvalidArgument, KitError, from_http_status, translate

TIMEOUT_HEADER = "X-Request-Timeout"
"""Request header with the seconds the caller still waits for an answer."""

TRACE_ID_HEADER = spans.TRACE_ID_HEADER
"""Response header with the trace id of the request, when tracing is on."""

SERVED_BY_HEADER = "X-Served-By"
"""Response header naming the instance that answered (see :func:`new_app`)."""

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
    on every response, errors too: a service passes its ``KIT_INSTANCE_ID``,
    so the answer names the instance while the body holds only its data.
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
    app.wsgi_app = _Arrival(app, served_by)  # type: ignore[method-assign]
    return app


_STARTED_KEY = "kitcore.started"


class _Arrival:
    """The app's WSGI entry: notes when each request arrived, answers a path with a
    doubled slash as an unknown route (even where the WSGI server merged it away in
    PATH_INFO), gives a chunked body a length (so its limit holds), and adds
    ``X-Served-By`` -- cheaper than Flask's before/after-request hooks."""

    def __init__(self, app: flask.Flask, served_by: str | None) -> None:
        self.flask_app = app
        self.app = app.wsgi_app
        self.header = (SERVED_BY_HEADER, served_by) if served_by else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[_STARTED_KEY] = time.perf_counter()
        header = self.header
        if header is not None:
            start_response = _adding(header, start_response)
        as_sent = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO")
        if "//" in (as_sent or ""):
            raw = _raw_path(environ)
            if "//" in raw:
                with self.flask_app.request_context(environ):
                    refused = _reject(UNMATCHED, from_http_status(404, f"no route for {raw}"))
                return refused(environ, start_response)
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            _buffer_chunked(environ, self.flask_app.config.get("MAX_CONTENT_LENGTH"))
        return self.app(environ, start_response)


def _buffer_chunked(environ: dict[str, Any], limit: int | None) -> None:
    """Read a chunked body, up to one byte past ``limit``, and give it a length.

    So the body limit holds on every WSGI server: waitress buffers a chunked
    body itself and sets CONTENT_LENGTH; on one that streams it (granian),
    werkzeug would stop reading at the limit and hand the app the first
    ``limit`` bytes as if they were the whole body. With a length, a body over
    the limit is a 413 as any other.
    """
    if limit is None:
        return
    stream = environ["wsgi.input"]
    body = bytearray()
    while len(body) <= limit:
        chunk = stream.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    environ["wsgi.input"] = io.BytesIO(bytes(body))
    environ["CONTENT_LENGTH"] = str(len(body))
    del environ["HTTP_TRANSFER_ENCODING"]


def _adding(header: tuple[str, str], start_response: Callable[..., Any]) -> Callable[..., Any]:
    def start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
        headers.append(header)
        return start_response(status, headers, *exc)

    return start


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
        http_request = flask.request._get_current_object()  # type: ignore[attr-defined]
        http_request.environ[spans.ROUTE_KEY] = rule
        try:
            ctx = context_from_request(http_request)
            request = decode(http_request, path_params)
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
    """The Context of an HTTP request: headers, deadline, the span's trace context.

    ``remote-addr`` holds the socket peer's address, never a header of that name.
    """
    environ = request.environ
    timeout = environ.get(_TIMEOUT_ENVIRON)
    deadline = None if timeout is None else time.monotonic() + _parse_timeout(timeout)
    return Context(deadline, HeaderMetadata(environ), environ.get(spans.CONTEXT_KEY))


_TIMEOUT_ENVIRON = "HTTP_" + TIMEOUT_HEADER.upper().replace("-", "_")
_UNPREFIXED = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


class HeaderMetadata(Mapping[str, str]):
    """A request's headers as Context metadata: lower-case keys, looked up in the
    WSGI environ when asked (nothing copied), plus ``remote-addr`` from the socket."""

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    def __getitem__(self, key: str) -> str:
        if key == REMOTE_ADDR_KEY:
            return self._environ.get("REMOTE_ADDR") or ""
        name = _UNPREFIXED.get(key) or "HTTP_" + key.upper().replace("-", "_")
        value = self._environ.get(name)
        if not isinstance(value, str) or (not value and name in _UNPREFIXED.values()):
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        for name, value in list(self._environ.items()):
            if name.startswith("HTTP_"):
                key = name[5:].lower().replace("_", "-")
                if key != REMOTE_ADDR_KEY:
                    yield key
            elif value and name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                yield name.lower().replace("_", "-")
        yield REMOTE_ADDR_KEY

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"HeaderMetadata({dict(self)!r})"


def encode_json(response: Any, status: int = 200) -> flask.Response:
    """A JSON response from a dict, list or dataclass; ``None`` gives 204."""
    if response is None:
        return flask.Response(status=204)
    if dataclasses.is_dataclass(response) and not isinstance(response, type):
        response = dataclasses.asdict(response)
    return json_response(response, status)


def json_response(body: Any, status: int = 200) -> flask.Response:
    """``body`` as JSON, byte for byte what ``flask.jsonify`` writes outside debug mode
    (compact, sorted keys, Flask's encoder for dates, UUIDs, decimals), built directly."""
    return flask.Response(_ENCODER.encode(body) + "\n", status=status,
                          content_type="application/json")


_ENCODER = json.JSONEncoder(default=DefaultJSONProvider.default, ensure_ascii=True,
                            sort_keys=True, separators=(",", ":"))
"""Built once: ``json.dumps`` with arguments builds an encoder per call."""



def encode_error(err: KitError) -> flask.Response:
    """The one HTTP error encoder: JSON body, status from the table, error headers."""
    error = {"error": {"code": err.kind.value, "message": err.message}}
    response = json_response(error, err.wire.http_status)
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
    """The path as the client sent it (waitress and werkzeug keep it as RAW_URI;
    granian has only PATH_INFO, where it keeps doubled slashes)."""
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
    now = time.perf_counter()
    seconds = now - flask.request.environ.get(_STARTED_KEY, now)
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
