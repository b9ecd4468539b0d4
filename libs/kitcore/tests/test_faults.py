"""Tests for kitcore.faults: the middleware's error rate and latency, and the admin route."""

from __future__ import annotations

import base64
import threading
import time

import pytest

from kitcore import errors, faults
from kitcore.endpoint import Context
from kitcore.transport import http_admin
from kitcore.transport.http import new_app

CTX = Context.background()
AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}


def _outcomes(settings: faults.FaultSettings, calls: int) -> int:
    endpoint = faults.fault_middleware(settings)(lambda ctx, req: "ok")
    failed = 0
    for _ in range(calls):
        try:
            endpoint(CTX, None)
        except errors.Unavailable as exc:
            assert exc.message == "injected fault"
            failed += 1
    return failed


def test_no_faults_by_default():
    assert _outcomes(faults.FaultSettings(seed=1), 200) == 0


def test_error_rate_fails_that_fraction_of_calls():
    failed = _outcomes(faults.FaultSettings(error_rate=0.3, seed=42), 1000)
    assert 250 <= failed <= 350
    assert _outcomes(faults.FaultSettings(error_rate=1.0, seed=1), 50) == 50


def test_same_seed_same_failures():
    first = faults.FaultSettings(error_rate=0.5, seed=7)
    second = faults.FaultSettings(error_rate=0.5, seed=7)
    assert [first.draw()[1] for _ in range(50)] == [second.draw()[1] for _ in range(50)]


def test_latency_is_added():
    endpoint = faults.fault_middleware(faults.FaultSettings(latency_ms=200))(lambda ctx, req: "ok")
    started = time.monotonic()
    assert endpoint(CTX, None) == "ok"
    assert time.monotonic() - started >= 0.19


def test_latency_never_outlasts_the_deadline():
    endpoint = faults.fault_middleware(faults.FaultSettings(latency_ms=5000))(lambda ctx, req: "ok")
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceeded):
        endpoint(CTX.with_timeout(0.2), None)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "change",
    [{"error_rate": -0.1}, {"error_rate": 1.5}, {"latency_ms": -1}, {"error_rate": "half"},
     {"latency_ms": True}, {"latency_ms": 10_000_000}],
)
def test_out_of_range_settings_are_refused(change):
    settings = faults.FaultSettings(error_rate=0.2, latency_ms=5)
    with pytest.raises(errors.InvalidArgument):
        settings.update(**change)
    assert settings.as_dict() == {"error_rate": 0.2, "latency_ms": 5.0}


def test_settings_change_safely_while_calls_run():
    settings = faults.FaultSettings(seed=3)
    stop = threading.Event()

    def turn_knobs():
        while not stop.is_set():
            settings.update(error_rate=1.0)
            settings.update(error_rate=0.0)

    knob = threading.Thread(target=turn_knobs)
    knob.start()
    try:
        _outcomes(settings, 2000)
    finally:
        stop.set()
        knob.join()
    settings.update(error_rate=0.0)
    assert _outcomes(settings, 100) == 0


@pytest.fixture
def admin():
    settings = faults.FaultSettings()
    app = new_app("book")
    http_admin.fault_routes(app, settings, "admin", "s3cret")
    return settings, app.test_client()


def test_admin_get_and_put(admin):
    settings, client = admin
    assert client.get("/admin/faults", headers=AUTH).json == {"error_rate": 0.0, "latency_ms": 0.0}
    reply = client.put("/admin/faults", json={"error_rate": 0.5, "latency_ms": 100}, headers=AUTH)
    assert reply.status_code == 200
    assert reply.json == {"error_rate": 0.5, "latency_ms": 100.0}
    assert settings.as_dict() == {"error_rate": 0.5, "latency_ms": 100.0}
    reply = client.put("/admin/faults", json={"latency_ms": 0}, headers=AUTH)  # partial
    assert reply.json == {"error_rate": 0.5, "latency_ms": 0.0}


@pytest.mark.parametrize("method", ["get", "put"])
def test_admin_needs_basic_auth(admin, method):
    settings, client = admin
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"admin:no").decode()}):
        reply = getattr(client, method)("/admin/faults", json={"error_rate": 1}, headers=headers)
        assert reply.status_code == 401
        assert reply.headers["WWW-Authenticate"].startswith("Basic")
        assert reply.json["error"]["code"] == "unauthenticated"
    assert settings.error_rate == 0.0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"error_rate": 2}, 400),
        ({"error_rate": -1}, 400),
        ({"latency_ms": "slow"}, 400),
        ({"latency_ms": -5}, 400),
        ({"error_rat": 0.5}, 400),
        ([0.5], 400),
        ("not json", 400),
        (None, 415),
    ],
)
def test_admin_put_refuses_bad_bodies(admin, body, status):
    settings, client = admin
    if body is None:
        reply = client.put("/admin/faults", data="error_rate=1", headers=AUTH)
    elif isinstance(body, str):
        reply = client.put("/admin/faults", data=body, headers=AUTH,
                           content_type="application/json")
    else:
        reply = client.put("/admin/faults", json=body, headers=AUTH)
    assert reply.status_code == status
    assert reply.json["error"]["message"]
    assert settings.as_dict() == {"error_rate": 0.0, "latency_ms": 0.0}
