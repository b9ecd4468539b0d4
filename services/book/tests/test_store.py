"""The store against SQLite and a real PostgreSQL: persistence, the stock guard, seeding races."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa
from book.service import Book
from book.store import DEMO_BOOKS, BookStore

from kitcore.sql import connect

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


def test_replicas_seeding_at_once_insert_each_demo_book_once(postgres) -> None:
    url = postgres.create_database(f"seed_{uuid.uuid4().hex[:12]}")
    _open(url).engine.dispose()  # the table exists; kitcore.sql's tests cover creating it
    replicas = [BookStore(connect(url)) for _ in range(3)]
    errors: list[Exception] = []
    barrier = threading.Barrier(len(replicas))

    def seed(store: BookStore) -> None:
        barrier.wait()
        try:
            store.seed()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=seed, args=(store,)) for store in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(replicas[0].page("", offset=0, limit=100)) == len(DEMO_BOOKS)
    for store in replicas:
        store.engine.dispose()
