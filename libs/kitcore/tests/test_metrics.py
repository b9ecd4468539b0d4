"""kitcore.metrics: counters, histogram and in-flight gauge, /metrics, rejected requests.

Metrics live in the process-wide default registry, so every assertion compares
a value before and after, under labels unique to the test.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
from prometheus_client import REGISTRY

from kitcore import errors, metrics
from kitcore.endpoint import Context
from kitcore.transport import http, http_admin


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def service() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def _endpoint(ctx: Context, request: str) -> str:
    if request == "missing":
        raise errors.NotFound("no such book")
    if request == "boom":
        raise RuntimeError("bug")
    return request


def test_middleware_counts_by_outcome_and_times(service):
    endpoint = metrics.metrics_middleware(service, "get_book")(_endpoint)
    endpoint(Context.background(), "b1")
    endpoint(Context.background(), "b2")
    with pytest.raises(errors.NotFound):
        endpoint(Context.background(), "missing")
    with pytest.raises(RuntimeError):
        endpoint(Context.background(), "boom")
    labels = {"service": service, "endpoint": "get_book"}
    assert value("kit_requests_total", **labels, outcome="ok") == 2
    assert value("kit_requests_total", **labels, outcome="not_found") == 1
    assert value("kit_requests_total", **labels, outcome="internal") == 1
    assert value("kit_request_duration_seconds_count", **labels) == 4
    assert value("kit_requests_in_flight", **labels) == 0


def test_in_flight_counts_running_calls(service):
    entered, release = threading.Event(), threading.Event()

    def slow(ctx: Context, request: None) -> None:
        entered.set()
        release.wait(5)

    endpoint = metrics.metrics_middleware(service, "slow")(slow)
    thread = threading.Thread(target=endpoint, args=(Context.background(), None))
    thread.start()
    entered.wait(5)
    assert value("kit_requests_in_flight", service=service, endpoint="slow") == 1
    release.set()
    thread.join(5)
    assert value("kit_requests_in_flight", service=service, endpoint="slow") == 0


def test_metrics_route_and_rejections_before_an_endpoint(serve, service):
    app = http.new_app(service)
    wrapped = metrics.metrics_middleware(service, "get_book")(lambda ctx, r: {"id": r})
    http.route(app, "/books/<id>", ["GET"], wrapped, lambda r, p: p["id"], name="get_book")
    http.route(app, "/books", ["POST"], wrapped, lambda r, p: http.json_body(r), name="create")
    http_admin.metrics_route(app)
    served = serve(app)

    assert requests.get(served.url + "/books/b1").status_code == 200
    assert requests.get(served.url + "/nowhere").status_code == 404
    assert requests.post(served.url + "/books", data="{").status_code == 415
    assert requests.post(served.url + "/books", data="{",
                         headers={"Content-Type": "application/json"}).status_code == 400

    def count(endpoint: str, outcome: str) -> float:
        return value("kit_requests_total", service=service, endpoint=endpoint, outcome=outcome)

    assert count("get_book", "ok") == 1
    assert count("unmatched", "not_found") == 1
    assert count("create", "unsupported_media_type") == 1
    assert count("create", "invalid_argument") == 1

    response = requests.get(served.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    line = (
        f'kit_requests_total{{endpoint="get_book",outcome="ok",service="{service}"}} 1.0'
    )
    assert line in response.text
    assert "kit_request_duration_seconds_bucket" in response.text
