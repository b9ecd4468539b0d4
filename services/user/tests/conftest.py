"""Fixtures for the user tests: accounts over SQLite in memory, and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from user.__main__ import build
from user.service import Accounts
from user.store import UserStore

from kitcore.app import App
from kitcore.auth import JWTIssuer, JWTVerifier
from kitcore.config import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER
from kitcore.sql import connect
from kitcore.testing.config import local_config
from kitcore.testing.fixtures import database_url, postgres  # noqa: F401 (fixtures)

SECRET = "test-secret-for-signing-tokens-32b"


@pytest.fixture
def issuer() -> JWTIssuer:
    """Signs tokens the way main configures it."""
    return JWTIssuer(SECRET, "HS256", issuer=DEFAULT_JWT_ISSUER, audience=DEFAULT_JWT_AUDIENCE,
                     ttl=600)


@pytest.fixture
def verifier() -> JWTVerifier:
    """Checks tokens the way the gateway does."""
    return JWTVerifier(secret=SECRET, issuer=DEFAULT_JWT_ISSUER, audience=DEFAULT_JWT_AUDIENCE)


@pytest.fixture
def store() -> Iterator[UserStore]:
    """An empty store in memory."""
    store = UserStore(connect("sqlite://"))
    store.create_schema()
    yield store
    store.engine.dispose()


@pytest.fixture
def accounts(store: UserStore, issuer: JWTIssuer) -> Accounts:
    """The service over an empty store."""
    return Accounts(store, issuer)


@pytest.fixture
def served(store: UserStore) -> Iterator[App]:
    """The service as main wires it (``build``) over ``store``, on free ports."""
    config = local_config("user", {"KIT_INSTANCE_ID": "user-test", "KIT_JWT_SECRET": SECRET})
    app = build(config, store).start()
    yield app
    app.stop()
