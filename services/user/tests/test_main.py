"""`python -m user` as a real process: runs alone, and accounts and shelves survive a restart."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from kitcore.auth import JWTVerifier
from kitcore.testing.process import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[3]
SECRET = "main-test-secret-at-least-32-bytes!"
ADA = {"name": "Ada", "email": "ada@example.org", "password": "correct horse battery"}
BOOK = "00000000-0000-4000-8000-00000000b001"


class UserProcess(ServerProcess):
    """`python -m user` on free ports, in ``workdir``, with ``DATABASE_URL`` (may be empty)."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        super().__init__()
        self.grpc_port = free_port()
        self.database_url = database_url
        self.workdir = workdir

    def argv(self) -> Sequence[str]:
        settings = {
            "PYTHONPATH": f"{ROOT / 'services'}:{ROOT / 'build' / 'gen'}",
            "KIT_HTTP_PORT": self.port,
            "KIT_GRPC_PORT": self.grpc_port,
            "KIT_INSTANCE_ID": "user-main-test",
            "KIT_ETCD_ENDPOINTS": "",
            "KIT_JWT_SECRET": SECRET,
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
            "DATABASE_URL": self.database_url,
        }
        env = [f"{name}={value}" for name, value in settings.items()]
        return ["env", f"--chdir={self.workdir}", *env, sys.executable, "-m", "user"]

    @property
    def url(self) -> str:
        return f"http://{self.address}"


@pytest.fixture
def process(database_url: str, tmp_path: Path):
    server = UserProcess(database_url, tmp_path)
    yield server
    server.close()


def test_accounts_and_shelves_survive_a_restart(process: UserProcess, database_url: str) -> None:
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
    verifier = JWTVerifier(secret=SECRET, issuer="kitcore-user", audience="kitcore")
    claims = verifier.verify(login["access_token"])
    assert claims["sub"] == user["id"] and login["expires_in"] == 3600
    process.stop()

    engine = sa.create_engine(database_url)  # no column anywhere holds the password in clear
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM users")).all()
    engine.dispose()
    assert rows and all(ADA["password"] not in str(value) for row in rows for value in row)


def test_runs_alone_with_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    server = UserProcess("", tmp_path)
    try:
        server.start()
        assert requests.post(f"{server.url}/users", json=ADA, timeout=5).status_code == 201
        assert (tmp_path / "user.db").exists()
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        server.close()
