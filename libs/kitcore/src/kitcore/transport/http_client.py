"""The HTTP client: a remote HTTP route as an Endpoint, over one urllib3 connection pool.

``HTTPClient(base_url).endpoint(method, path, encode_request, decode_response)``
is an :data:`~kitcore.endpoint.Endpoint`, so breaker, retry and balancing
middlewares wrap it like any local endpoint::

    client = HTTPClient("http://user:8080", timeout=2.0)
    get_user = client.endpoint(
        "GET", "/api/v1/users/{id}",
        lambda req: ClientRequest(path_params={"id": req.user_id}),
        lambda body, headers: User(**body),
    )
    user = get_user(ctx, GetUserRequest(user_id="..."))

``encode_request(request) -> ClientRequest`` gives the path parameters (filled
into ``{name}`` placeholders, URL-quoted), query, JSON body and headers.
``decode_response(body, headers)`` gets the parsed JSON body (None for 204)
and the response headers (e.g. ``X-Served-By``).

Deadlines: the call waits at most ``min(ctx.remaining(), timeout)`` seconds
and tells the server so in ``X-Request-Timeout``; with the deadline already
passed it sends nothing and raises DeadlineExceeded. Errors come back as the
kind the server raised (``Retry-After`` kept); connection failures are
Unavailable, timeouts DeadlineExceeded.

Tracing: each call is a client span of its own (a no-op while tracing is off),
and its context goes out in ``traceparent``, so the server's span is its child.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from opentelemetry import propagate, trace
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
)

from kitcore.endpoint import Context, Endpoint
from kitcore.errors import (
    DeadlineExceeded,
    Internal,
    KitError,
    NotSent,
    Unavailable,
    from_code,
    from_http_status,
)
from kitcore.transport.http_server import TIMEOUT_HEADER

_tracer = trace.get_tracer(__name__)
_JSON = "application/json"


@dataclass(frozen=True)
class ClientRequest:
    """What to send: path parameters, query, JSON body (None for none), headers."""

    path_params: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] | None = None


EncodeRequest = Callable[[Any], ClientRequest]
"""Turns an endpoint request into what to send."""

DecodeResponse = Callable[[Any, Mapping[str, str]], Any]
"""Turns the JSON body and headers of a 2xx response into an endpoint response."""


class HTTPClient:
    """Client endpoints for one HTTP server, sharing one urllib3 connection pool.

    urllib3 directly, not ``requests``: a call costs about half the CPU
    (bench/bench_clients.py). Each call is a client span (when tracing is on)
    whose context travels in the ``traceparent`` header.
    """

    def __init__(self, base_url: str, *, timeout: float = 5.0, pool_size: int = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # block=False: past pool_size calls at once, extra connections are opened
        # and closed after use rather than making a call wait for a free one.
        self._pool = urllib3.connection_from_url(
            self.base_url, maxsize=pool_size, block=False, retries=False
        )

    def endpoint(
        self,
        method: str,
        path: str,
        encode_request: EncodeRequest,
        decode_response: DecodeResponse,
    ) -> Endpoint:
        """An Endpoint that sends ``method path`` and decodes the answer."""

        def endpoint(ctx: Context, request: Any) -> Any:
            outgoing = encode_request(request)
            timeout = self._timeout_for(ctx)
            target = path.format(
                **{k: quote(str(v), safe="") for k, v in outgoing.path_params.items()}
            ) + _query_string(outgoing.query)
            headers = {**(outgoing.headers or {}), TIMEOUT_HEADER: f"{timeout:.3f}"}
            response = self._send(ctx, method, target, outgoing.json, headers, timeout)
            if response.status >= 400:
                raise error_from_response(response)
            return decode_response(_json_body(response, self.base_url + target),
                                   response.headers)

        return endpoint

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()

    def _timeout_for(self, ctx: Context) -> float:
        remaining = ctx.remaining()
        if remaining is None:
            return self.timeout
        if remaining <= 0:
            raise DeadlineExceeded("deadline exceeded before sending the request")
        return min(remaining, self.timeout)

    def _send(
        self,
        ctx: Context,
        method: str,
        target: str,
        payload: Any,
        headers: dict[str, str],
        timeout: float,
    ) -> urllib3.BaseHTTPResponse:
        body = None
        if payload is not None:
            body = json.dumps(payload, allow_nan=False).encode()
            headers["Content-Type"] = _JSON
        url = self.base_url + target
        with _tracer.start_as_current_span(
            method, kind=trace.SpanKind.CLIENT,
            attributes={"http.request.method": method, "url.full": url},
        ) as span:
            propagate.inject(headers)
            response = self._urlopen(ctx, method, url, target, body, headers, timeout)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(trace.StatusCode.ERROR)
            return response

    def _urlopen(
        self,
        ctx: Context,
        method: str,
        url: str,
        target: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float,
    ) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool.urlopen(
                method, target, body=body, headers=headers, retries=False, redirect=False,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
            )
        except NewConnectionError as exc:  # refused, unreachable, unknown host
            raise NotSent(f"{method} {url}: {exc}") from exc
        except ConnectTimeoutError as exc:
            if ctx.expired():
                raise DeadlineExceeded(f"{method} {url}: connect timed out") from exc
            raise NotSent(f"{method} {url}: connect timed out") from exc
        except ReadTimeoutError as exc:
            raise DeadlineExceeded(f"{method} {url}: no answer within {timeout:.3f}s") from exc
        except (HTTPError, OSError) as exc:  # reset, closed mid-answer: it may have run
            raise Unavailable(f"{method} {url}: {exc}") from exc


def _query_string(query: Mapping[str, Any] | None) -> str:
    """``?a=1&b=x`` for the items that are not None ("" for none), as requests built it."""
    if not query:
        return ""
    items = {name: value for name, value in query.items() if value is not None}
    return "?" + urlencode(items, doseq=True) if items else ""


_ERROR_HEADER_PREFIXES = ("ratelimit-", "www-authenticate")


def error_from_response(response: urllib3.BaseHTTPResponse) -> KitError:
    """The KitError an error response stands for: its ``code``, else its status."""
    retry_after = _retry_after(response.headers.get("Retry-After"))
    try:
        error = json.loads(response.data)["error"]
        code, message = str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return _error_from_status(response.status, response.reason or "")
    return from_code(code, message, retry_after=retry_after, headers=_error_headers(response))


def _error_headers(response: urllib3.BaseHTTPResponse) -> dict[str, str]:
    """The response headers that describe an error (rate-limit state, auth challenge)."""
    return {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower().startswith(_ERROR_HEADER_PREFIXES)
    }


def _error_from_status(status: int, reason: str) -> KitError:
    message = f"HTTP {status} {reason}".strip()
    if status in (502, 503):
        return Unavailable(message)
    if status == 504:
        return DeadlineExceeded(message)
    if status >= 500:
        return Internal(message)
    return from_http_status(status, message)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: not worth parsing for a hint


def _json_body(response: urllib3.BaseHTTPResponse, url: str) -> Any:
    if response.status == 204 or not response.data:
        return None
    try:
        return json.loads(response.data)
    except ValueError as exc:
        raise Internal(f"response from {url} is not JSON") from exc
