"""The store against SQLite and a real PostgreSQL: persistence, the stock guard, start-up races."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa
from book.service import Book
from book.store import DEMO_BOOKS, BookStore, connect

NEW = Book("11111111-1111-4111-8111-111111111111", "Dune", "Frank Herbert", 1965, 3)


def _open(url: str) -> BookStore:
    store = BookStore(connect(url))
    store.create_schema()
    store.seed()
    return store


def test_a_write_survives_a_restart(database_url: str) -> None:
    store = _open(database_url)
    store.add(NEW)
    store.change_stock(NEW.id, -1)
    store.engine.dispose()  # the old process is gone

    again = _open(database_url)
    assert again.get(NEW.id) == replace(NEW, stock=2)
    again.engine.dispose()


def test_seeding_is_idempotent_and_never_resets_a_demo_book(database_url: str) -> None:
    store = _open(database_url)
    first = DEMO_BOOKS[0]
    store.change_stock(first.id, 10)
    store.seed()
    store.create_schema()
    assert store.get(first.id).stock == first.stock + 10
    assert len(store.page("", offset=0, limit=100)) == len(DEMO_BOOKS)
    store.engine.dispose()


def test_stock_guard_holds_under_concurrent_takes(database_url: str) -> None:
    store = _open(database_url)
    store.add(replace(NEW, stock=5))
    results: list[Book | None] = []

    def take_one() -> None:
        results.append(store.change_stock(NEW.id, -1))

    threads = [threading.Thread(target=take_one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result is not None for result in results) == 5
    assert store.get(NEW.id).stock == 0
    store.engine.dispose()


def test_change_stock_reports_nothing_changed_for_unknown_id_or_short_stock(
    database_url: str,
) -> None:
    store = _open(database_url)
    store.add(NEW)
    assert store.change_stock("22222222-2222-4222-8222-222222222222", 1) is None
    assert store.change_stock(NEW.id, -4) is None
    assert store.get(NEW.id).stock == 3
    store.engine.dispose()


def test_the_database_itself_refuses_a_negative_stock(database_url: str) -> None:
    store = _open(database_url)
    store.add(NEW)
    statement = sa.text("UPDATE books SET stock = -1 WHERE id = :id")
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(statement, {"id": NEW.id})
    assert store.get(NEW.id).stock == 3
    store.engine.dispose()


def _start_replicas_at_once(url: str, count: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def start_replica() -> None:
        barrier.wait()
        try:
            _open(url).engine.dispose()
        except Exception as exc:
            errors.append(exc)

    replicas = [threading.Thread(target=start_replica) for _ in range(count)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join()
    return errors


def test_replicas_starting_at_once_on_one_database_all_come_up(postgres) -> None:
    for attempt in range(3):
        url = postgres.create_database(f"race_{uuid.uuid4().hex[:12]}")
        assert _start_replicas_at_once(url, 3) == [], f"attempt {attempt}"
        check = BookStore(connect(url))
        assert len(check.page("", offset=0, limit=100)) == len(DEMO_BOOKS)
        check.engine.dispose()
