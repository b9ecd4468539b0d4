"""kitcore.http_servers: what a service relies on from its HTTP server, on each server.

A server swap could lose any of these without a route test noticing: the body
limit (413, with a length or chunked), 400 on a request that does not parse,
the thread count as the requests run at once, a stop that refuses new
connections at once, answers the requests in flight, closes idle keep-alive
connections and reports whether it drained in time, and a request environ
free of the process's own settings.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import flask
import pytest
import requests
from stop_helpers import in_background, refused

from kitcore.http_servers import HTTPServer, new_http_server
from kitcore.testing.process import free_port
from kitcore.transport.http import new_app

MAX_BODY = 1024


class _Served:
    """One server on a free port, with the app's count of requests running at once."""

    def __init__(self, kind: str, threads: int = 4) -> None:
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()
        self.port = free_port()
        self.server: HTTPServer = new_http_server(kind, self._app(), "127.0.0.1", self.port,
                                                  threads)
        self.server.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _app(self) -> flask.Flask:
        app = new_app("servers", max_body_bytes=MAX_BODY)

        @app.get("/sleep/<int:ms>")
        def sleep(ms: int) -> dict:
            with self._lock:
                self.running += 1
                self.most_running = max(self.most_running, self.running)
            time.sleep(ms / 1000)
            with self._lock:
                self.running -= 1
            return {"slept_ms": ms}

        @app.post("/echo")
        def echo() -> dict:
            return {"bytes": len(flask.request.get_data())}

        @app.get("/environ")
        def environ() -> dict:
            return {"headers": sorted(flask.request.headers.keys()),
                    "keys": sorted(flask.request.environ)}

        return app

    def stop(self, grace: float = 5.0) -> bool:
        self.server.stop_accepting()
        drained = self.server.drain(time.monotonic() + grace)
        self.server.close(0.5)
        return drained


@pytest.fixture
def served(http_server: str) -> Iterator[_Served]:
    running = _Served(http_server)
    yield running
    running.stop(grace=1.0)



def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        return _read_all(conn)


def _read_all(conn: socket.socket) -> bytes:
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def _read_one(conn: socket.socket) -> bytes:
    """One JSON answer on a kept-alive connection (its body ends the read)."""
    received = b""
    while not received.endswith(b"}\n"):
        received += conn.recv(65536)
    return received



# --- requests ---------------------------------------------------------------------------


def test_a_body_up_to_the_limit_is_read_whole(served):
    response = requests.post(served.url + "/echo", data=b"x" * MAX_BODY, timeout=5)
    assert response.json() == {"bytes": MAX_BODY}


def test_a_body_over_the_limit_is_413(served):
    response = requests.post(served.url + "/echo", data=b"x" * (MAX_BODY + 1), timeout=5)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_chunked_body_over_the_limit_is_413(served):
    chunks = (b"x" * 512 for _ in range(4))  # a generator: sent chunked, with no length
    response = requests.post(served.url + "/echo", data=chunks, timeout=5)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_request_that_does_not_parse_is_400(served):
    answer = _raw(served.port, b"NOT A REQUEST\r\n\r\n")
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400"


def test_a_doubled_slash_reaches_the_app_as_written(served):
    answer = _raw(served.port, b"GET //sleep/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404")
    assert b"no route for //sleep/1" in answer


def test_threads_are_the_requests_run_at_once(http_server):
    served = _Served(http_server, threads=2)
    try:
        results: dict = {}
        calls = [
            in_background(lambda: requests.get(served.url + "/sleep/300", timeout=10),
                           results, str(n))
            for n in range(4)
        ]
        for call in calls:
            call.join(10)
        assert all(results[str(n)].status_code == 200 for n in range(4))
        assert served.most_running == 2
    finally:
        served.stop()


def test_the_process_environment_is_not_in_the_request(http_server, monkeypatch):
    monkeypatch.setenv("HTTP_X_FROM_ENV", "not-a-header")
    monkeypatch.setenv("KIT_TEST_SECRET", "s3cret")
    served = _Served(http_server)
    try:
        seen = requests.get(served.url + "/environ", headers={"X-Sent": "1"}, timeout=5).json()
        assert "X-Sent" in seen["headers"]
        assert "X-From-Env" not in seen["headers"]
        assert "KIT_TEST_SECRET" not in seen["keys"]
        assert "PATH" not in seen["keys"]
    finally:
        served.stop()


