"""kitcore.testing.postgres: a real PostgreSQL in a temp dir, also when the tests run as root."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from kitcore.testing.postgres import PostgresServer, postgres_binary

try:
    postgres_binary("postgres")
except FileNotFoundError:
    pytest.skip("PostgreSQL server binaries not installed (make system-deps)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with PostgresServer() as pg:
        yield pg


def _query(url: str, sql: str) -> object:
    """Run ``sql``; the first column of its first row, if it returns rows."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def test_serves_queries_on_its_port_with_its_socket_in_the_temp_dir(
    server: PostgresServer,
) -> None:
    assert _query(server.url(), "SELECT 1") == 1
    assert _query(server.url(), "SHOW unix_socket_directories") == str(server.data_dir)


def test_never_runs_as_root(server: PostgresServer) -> None:
    assert server._proc is not None
    owner = os.stat(f"/proc/{server._proc.pid}").st_uid
    assert owner == os.geteuid() if os.geteuid() != 0 else owner != 0


def test_data_survives_a_stop_and_a_crash_but_not_close() -> None:
    pg = PostgresServer().start()
    try:
        url = pg.create_database("keep")
        _query(url, "CREATE TABLE t AS SELECT 7 AS n")
        pg.stop()
        pg.start()
        assert _query(url, "SELECT n FROM t") == 7
        pg.kill()
        pg.start()
        assert _query(url, "SELECT n FROM t") == 7
    finally:
        pg.close()
    assert not pg.data_dir.exists()
