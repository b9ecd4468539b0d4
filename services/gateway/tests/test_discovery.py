"""Backends found through etcd only: instances that come and go are followed."""

from __future__ import annotations

import time

import pytest
from gateway.tests.backends import start_book

FOLLOW = 10.0  # seconds for a registration change to reach the gateway (generous)


def _served_by(stack, book: str, calls: int) -> set[str]:
    replies = [stack.gateway.get(f"/api/v1/books/{book}") for _ in range(calls)]
    assert all(reply.status_code == 200 for reply in replies), [r.text for r in replies]
    return {reply.headers["X-Served-By"] for reply in replies}


def _eventually_served_by(stack, book: str, expected: set[str]) -> None:
    deadline = time.monotonic() + FOLLOW
    while _served_by(stack, book, 6) != expected:
        assert time.monotonic() < deadline, f"never served by exactly {expected}"
        time.sleep(0.2)


@pytest.mark.slow
def test_the_gateway_follows_the_instances_registered_in_etcd(start_stack, etcd):
    # The fixed addresses are ignored when etcd is set.
    stack = start_stack({"KIT_USER_ADDRS": "127.0.0.1:9", "KIT_BOOK_ADDRS": "127.0.0.1:9"},
                        etcd_address=etcd.address)
    deadline = time.monotonic() + FOLLOW
    while stack.gateway.get("/api/v1/books").status_code != 200:
        assert time.monotonic() < deadline, "book never discovered"
        time.sleep(0.2)
    user_id, auth = stack.sign_up()  # user found through etcd too
    me = stack.gateway.get(f"/api/v1/users/{user_id}", headers=auth)
    # Named by the id each instance registered (its KIT_INSTANCE_ID), as before.
    assert me.json()["served_by"] == me.headers["X-Served-By"] == "user-1"
    book = stack.create_book(auth)
    _eventually_served_by(stack, book, {"book-1", "book-2"})
    missing = stack.gateway.get("/api/v1/books/9b2e4f1c-7a3d-4e5b-9c8a-1d2e3f4a5b6c")
    assert missing.status_code == 404
    assert missing.headers["X-Served-By"] in {"book-1", "book-2"}  # its registered id

    stack.books[0].stop()  # deregisters
    _eventually_served_by(stack, book, {"book-2"})

    book_3 = start_book("book-3", stack.book_store, etcd.address)
    try:
        _eventually_served_by(stack, book, {"book-2", "book-3"})
    finally:
        book_3.stop()
