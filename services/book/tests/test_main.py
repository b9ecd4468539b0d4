"""`python -m book` as a real process: runs alone, turns its knobs, keeps writes over a restart."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import requests
from book.store import DEMO_BOOKS

from kitcore.testing.otlp import OTLPCollector
from kitcore.testing.service_process import ServiceProcess
from protos import book_pb2, book_pb2_grpc

ROOT = Path(__file__).resolve().parents[3]


def _book(database_url: str, workdir: Path, **env: str) -> ServiceProcess:
    """``python -m book`` on free ports, in ``workdir``, with ``DATABASE_URL`` (may be empty)."""
    settings = {"KIT_INSTANCE_ID": "book-main-test", "DATABASE_URL": database_url, **env}
    return ServiceProcess("book", ROOT, workdir=workdir, env=settings)


@pytest.fixture
def process(database_url: str, tmp_path: Path):
    server = _book(database_url, tmp_path)
    yield server
    server.close()


def test_writes_survive_a_restart(process: ServiceProcess) -> None:
    process.start()
    assert requests.get(f"{process.url}/readyz", timeout=5).status_code == 200
    seeded = requests.get(f"{process.url}/books?page_size=100", timeout=5).json()["items"]
    assert len(seeded) == len(DEMO_BOOKS)
    created = requests.post(f"{process.url}/books", timeout=5, json={
        "title": "Dune", "author": "Frank Herbert", "year": 1965, "stock": 3}).json()["book"]
    requests.patch(f"{process.url}/books/{created['id']}/stock", json={"delta": -1}, timeout=5)
    with grpc.insecure_channel(process.grpc_address) as channel:
        stub = book_pb2_grpc.BookServiceStub(channel)
        via_grpc = stub.CreateBook(book_pb2.CreateBookRequest(
            title="Kindred", author="Octavia E. Butler", year=1979, stock=1), timeout=5).book
    process.stop()

    process.start()
    got = requests.get(f"{process.url}/books/{created['id']}", timeout=5)
    assert got.json()["book"] == {**created, "stock": 2}
    assert got.headers["X-Served-By"] == "book-main-test"
    again = requests.get(f"{process.url}/books/{via_grpc.id}", timeout=5).json()["book"]
    assert again["title"] == "Kindred"
    everything = requests.get(f"{process.url}/books?page_size=100", timeout=5).json()["items"]
    assert len(everything) == len(DEMO_BOOKS) + 2  # seeding did not run twice


def test_runs_alone_with_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    server = _book("", tmp_path)
    try:
        server.start()
        book = requests.get(f"{server.url}/books/{DEMO_BOOKS[0].id}", timeout=5).json()["book"]
        assert book["title"] == DEMO_BOOKS[0].title
        assert (tmp_path / "book.db").exists()
        metrics = requests.get(f"{server.url}/metrics", timeout=5).text
        assert 'kit_requests_total{endpoint="get_book",outcome="ok",service="book"}' in metrics
        assert requests.get(f"{server.url}/admin/faults", timeout=5).status_code == 401
    finally:
        server.close()


def test_the_fault_knobs_turn_at_the_admin_route(tmp_path: Path) -> None:
    server = _book("", tmp_path, KIT_ADMIN_PASSWORD="knob-secret")
    try:
        server.start()
        admin = f"{server.url}/admin/faults"
        wrong = requests.put(admin, json={"error_rate": 1.0}, auth=("admin", "nope"), timeout=5)
        assert wrong.status_code == 401
        turned = requests.put(admin, json={"error_rate": 1.0}, auth=("admin", "knob-secret"),
                              timeout=5)
        assert turned.json()["error_rate"] == 1.0
        failed = requests.get(f"{server.url}/books", timeout=5)
        assert failed.status_code == 503 and failed.headers["X-Served-By"] == "book-main-test"
        requests.put(admin, json={"error_rate": 0}, auth=("admin", "knob-secret"), timeout=5)
        assert requests.get(f"{server.url}/books", timeout=5).status_code == 200
    finally:
        server.close()


def test_with_an_otlp_endpoint_it_traces_both_transports(tmp_path: Path) -> None:
    with OTLPCollector() as collector:
        server = _book("", tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url)
        try:
            server.start()
            response = requests.get(f"{server.url}/books/{DEMO_BOOKS[0].id}", timeout=5)
            assert len(response.headers["X-Trace-Id"]) == 32
            with grpc.insecure_channel(server.grpc_address) as channel:
                stub = book_pb2_grpc.BookServiceStub(channel)
                stub.GetBook(book_pb2.GetBookRequest(id=DEMO_BOOKS[0].id), timeout=5)
            server.stop()  # spans still batched are flushed on exit
        finally:
            server.close()
        served = {span.name for span in collector.spans
                  if span.service == "book" and span.kind == "server"}
    assert {"GET /books/<book_id>", "/kitcore.book.v1.BookService/GetBook"} <= served, served


def test_not_ready_while_the_database_is_away(postgres, tmp_path: Path) -> None:
    url = postgres.create_database("book_readyz")
    server = _book(url, tmp_path)
    try:
        server.start()
        assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
        postgres.stop()
        away = requests.get(f"{server.url}/readyz", timeout=10)
        assert away.status_code == 503 and "database" in away.json()["error"]["message"]
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200  # alive
    finally:
        postgres.start()
    try:
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
    finally:
        server.close()