# --- stop -------------------------------------------------------------------------------


def test_stop_refuses_new_connections_and_answers_those_in_flight(served):
    results: dict = {}
    slow = in_background(lambda: requests.get(served.url + "/sleep/800", timeout=10),
                          results, "slow")
    time.sleep(0.3)  # in flight now
    served.server.stop_accepting()
    assert refused(served.port)
    with pytest.raises(requests.ConnectionError):
        requests.get(served.url + "/sleep/1", timeout=2)
    assert slow.is_alive()
    assert served.server.drain(time.monotonic() + 5) is True
    slow.join(5)
    assert results["slow"].status_code == 200
    assert results["slow"].json() == {"slept_ms": 800}


def test_stop_closes_idle_keep_alive_connections(served):
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as conn:
        conn.sendall(b"GET /sleep/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_one(conn).startswith(b"HTTP/1.1 200")  # kept open: no Connection: close
        served.server.stop_accepting()
        started = time.monotonic()
        assert served.server.drain(time.monotonic() + 5) is True
        assert time.monotonic() - started < 2
        assert _read_all(conn) == b""  # closed by the server


def test_a_kept_alive_connection_in_flight_is_answered_then_closed(served):
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as conn:
        conn.sendall(b"GET /sleep/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_one(conn).startswith(b"HTTP/1.1 200")
        conn.sendall(b"GET /sleep/600 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        served.server.stop_accepting()
        results: dict = {}
        draining = in_background(lambda: served.server.drain(time.monotonic() + 5),
                                  results, "drained")
        answer = _read_all(conn)
        assert answer.startswith(b"HTTP/1.1 200")
        assert answer.endswith(b'{"slept_ms":600}\n')
    draining.join(6)
    assert results["drained"] is True


def test_drain_says_false_when_a_request_outlives_the_deadline(served):
    results: dict = {}
    slow = in_background(lambda: requests.get(served.url + "/sleep/1500", timeout=10),
                          results, "slow")
    time.sleep(0.3)
    served.server.stop_accepting()
    started = time.monotonic()
    assert served.server.drain(time.monotonic() + 0.3) is False
    assert time.monotonic() - started < 1.0
    slow.join(5)


def test_a_port_already_taken_fails_start_with_oserror(http_server):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):  # waitress binds when made, granian when started
            new_http_server(http_server, new_app("servers"), "127.0.0.1", port, 2).start()


def test_granian_start_returns_once_its_worker_answers():
    """The listening socket exists before granian's worker runs; a request sent
    in between waits in the backlog (on a busy machine, for seconds), so start
    waits for an answer, not for a connection."""
    server = new_http_server("granian", new_app("servers"), "127.0.0.1", free_port(), 2)
    spawn = server._server._spawn_wsgi_worker

    def slow_spawn(*args, **kwargs):
        time.sleep(1.0)  # a worker that takes a second to start
        return spawn(*args, **kwargs)

    server._server._spawn_wsgi_worker = slow_spawn
    started = time.monotonic()
    server.start()
    try:
        assert time.monotonic() - started >= 1.0
        assert _raw(server._port, b"GET /nowhere HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 404")
    finally:
        server.stop_accepting()
        server.drain(time.monotonic() + 2)


def test_granian_starts_every_blocking_thread_before_it_serves():
    """granian starts a blocking thread only as a request is queued, and can miss
    the moment (a request then waits behind a long one); kitcore starts them all
    at start, so the process has every one of them before the first request."""
    before = len(os.listdir("/proc/self/task"))
    server = new_http_server("granian", new_app("servers"), "127.0.0.1", free_port(), 8)
    server.start()
    try:
        assert len(os.listdir("/proc/self/task")) - before >= 8
        assert _raw(server._port, b"GET /.kitcore/warm-up HTTP/1.0\r\n\r\n").startswith(
            b"HTTP/1.0 404")  # the warm-up path is the app's again once started
    finally:
        server.stop_accepting()
        server.drain(time.monotonic() + 2)


def test_an_unknown_server_isrefused():
    with pytest.raises(ValueError, match="granian, waitress"):
        new_http_server("nginx", new_app("servers"), "127.0.0.1", free_port(), 2)
