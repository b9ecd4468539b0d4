"""Persistence: data acknowledged through the gateway survives restarts of the
services that own it (both book replicas, user) and of PostgreSQL itself.
"""

from __future__ import annotations

from typing import Any

import pytest
from integration.api import User
from integration.polling import eventually
from integration.stack import BOOK_REPLICAS, USER_REPLICAS, Stack

DB_RECOVERY_WAIT = 60.0
"""Seconds for PostgreSQL to restart and the services to reconnect."""


def _book_everywhere(stack: Stack, user: User, book_id: str) -> dict[str, Any]:
    """The book as each replica returns it (read until both replicas answered)."""
    seen: dict[str, dict[str, Any]] = {}

    def both() -> None:
        reply = stack.api.get(f"/api/v1/books/{book_id}", headers=user.auth)
        assert reply.status_code == 200, reply.text
        seen[reply.headers["X-Served-By"]] = reply.json()["book"]
        assert set(BOOK_REPLICAS) <= set(seen), f"answered so far: {sorted(seen)}"

    eventually(both, timeout=15, interval=0)
    first, second = (seen[replica] for replica in BOOK_REPLICAS)
    assert first == second, f"replicas disagree: {seen}"
    return first


def _user_intact(stack: Stack, user: User, book_id: str) -> None:
    token = stack.api.login(user.email, user.password)
    auth = {"Authorization": f"Bearer {token}"}
    reply = stack.api.get(f"/api/v1/users/{user.id}", headers=auth)
    assert reply.status_code == 200, reply.text
    assert reply.json()["user"] == {"id": user.id, "name": "Keeper", "email": user.email}
    shelf = stack.api.get(f"/api/v1/users/{user.id}/shelf", headers=auth)
    assert shelf.status_code == 200, shelf.text
    assert shelf.json()["book_ids"] == [book_id], shelf.text


@pytest.mark.disruptive
def test_books_and_users_survive_restarts(restore_stack: Stack) -> None:
    """A created book (with a stock change) and a user with a shelf are all still there
    after restarting book-1, book-2, user, then PostgreSQL."""
    stack = restore_stack
    user = stack.api.new_user("Keeper")
    created = stack.api.create_book(user, title="Kept", author="Archivist", year=1851, stock=7)
    changed = stack.api.request("PATCH", f"/api/v1/books/{created['id']}/stock",
                                json={"delta": 3}, headers=user.auth)
    assert changed.status_code == 200 and changed.json()["book"]["stock"] == 10, changed.text
    shelved = stack.api.post(f"/api/v1/users/{user.id}/shelf", json={"book_id": created["id"]},
                             headers=user.auth)
    assert shelved.status_code == 200, shelved.text
    expected = {**created, "stock": 10}

    stack.compose.restart(*BOOK_REPLICAS, *USER_REPLICAS)
    stack.wait_registered(timeout=60)
    stack.wait_serving(timeout=60)
    assert _book_everywhere(stack, user, created["id"]) == expected
    _user_intact(stack, user, created["id"])

    stack.compose.restart("postgres")

    def all_back() -> None:
        assert _book_everywhere(stack, user, created["id"]) == expected
        _user_intact(stack, user, created["id"])

    eventually(all_back, timeout=DB_RECOVERY_WAIT, interval=1.0)
    later = stack.api.create_book(user, title="Written after the database restart")
    assert _book_everywhere(stack, user, later["id"])["title"] == later["title"]
