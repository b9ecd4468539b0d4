"""`python -m user` as a real process: runs alone, and accounts and shelves survive a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from kitcore.auth import JWTVerifier
from kitcore.config import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER
from kitcore.testing.service_process import ServiceProcess

ROOT = Path(__file__).resolve().parents[3]
SECRET = "main-test-secret-at-least-32-bytes!"
ADA = {"name": "Ada", "email": "ada@example.org", "password": "correct horse battery"}
BOOK = "00000000-0000-4000-8000-00000000b001"


def _user(database_url: str, workdir: Path) -> ServiceProcess:
    """``python -m user`` on free ports, in ``workdir``, with ``DATABASE_URL`` (may be empty)."""
    settings = {"KIT_INSTANCE_ID": "user-main-test", "KIT_JWT_SECRET": SECRET,
                "DATABASE_URL": database_url}
    return ServiceProcess("user", ROOT, workdir=workdir, env=settings)


@pytest.fixture
def process(database_url: str, tmp_path: Path):
    server = _user(database_url, tmp_path)
    yield server
    server.close()


def test_accounts_and_shelves_survive_a_restart(process: ServiceProcess, database_url: str) -> None:
    process.start()
    assert requests.get(f"{process.url}/readyz", timeout=5).status_code == 200
    user = requests.post(f"{process.url}/users", json=ADA, timeout=5).json()["user"]
    requests.post(f"{process.url}/users/{user['id']}/shelf", json={"book_id": BOOK}, timeout=5)
    process.stop()

    process.start()
    assert requests.get(f"{process.url}/users/{user['id']}", timeout=5).json()["user"] == user
    shelf = requests.get(f"{process.url}/users/{user['id']}/shelf", timeout=5).json()
    assert shelf["book_ids"] == [BOOK]
    login = requests.post(f"{process.url}/login", timeout=5,
                          json={"email": ADA["email"], "password": ADA["password"]}).json()
    verifier = JWTVerifier(secret=SECRET, issuer=DEFAULT_JWT_ISSUER, audience=DEFAULT_JWT_AUDIENCE)
    claims = verifier.verify(login["access_token"])
    assert claims["sub"] == user["id"] and login["expires_in"] == 3600
    process.stop()

    engine = sa.create_engine(database_url)  # no column anywhere holds the password in clear
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM users")).all()
    engine.dispose()
    assert rows and all(ADA["password"] not in str(value) for row in rows for value in row)


def test_runs_alone_with_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    server = _user("", tmp_path)
    try:
        server.start()
        assert requests.post(f"{server.url}/users", json=ADA, timeout=5).status_code == 201
        assert (tmp_path / "user.db").exists()
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        server.close()
