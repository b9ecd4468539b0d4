"""Data for the stack benchmark: users with tokens and shelves, through the public API.

:func:`seed` signs up ``users`` accounts, logs each in, creates a few books
and puts them on every shelf, all through the gateway, as a client would.
The result is kept in a JSON file and reused while its tokens still work, so
a second run does not sign up everyone again. Public calls are rate-limited
per client address: a 429 is waited out (``Retry-After``) and retried, as
are 502/503/504 (a busy machine makes the password hashing slow).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

PASSWORD = "bench-password-1"


@dataclass(frozen=True)
class Account:
    """One benchmark user: id and bearer token."""

    user_id: str
    token: str


@dataclass(frozen=True)
class Seed:
    """The accounts (each with the same shelf) and the books on the shelves."""

    accounts: list[Account]
    book_ids: list[str]


def seed(api: str, users: int, books: int, cache: Path) -> Seed:
    """Accounts and books for the benchmark, from ``cache`` if it still works."""
    cached = _load(cache)
    session = requests.Session()
    if cached and len(cached.accounts) >= users and _works(session, api, cached):
        return cached
    run = uuid.uuid4().hex[:8]
    owner = _account(session, api, f"bench-{run}-owner@bench.example")
    book_ids = [_create_book(session, api, owner, f"Bench book {run} {i}") for i in range(books)]
    accounts = [_account(session, api, f"bench-{run}-{i}@bench.example") for i in range(users)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda account: _fill_shelf(api, account, book_ids), accounts))
    result = Seed(accounts, book_ids)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"accounts": [asdict(a) for a in accounts],
                                 "book_ids": book_ids}, indent=1))
    return result


def _load(cache: Path) -> Seed | None:
    if not cache.exists():
        return None
    raw = json.loads(cache.read_text())
    return Seed([Account(**a) for a in raw["accounts"]], raw["book_ids"])


def _works(session: requests.Session, api: str, cached: Seed) -> bool:
    """True when the first and last tokens still read their shelves with every book."""
    for account in (cached.accounts[0], cached.accounts[-1]):
        response = _call(session, "GET", f"{api}/api/v1/users/{account.user_id}/shelf",
                         token=account.token, check=False)
        if response.status_code != 200 or len(response.json()["books"]) != len(cached.book_ids):
            return False
    return True


def _account(session: requests.Session, api: str, email: str) -> Account:
    """Sign up (a retried sign-up that already went through answers 409: fine) and log in."""
    body = {"name": "Bench User", "email": email, "password": PASSWORD}
    signed_up = _call(session, "POST", f"{api}/api/v1/users", json=body, check=False)
    if signed_up.status_code not in (201, 409):
        signed_up.raise_for_status()
    login = {"email": email, "password": PASSWORD}
    token = _call(session, "POST", f"{api}/api/v1/auth/login", json=login).json()["access_token"]
    return Account(_subject(token), token)


def _subject(token: str) -> str:
    """The ``sub`` claim (the user id) of a JWT, read without verifying it."""
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def _create_book(session: requests.Session, api: str, owner: Account, title: str) -> str:
    body = {"title": title, "author": "Bench Author", "year": 2000, "stock": 10}
    response = _call(session, "POST", f"{api}/api/v1/books", json=body, token=owner.token)
    return str(response.json()["book"]["id"])


def _fill_shelf(api: str, account: Account, book_ids: list[str]) -> None:
    with requests.Session() as session:
        for book_id in book_ids:
            _call(session, "POST", f"{api}/api/v1/users/{account.user_id}/shelf",
                  json={"book_id": book_id}, token=account.token)


def _call(session: requests.Session, method: str, url: str, *, token: str = "",
          json: Any = None, check: bool = True) -> requests.Response:
    """One call, waiting out 429s and retrying 502/503/504s for up to two minutes."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + 120
    while True:
        response = session.request(method, url, json=json, headers=headers, timeout=10)
        if response.status_code not in (429, 502, 503, 504) or time.monotonic() > deadline:
            break
        time.sleep(float(response.headers.get("Retry-After") or 0.5) or 0.2)
    if check:
        response.raise_for_status()
    return response
