"""The two HTTP servers: the OTLP/HTTP receiver, and the trace view with the Jaeger query API."""

from __future__ import annotations

import gzip
import json
import re
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from jaeger_standin import pages
from jaeger_standin.jaeger_json import envelope, error_envelope, trace_json
from jaeger_standin.otlp import BadRequest, decode_request
from jaeger_standin.store import TraceQuery, TraceStore
from jaeger_standin.waterfall import layout

MAX_BODY_BYTES = 16 << 20
DEFAULT_LIMIT = 100

STATIC = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {"view.css": "text/css; charset=utf-8",
                "view.js": "text/javascript; charset=utf-8"}
PAGE_POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
"""Content-Security-Policy of the HTML pages: no inline script, nothing from elsewhere."""

_TRACE_PATH = re.compile(r"^/api/traces/([0-9a-fA-F]{1,32})$")
_TRACE_PAGE = re.compile(r"^/trace/([0-9a-fA-F]{1,32})$")
_OPERATIONS_PATH = re.compile(r"^/api/services/([^/]+)/operations$")
_LOOKBACK = re.compile(r"^(\d+)(us|ms|s|m|h|d)$")
_UNIT_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000,
            "h": 3_600_000_000, "d": 86_400_000_000}


class StoreServer(ThreadingHTTPServer):
    """A threading HTTP server whose handlers share one TraceStore."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, store: TraceStore) -> None:
        super().__init__(address, handler)
        self.store = store


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StoreServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # one line per request would drown the stack's logs

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")


class OtlpHandler(_Handler):
    """``POST /v1/traces``: OTLP/HTTP with a protobuf body (gzip allowed)."""

    def do_POST(self) -> None:  # noqa: N802
        if urlsplit(self.path).path != "/v1/traces":
            self._send_json(404, {"code": 5, "message": f"no route {self.path}"})
            return
        try:
            body = self._body()
            spans = decode_request(body)
        except _HttpError as exc:
            self.close_connection = True  # the body may be unread
            self._send_json(exc.status, {"code": 3, "message": exc.message})
            return
        except BadRequest as exc:
            self._send_json(400, {"code": 3, "message": str(exc)})
            return
        self.server.store.add(spans)
        self._send(200, ExportTraceServiceResponse().SerializeToString(),
                   "application/x-protobuf")

    def do_GET(self) -> None:  # noqa: N802
        self._send_json(405, {"code": 12, "message": "POST OTLP protobuf to /v1/traces"})

    def _body(self) -> bytes:
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != "application/x-protobuf":
            raise _HttpError(415, "only application/x-protobuf is accepted")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise _HttpError(411, "Content-Length is required") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise _HttpError(413, f"body larger than {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(length)
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding == "gzip":
            try:
                return gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as exc:
                raise _HttpError(400, f"bad gzip body: {exc}") from exc
        if encoding not in ("", "identity"):
            raise _HttpError(415, f"unsupported Content-Encoding {encoding}")
        return body


class QueryHandler(_Handler):
    """The trace view (HTML) and the read-only Jaeger query API (JSON)."""

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        try:
            if path in ("/", "/search"):
                self._search(parse_qs(url.query))
            elif match := _TRACE_PAGE.match(path):
                self._trace_page(match.group(1))
            elif path.startswith("/static/") and path[8:] in STATIC_TYPES:
                name = path[8:]
                self._send(200, (STATIC / name).read_bytes(), STATIC_TYPES[name],
                           {"Cache-Control": "no-cache"})
            elif path == "/api/services":
                self._send_json(200, envelope(self.server.store.services()))
            elif match := _OPERATIONS_PATH.match(path):
                ops = self.server.store.operations(unquote(match.group(1)))
                self._send_json(200, envelope(ops))
            elif path == "/api/traces":
                query = _parse_query(parse_qs(url.query))
                traces = self.server.store.find(query)
                self._send_json(200, envelope([trace_json(t) for t in traces]))
            elif match := _TRACE_PATH.match(path):
                self._one_trace(match.group(1))
            else:
                self._send_json(404, error_envelope(404, f"no route {url.path}"))
        except _HttpError as exc:
            self._send_json(exc.status, error_envelope(exc.status, exc.message))

    do_HEAD = do_GET

    def _send_page(self, status: int, page: bytes) -> None:
        self._send(status, page, "text/html; charset=utf-8",
                   {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-store"})

    def _search(self, params: dict[str, list[str]]) -> None:
        store = self.server.store
        params.setdefault("lookback", [pages.DEFAULT_LOOKBACK])
        params.setdefault("limit", [str(pages.DEFAULT_LIMIT)])
        query = _parse_query(params, service_required=False)
        form = pages.SearchForm(query.service, query.operation or "",
                                params["lookback"][-1], query.limit)
        operations = store.operations(query.service) if query.service else []
        traces = [layout(spans) for spans in store.find(query)]
        self._send_page(200, pages.search_page(form, store.services(), operations, traces))

    def _trace_page(self, trace_id: str) -> None:
        spans = self.server.store.get(trace_id)
        if spans is None:
            page = pages.not_found_page(trace_id, self.server.store.max_traces)
            self._send_page(404, page)
        else:
            self._send_page(200, pages.trace_page(layout(spans)))

    def _one_trace(self, trace_id: str) -> None:
        spans = self.server.store.get(trace_id)
        if spans is None:
            self._send_json(404, error_envelope(404, "trace not found"))
        else:
            self._send_json(200, envelope([trace_json(spans)]))


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _parse_query(params: dict[str, list[str]], *, service_required: bool = True) -> TraceQuery:
    def one(name: str) -> str | None:
        values = params.get(name)
        return values[-1] if values and values[-1] != "" else None

    service = one("service")
    if service is None and service_required:
        raise _HttpError(400, "parameter 'service' is required")
    limit = _int_param("limit", one("limit"), DEFAULT_LIMIT)
    start = _int_param("start", one("start"), None)
    end = _int_param("end", one("end"), None)
    lookback = one("lookback")
    if start is None and lookback not in (None, "custom"):
        match = _LOOKBACK.match(lookback)
        if not match:
            raise _HttpError(400, f"cannot parse lookback {lookback!r} (e.g. 1h, 30m, 2d)")
        start = int(time.time() * 1_000_000) - int(match.group(1)) * _UNIT_US[match.group(2)]
    tags: dict[str, str] = {}
    if raw := one("tags"):
        try:
            tags = {str(k): str(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError) as exc:
            raise _HttpError(400, "parameter 'tags' must be a JSON object") from exc
    return TraceQuery(service=service or "", operation=one("operation"), limit=limit,
                      start_us=start, end_us=end, tags=tags)


def _int_param(name: str, raw: str | None, default: int | None) -> int | None:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _HttpError(400, f"parameter {name!r} must be an integer") from None
    if value < 0:
        raise _HttpError(400, f"parameter {name!r} must not be negative")
    return value
