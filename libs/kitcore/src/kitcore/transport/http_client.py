"""The HTTP client: a remote HTTP route as an Endpoint, over one pooled session.

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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from requests.adapters import HTTPAdapter

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
    """Client endpoints for one HTTP server, sharing one pooled ``requests.Session``."""

    def __init__(self, base_url: str, *, timeout: float = 5.0, pool_size: int = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

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
            url = self.base_url + path.format(
                **{k: quote(str(v), safe="") for k, v in outgoing.path_params.items()}
            )
            headers = {**(outgoing.headers or {}), TIMEOUT_HEADER: f"{timeout:.3f}"}
            response = self._send(ctx, method, url, outgoing, headers, timeout)
            if response.status_code >= 400:
                raise error_from_response(response)
            return decode_response(_json_body(response), response.headers)

        return endpoint

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

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
        url: str,
        outgoing: ClientRequest,
        headers: dict[str, str],
        timeout: float,
    ) -> requests.Response:
        try:
            return self._session.request(
                method, url, params=outgoing.query, json=outgoing.json,
                headers=headers, timeout=timeout,
            )
        except requests.ConnectTimeout as exc:
            if ctx.expired():
                raise DeadlineExceeded(f"{method} {url}: connect timed out") from exc
            raise NotSent(f"{method} {url}: connect timed out") from exc
        except requests.Timeout as exc:
            raise DeadlineExceeded(f"{method} {url}: no answer within {timeout:.3f}s") from exc
        except requests.RequestException as exc:
            unsent = NotSent if _never_connected(exc) else Unavailable
            raise unsent(f"{method} {url}: {exc}") from exc


def _never_connected(exc: requests.RequestException) -> bool:
    """True when no connection was made, so no byte of the request was sent."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


_ERROR_HEADER_PREFIXES = ("ratelimit-", "www-authenticate")


def error_from_response(response: requests.Response) -> KitError:
    """The KitError an error response stands for: its ``code``, else its status."""
    retry_after = _retry_after(response.headers.get("Retry-After"))
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return _error_from_status(response.status_code, response.reason or "")
    return from_code(code, message, retry_after=retry_after, headers=_error_headers(response))


def _error_headers(response: requests.Response) -> dict[str, str]:
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


def _json_body(response: requests.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise Internal(f"response from {response.url} is not JSON") from exc
