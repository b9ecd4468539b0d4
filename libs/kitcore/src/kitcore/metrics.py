"""Prometheus metrics per endpoint: request count, latency histogram, in-flight gauge.

The metrics live in prometheus-client's default registry:

- ``kit_requests_total{service,endpoint,outcome}``: calls by outcome
  (``"ok"`` or the error's kind code, e.g. ``"not_found"``);
- ``kit_request_duration_seconds{service,endpoint}``: a latency histogram;
- ``kit_requests_in_flight{service,endpoint}``: calls running now.

:func:`metrics_middleware` records them around an endpoint; the HTTP transport calls
:func:`observe` for requests rejected before any endpoint ran (endpoint label:
the route name, or ``"unmatched"``). :func:`kitcore.transport.http_admin.metrics_route`
serves ``/metrics``.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import prometheus_client

from kitcore.endpoint import Context, Endpoint, Middleware
from kitcore.errors import KitError

REQUESTS = prometheus_client.Counter(
    "kit_requests", "Endpoint calls by outcome.", ["service", "endpoint", "outcome"]
)
"""Calls by service, endpoint and outcome."""

DURATION = prometheus_client.Histogram(
    "kit_request_duration_seconds", "Endpoint call latency.", ["service", "endpoint"]
)
"""Call latency by service and endpoint."""

IN_FLIGHT = prometheus_client.Gauge(
    "kit_requests_in_flight", "Endpoint calls running now.", ["service", "endpoint"]
)
"""Calls running now, by service and endpoint."""


_LABELLED_LIMIT = 4096
"""Label children kept at hand; the label values are routes and kinds, so few."""


@functools.lru_cache(maxsize=_LABELLED_LIMIT)
def _requests(service: str, endpoint: str, outcome: str) -> Any:
    return REQUESTS.labels(service, endpoint, outcome)


@functools.lru_cache(maxsize=_LABELLED_LIMIT)
def _duration(service: str, endpoint: str) -> Any:
    return DURATION.labels(service, endpoint)


def observe(service: str, endpoint: str, outcome: str, seconds: float) -> None:
    """Record one finished call (or one rejected request)."""
    _requests(service, endpoint, outcome).inc()
    _duration(service, endpoint).observe(seconds)


def metrics_middleware(service: str, name: str) -> Middleware:
    """Count, time and track in flight every call of the endpoint ``name``."""

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        in_flight = IN_FLIGHT.labels(service, name)
        succeeded = _requests(service, name, "ok")
        duration = _duration(service, name)

        def endpoint(ctx: Context, request: Any) -> Any:
            started = time.perf_counter()
            in_flight.inc()
            try:
                response = next_endpoint(ctx, request)
            except KitError as err:
                _requests(service, name, err.kind.value).inc()
                raise
            except Exception:
                _requests(service, name, "internal").inc()
                raise
            finally:
                in_flight.dec()
                duration.observe(time.perf_counter() - started)
            succeeded.inc()
            return response

        return endpoint

    return wrap
