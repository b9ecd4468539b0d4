"""kitcore.health: Readiness, /healthz and /readyz, the gRPC health service."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kitcore import health
from kitcore.testing.process import free_port
from kitcore.transport import http, http_admin
from kitcore.transport.grpc_health import add_grpc_health

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def readiness():
    return health.Readiness()


@pytest.fixture
def server(serve, readiness):
    app = http.new_app("probe")
    http_admin.health_routes(app, readiness)
    return serve(app)


def test_healthz_answers_while_serving_even_when_not_ready(server):
    response = requests.get(server.url + "/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_follows_the_flag_and_draining(server, readiness):
    not_ready = requests.get(server.url + "/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["error"] == {"code": "unavailable", "message": "not ready"}
    readiness.set_ready()
    assert requests.get(server.url + "/readyz").status_code == 200
    readiness.drain()
    draining = requests.get(server.url + "/readyz")
    assert draining.status_code == 503
    assert draining.json()["error"]["message"] == "draining"
    readiness.set_ready()  # draining is for good
    assert requests.get(server.url + "/readyz").status_code == 503


def test_readyz_runs_checks(server, readiness):
    state = {"db": True}

    def ping_db() -> None:
        if not state["db"]:
            raise ConnectionError("connection refused")

    readiness.set_ready()
    readiness.add_check("db", ping_db)
    readiness.add_check("cache", lambda: True)
    assert requests.get(server.url + "/readyz").status_code == 200
    state["db"] = False
    response = requests.get(server.url + "/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "check db failed: connection refused"
    readiness.add_check("cache", lambda: False)
    state["db"] = True
    assert requests.get(server.url + "/readyz").json()["error"]["message"] == (
        "check cache failed"
    )


def test_listeners_see_changes_only(readiness):
    seen = []
    readiness.subscribe(seen.append)
    readiness.set_ready()
    readiness.set_ready()
    readiness.set_ready(False)
    readiness.set_ready()
    readiness.drain()
    assert seen == [True, False, True, False]


def test_readiness_is_thread_safe(readiness):
    seen = []
    readiness.subscribe(seen.append)
    threads = [
        threading.Thread(target=readiness.set_ready, args=(i % 2 == 0,)) for i in range(50)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen[-1] == readiness.ready
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False))


def test_grpc_health_follows_readiness(readiness):
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_grpc_health(server, readiness, ["kitcore.book.v1.BookService"])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)

    def status(service: str) -> int:
        request = health_pb2.HealthCheckRequest(service=service)
        return stub.Check(request, timeout=2).status

    try:
        assert status("") == NOT_SERVING
        readiness.set_ready()
        assert status("") == SERVING
        assert status("kitcore.book.v1.BookService") == SERVING
        readiness.drain()
        assert status("kitcore.book.v1.BookService") == NOT_SERVING
        with pytest.raises(grpc.RpcError) as caught:
            status("no.such.Service")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        channel.close()
        server.stop(0)


def test_grpc_health_runs_the_checks_and_says_not_serving_while_the_database_is_down(readiness):
    from kitcore.sql import DatabaseUnavailable

    database = {"up": True}

    def ping() -> None:
        if not database["up"]:
            raise DatabaseUnavailable("book's database is unavailable (OperationalError)")

    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_grpc_health(server, readiness)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)
    readiness.set_ready()
    readiness.add_check("database", ping)
    try:
        assert stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == SERVING
        database["up"] = False
        assert stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == NOT_SERVING
        assert readiness.problem() == (
            "check database failed: book's database is unavailable (OperationalError)")
        database["up"] = True
        assert stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == SERVING
    finally:
        channel.close()
        server.stop(0)

