"""The store against SQLite and a real PostgreSQL: persistence, unique emails, racing writes."""

from __future__ import annotations

import threading
import uuid

from user.service import User
from user.store import UserStore

from kitcore.sql import connect

ADA = User("11111111-1111-4111-8111-111111111111", "Ada", "ada@example.org")
BOOK = "00000000-0000-4000-8000-00000000b001"


def _open(url: str) -> UserStore:
    store = UserStore(connect(url))
    store.create_schema()
    return store


def test_accounts_and_shelves_survive_a_restart(database_url: str) -> None:
    store = _open(database_url)
    assert store.add(ADA, "scrypt:hash")
    store.add_to_shelf(ADA.id, BOOK)
    store.engine.dispose()  # the old process is gone

    again = _open(database_url)
    assert again.get(ADA.id) == ADA
    assert again.find_by_email(ADA.email) == (ADA, "scrypt:hash")
    assert again.shelf(ADA.id) == [BOOK]
    again.engine.dispose()


def test_the_database_keeps_emails_unique_under_racing_sign_ups(database_url: str) -> None:
    store = _open(database_url)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def sign_up() -> None:
        barrier.wait()
        results.append(store.add(User(str(uuid.uuid4()), "Ada", ADA.email), "h"))

    threads = [threading.Thread(target=sign_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    store.engine.dispose()


def test_racing_adds_of_one_book_leave_it_once_on_the_shelf(database_url: str) -> None:
    store = _open(database_url)
    store.add(ADA, "h")
    barrier = threading.Barrier(4)

    def add() -> None:
        barrier.wait()
        store.add_to_shelf(ADA.id, BOOK)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.shelf(ADA.id) == [BOOK]
    store.engine.dispose()


def test_unknown_user_has_no_shelf_and_gets_no_book(database_url: str) -> None:
    store = _open(database_url)
    assert store.shelf(ADA.id) is None
    assert store.add_to_shelf(ADA.id, BOOK) is None
    assert store.shelf(ADA.id) is None
    store.engine.dispose()

