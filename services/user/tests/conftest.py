"""Fixtures for the user tests: accounts over SQLite in memory, and a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from user.service import Accounts
from user.store import UserStore

from kitcore.auth import JWTIssuer, JWTVerifier
from kitcore.sql import connect
from kitcore.testing.postgres import PostgresServer, postgres_binary

SECRET = "test-secret-for-signing-tokens-32b"


@pytest.fixture
def issuer() -> JWTIssuer:
    """Signs tokens the way main configures it."""
    return JWTIssuer(SECRET, "HS256", issuer="kitcore-user", audience="kitcore", ttl=600)


@pytest.fixture
def verifier() -> JWTVerifier:
    """Checks tokens the way the gateway does."""
    return JWTVerifier(secret=SECRET, issuer="kitcore-user", audience="kitcore")


@pytest.fixture
def store() -> Iterator[UserStore]:
    """An empty store in memory."""
    store = UserStore(connect("sqlite://"))
    store.create_schema()
    yield store
    store.engine.dispose()


@pytest.fixture
def accounts(store: UserStore, issuer: JWTIssuer) -> Accounts:
    """The service over an empty store, answering as instance "user-test"."""
    return Accounts(store, issuer, "user-test")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run; skipped where PostgreSQL is not installed."""
    try:
        postgres_binary("postgres")
    except FileNotFoundError:
        pytest.skip("PostgreSQL server binaries not installed (make system-deps)")
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'user.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"user_{uuid.uuid4().hex[:12]}")
