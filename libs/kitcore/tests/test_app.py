"""kitcore.app: a real service process on real ports, stopped by SIGTERM.

The service is ``tiny_service.py`` (one slow endpoint over HTTP and gRPC).
The in-process tests check the readiness wiring and the routes every service
gets from the app; the process tests check the graceful stop (requests in
flight finish, new connections are refused, the process exits 0 within the
grace period, and its etcd key goes away) and, with ``setup_process``, JSON
logs and traces of both transports. Each runs on every HTTP server
``KIT_HTTP_SERVER`` can name (``http_server``, from conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from stop_helpers import in_background, refused
from tiny_service import GRPC_SERVICE, decode_http, register, work

from kitcore.app import App
from kitcore.config import KitConfig
from kitcore.faults import FaultSettings
from kitcore.health import Readiness
from kitcore.testing.otlp import OTLPCollector
from kitcore.testing.process import free_port, wait_for_port
from kitcore.transport.http import new_app, route

TINY_SERVICE = Path(__file__).with_name("tiny_service.py")
GRACE = 6.0


def _health(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status


def _grpc_work(port: int, sleep_ms: int = 0, timeout: float = 10.0) -> dict:
    return _grpc_work_call(port, sleep_ms, timeout)[0]


def _grpc_work_call(port: int, sleep_ms: int = 0, timeout: float = 10.0) -> tuple[dict, dict]:
    """The reply of a Work call and its trailing metadata."""
    request = struct_pb2.Struct()
    request.update({"sleep_ms": sleep_ms})
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            f"/{GRPC_SERVICE}/Work",
            request_serializer=struct_pb2.Struct.SerializeToString,
            response_deserializer=struct_pb2.Struct.FromString,
        )
        reply, done = call.with_call(request, timeout=timeout)
    return dict(reply), dict(done.trailing_metadata())



def _config(http_server: str, **env: str) -> KitConfig:
    environ = {
        "KIT_HTTP_SERVER": http_server,
        "KIT_HTTP_PORT": str(free_port()),
        "KIT_GRPC_PORT": str(free_port()),
        "KIT_ADVERTISE_HOST": "127.0.0.1",
        "KIT_SHUTDOWN_GRACE": str(GRACE),
        **env,
    }
    return KitConfig.from_env("tiny", environ)


# --- in process ---------------------------------------------------------------------------


@pytest.fixture
def app(http_server: str) -> Iterator[App]:
    http_app = new_app("tiny")
    route(http_app, "/work", ["GET"], work, decode_http)
    running = App(_config(http_server), http_app=http_app, grpc_register=register).start()
    yield running
    running.stop()


def test_serves_both_transports_with_health(app):
    config = app.config
    base = f"http://127.0.0.1:{config.http_port}"
    assert requests.get(f"{base}/work?sleep_ms=1", timeout=5).json() == {"slept_ms": 1}
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
    assert _grpc_work(config.grpc_port, 1) == {"slept_ms": 1.0}
    assert _health(config.grpc_port) == health_pb2.HealthCheckResponse.SERVING


def test_grpc_answers_name_the_instance(app):
    _, trailing = _grpc_work_call(app.config.grpc_port)
    assert trailing["x-served-by"] == app.config.instance_id != ""


def test_draining_makes_both_health_checks_say_not_ready(app):
    config = app.config
    app.readiness.drain()
    readyz = requests.get(f"http://127.0.0.1:{config.http_port}/readyz", timeout=5)
    assert readyz.status_code == 503
    assert readyz.json()["error"]["code"] == "unavailable"
    assert _health(config.grpc_port) == health_pb2.HealthCheckResponse.NOT_SERVING


def test_stop_refuses_new_connections_and_is_idempotent(app):
    config = app.config
    app.stop()
    assert refused(config.http_port)
    assert refused(config.grpc_port)
    app.stop()


def test_adds_the_routes_every_service_serves(http_server):
    http_app = new_app("tiny")
    settings = FaultSettings()
    config = _config(http_server, KIT_ADMIN_USER="ops", KIT_ADMIN_PASSWORD="knob-secret")
    app = App(config, http_app=http_app, grpc_register=register, fault_settings=settings).start()
    try:
        base = f"http://127.0.0.1:{config.http_port}"
        exported = requests.get(f"{base}/metrics", timeout=5)
        assert exported.status_code == 200 and "kit_requests_total" in exported.text
        admin = f"{base}/admin/faults"
        assert requests.get(admin, timeout=5).status_code == 401
        assert requests.get(admin, auth=("admin", "knob-secret"), timeout=5).status_code == 401
        turned = requests.put(admin, json={"latency_ms": 5}, auth=("ops", "knob-secret"), timeout=5)
        assert turned.status_code == 200 and settings.latency_ms == 5.0
    finally:
        app.stop()


def test_without_fault_settings_there_is_no_admin_route(app):
    admin = f"http://127.0.0.1:{app.config.http_port}/admin/faults"
    assert requests.get(admin, auth=("admin", ""), timeout=5).status_code == 404


def test_readyz_runs_the_checks_of_the_readiness_it_was_given(http_server):
    readiness = Readiness()
    readiness.add_check("database", lambda: False)
    config = _config(http_server)
    app = App(config, http_app=new_app("tiny"), readiness=readiness).start()
    try:
        base = f"http://127.0.0.1:{config.http_port}"
        readyz = requests.get(f"{base}/readyz", timeout=5)
        assert readyz.status_code == 503 and "database" in readyz.json()["error"]["message"]
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    finally:
        app.stop()


def test_routes_the_app_already_has_are_left_alone(http_server):
    http_app = new_app("tiny")
    http_app.add_url_rule("/metrics", "metrics", lambda: "own metrics")
    config = _config(http_server)
    app = App(config, http_app=http_app).start()
    try:
        own = requests.get(f"http://127.0.0.1:{config.http_port}/metrics", timeout=5)
        assert own.text == "own metrics"
    finally:
        app.stop()


def test_a_port_already_taken_fails_start_clearly(http_server):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        http_app = new_app("tiny")
        config = _config(http_server, KIT_HTTP_PORT=str(port))
        with pytest.raises(OSError):
            App(config, http_app=http_app, grpc_register=register).start()
        # the gRPC server started before the failure is stopped again
        assert refused(config.grpc_port)


# --- in a real process --------------------------------------------------------------------


class _Tiny:
    """tiny_service.py running as a child process, on the HTTP server named."""

    def __init__(self, http_server: str, **env: str) -> None:
        self.http_port, self.grpc_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "KIT_HTTP_PORT": str(self.http_port),
            "KIT_GRPC_PORT": str(self.grpc_port),
            "KIT_ADVERTISE_HOST": "127.0.0.1",
            "KIT_INSTANCE_ID": f"tiny-{self.http_port}",
            "KIT_SHUTDOWN_GRACE": str(GRACE),
            "KIT_ETCD_ENDPOINTS": "",
            "KIT_HTTP_SERVER": http_server,
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, str(TINY_SERVICE)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = ""
        wait_for_port("127.0.0.1", self.http_port, timeout=30)
        wait_for_port("127.0.0.1", self.grpc_port, timeout=30)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def terminate(self, timeout: float) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.output, _ = self.proc.communicate()
            pytest.fail(f"no exit within {timeout}s after SIGTERM\n{self.output}")
        return self.proc.returncode

    def log_lines(self) -> list[dict]:
        lines = []
        for line in self.output.splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def tiny(http_server: str) -> Iterator[_Tiny]:
    process = _Tiny(http_server)
    yield process
    process.close()



def test_process_serves_http_and_grpc(tiny):
    answer = requests.get(f"{tiny.base}/work?sleep_ms=5", timeout=5)
    assert answer.json() == {"slept_ms": 5}
    assert answer.headers["X-Served-By"] == tiny.env["KIT_INSTANCE_ID"]
    response = requests.get(f"{tiny.base}/work?sleep_ms=abc", timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_argument"
    assert _grpc_work(tiny.grpc_port, 5) == {"slept_ms": 5.0}
    assert _health(tiny.grpc_port) == health_pb2.HealthCheckResponse.SERVING


def test_sigterm_drains_in_flight_requests_then_exits_zero(tiny):
    results: dict = {}
    slow_ms = 2500
    http = in_background(
        lambda: requests.get(f"{tiny.base}/work?sleep_ms={slow_ms}", timeout=20), results, "http"
    )
    rpc = in_background(lambda: _grpc_work(tiny.grpc_port, slow_ms, 20), results, "grpc")
    time.sleep(0.7)  # both calls are now in flight in the service

    signalled = time.monotonic()
    tiny.proc.send_signal(signal.SIGTERM)
    while not (refused(tiny.http_port) and refused(tiny.grpc_port)):
        assert time.monotonic() - signalled < 1.5, "still accepting connections after SIGTERM"
        time.sleep(0.02)
    assert http.is_alive() and rpc.is_alive(), "the slow calls should still be in flight"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{tiny.base}/work", timeout=2)

    http.join(20)
    rpc.join(20)
    assert not isinstance(results["http"], Exception), results["http"]
    assert results["http"].status_code == 200
    assert results["http"].json() == {"slept_ms": slow_ms}
    assert results["grpc"] == {"slept_ms": float(slow_ms)}

    assert tiny.terminate(timeout=GRACE + 5) == 0
    assert time.monotonic() - signalled < GRACE
    messages = [line.get("msg") for line in tiny.log_lines() if line.get("logger") == "kitcore.app"]
    assert "started" in messages and "stopped" in messages
    stopped = next(line for line in tiny.log_lines() if line.get("msg") == "stopped")
    assert stopped["drained"] is True


def test_requests_longer_than_the_grace_are_cut_and_the_process_still_exits(http_server):
    tiny = _Tiny(http_server, KIT_SHUTDOWN_GRACE="2")
    try:
        results: dict = {}
        url = f"{tiny.base}/work?sleep_ms=20000"
        http = in_background(lambda: requests.get(url, timeout=30), results, "http")
        rpc = in_background(lambda: _grpc_work(tiny.grpc_port, 20000, 30), results, "grpc")
        time.sleep(0.7)
        signalled = time.monotonic()
        assert tiny.terminate(timeout=10) == 0
        assert time.monotonic() - signalled < 2 + 1.0  # the grace, plus process exit
        http.join(5)
        rpc.join(5)
        assert isinstance(results["http"], requests.ConnectionError)
        assert isinstance(results["grpc"], grpc.RpcError)
        stopped = next(line for line in tiny.log_lines() if line.get("msg") == "stopped")
        assert stopped["drained"] is False
    finally:
        tiny.close()


def test_sigterm_when_idle_exits_zero_at_once(tiny):
    signalled = time.monotonic()
    assert tiny.terminate(timeout=GRACE + 5) == 0
    assert time.monotonic() - signalled < 2.5
    started = next(line for line in tiny.log_lines() if line.get("msg") == "started")
    assert started["http"] == f"127.0.0.1:{tiny.http_port}"
    assert started["grpc"] == f"127.0.0.1:{tiny.grpc_port}"
    assert started["gc_frozen"] > 10_000  # what it made to start is out of the collector's way


def test_setup_process_logs_json_and_traces_both_transports(http_server):
    with OTLPCollector() as collector:
        tiny = _Tiny(
            http_server, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_SERVICE_NAME="tiny-traced"
        )
        try:
            response = requests.get(f"{tiny.base}/work?sleep_ms=1", timeout=5)
            assert len(response.headers["X-Trace-Id"]) == 32
            assert _grpc_work(tiny.grpc_port, 1) == {"slept_ms": 1.0}
            requests.get(f"{tiny.base}/healthz", timeout=5)
            assert tiny.terminate(timeout=GRACE + 5) == 0  # spans still batched are sent on exit
        finally:
            tiny.close()
        servers = {(span.service, span.name) for span in collector.spans if span.kind == "server"}
    assert ("tiny-traced", "GET /work") in servers
    assert ("tiny-traced", f"/{GRPC_SERVICE}/Work") in servers
    assert not any("healthz" in name for _, name in servers)  # probes are not traced
    assert any(line.get("msg") == "started" for line in tiny.log_lines())


# --- with a real etcd ------------------------------------------------------------------------


def test_registered_while_running_and_gone_right_after_sigterm(http_server, etcd, etcd_client):
    client = etcd_client
    tiny = _Tiny(http_server, KIT_ETCD_ENDPOINTS=etcd.address, KIT_REGISTER_TTL="10")
    try:
        key = f"/kitcore/services/tiny/{tiny.env['KIT_INSTANCE_ID']}"
        deadline = time.monotonic() + 10
        while client.get(key) is None:
            assert time.monotonic() < deadline, "instance never registered"
            time.sleep(0.05)
        value = json.loads(client.get(key))
        assert value == {
            "id": tiny.env["KIT_INSTANCE_ID"],
            "service": "tiny",
            "transport": {
                "http": f"127.0.0.1:{tiny.http_port}",
                "grpc": f"127.0.0.1:{tiny.grpc_port}",
            },
            "version": "",
            "meta": {"zone": "test"},
        }
        assert tiny.terminate(timeout=GRACE + 5) == 0
        # Deleted on the way out, not left to expire with its 10 s lease.
        assert client.get(key) is None
    finally:
        tiny.close()
