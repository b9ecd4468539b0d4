"""kitcore.sql against SQLite (in memory and a file) and a real PostgreSQL.

The tables here stand for any service's: one with a CHECK constraint and a
functional index, one with a composite key, so creating the schema takes
several statements, as book's and user's do.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, ProgrammingError

from kitcore import errors, sql
from kitcore.sql import DatabaseUnavailable, Store, connect, map_error
from kitcore.testing.postgres import PostgresServer

metadata = sa.MetaData()

things = sa.Table(
    "things",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.CheckConstraint("count >= 0", name="things_count_not_negative"),
)
sa.Index("things_by_name", sa.func.lower(things.c.name))

links = sa.Table(
    "links",
    metadata,
    sa.Column("thing_id", sa.String(36), primary_key=True),
    sa.Column("other_id", sa.String(36), primary_key=True),
)


class ThingStore(Store):
    """A store as a service writes one: its tables, and a query or two."""

    schema = metadata

    def add(self, name: str, count: int = 0) -> str:
        thing_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(things.insert().values(id=thing_id, name=name, count=count))
        return thing_id

    def names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(things.c.name).order_by(things.c.name)).scalars())


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_create_schema_creates_every_table_and_keeps_rows_when_run_again(
    database_url: str,
) -> None:
    store = ThingStore(connect(database_url))
    store.create_schema()
    assert _tables(store.engine) == {"things", "links"}
    store.add("first")
    store.engine.dispose()  # the process is gone

    again = ThingStore(connect(database_url))
    again.create_schema()
    assert again.names() == ["first"]
    again.ping()
    again.engine.dispose()


def test_the_database_keeps_the_constraints_the_schema_declares(database_url: str) -> None:
    store = ThingStore(connect(database_url))
    store.create_schema()
    with pytest.raises(sa.exc.IntegrityError):
        store.add("negative", count=-1)
    assert store.names() == []
    store.engine.dispose()


def test_in_memory_sqlite_is_one_database_for_every_thread() -> None:
    store = ThingStore(connect("sqlite://"))
    store.create_schema()
    store.add("from the main thread")
    seen: list[list[str]] = []
    worker = threading.Thread(target=lambda: seen.append(store.names()))
    worker.start()
    worker.join()
    assert seen == [["from the main thread"]]
    store.engine.dispose()


def test_pooled_connections_survive_a_database_restart(postgres: PostgresServer) -> None:
    store = ThingStore(connect(postgres.create_database(f"restart_{uuid.uuid4().hex[:12]}")))
    store.create_schema()
    store.add("kept")  # its connection goes back to the pool, open
    postgres.stop()
    postgres.start()
    assert store.names() == ["kept"]  # the dead pooled connection was replaced, not used
    store.engine.dispose()


def _backend_pid(store: ThingStore) -> int:
    with store.reading() as conn:
        return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_the_server_ended_is_replaced_at_checkout(postgres: PostgresServer) -> None:
    url = postgres.create_database(f"ended_{uuid.uuid4().hex[:12]}")
    store, admin = ThingStore(connect(url)), ThingStore(connect(url))
    store.create_schema()
    store.add("kept")
    pooled = _backend_pid(store)
    with admin.reading() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pooled}).scalar()
    _wait_until_ended(admin, pooled)  # terminate only signals; the backend then closes its socket
    assert store.names() == ["kept"]  # not an error: the dead connection was left out
    assert _backend_pid(store) != pooled
    store.engine.dispose()
    admin.engine.dispose()


def _wait_until_ended(admin: ThingStore, pid: int, timeout: float = 20.0) -> None:
    """Wait until the server has ended backend ``pid`` (on a busy machine this takes a while)."""
    deadline = time.monotonic() + timeout
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
    while time.monotonic() < deadline:
        with admin.reading() as conn:
            if conn.execute(query, {"pid": pid}).scalar() == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"backend {pid} still running {timeout} s after pg_terminate_backend")


def test_a_live_connection_is_kept_and_one_idle_for_long_is_pinged_first(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ThingStore(connect(postgres.create_database(f"idle_{uuid.uuid4().hex[:12]}")))
    store.create_schema()
    pooled = _backend_pid(store)
    assert _backend_pid(store) == pooled  # a live connection is reused, not replaced
    monkeypatch.setattr(sql, "IDLE_PING", 0.0)
    assert _backend_pid(store) == pooled  # pinged, answered, reused
    store.engine.dispose()


def test_reads_run_outside_a_transaction_and_writes_inside_one(postgres: PostgresServer) -> None:
    store = ThingStore(connect(postgres.create_database(f"tx_{uuid.uuid4().hex[:12]}")))
    store.create_schema()
    with store.reading() as conn:
        conn.execute(sa.select(things.c.name))
        assert conn.connection.dbapi_connection.autocommit is True
    with store.engine.begin() as conn:
        conn.execute(sa.select(things.c.name))
        assert conn.in_transaction()
        assert conn.connection.dbapi_connection.autocommit is False
    store.engine.dispose()


def test_replicas_creating_the_schema_at_once_all_come_up(postgres: PostgresServer) -> None:
    """Every replica checks, finds no table, and only then CREATEs: all but one collide."""
    url = postgres.create_database(f"race_{uuid.uuid4().hex[:12]}")
    replicas = [ThingStore(connect(url)) for _ in range(3)]
    checked = threading.Barrier(len(replicas), timeout=30)
    collisions: list[BaseException] = []
    errors: list[BaseException] = []

    def after_the_check(target: sa.MetaData, connection: sa.Connection, **kw: object) -> None:
        if kw["tables"]:  # the tables this replica found missing and will create now
            checked.wait()

    def on_error(context: sa.engine.ExceptionContext) -> None:
        collisions.append(context.original_exception)

    for replica in replicas:
        sa.event.listen(replica.engine, "handle_error", on_error)

    def start(replica: ThingStore) -> None:
        try:
            replica.create_schema()
        except BaseException as exc:
            errors.append(exc)

    sa.event.listen(metadata, "before_create", after_the_check)
    try:
        threads = [threading.Thread(target=start, args=(replica,)) for replica in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sa.event.remove(metadata, "before_create", after_the_check)
    assert errors == []
    assert len(collisions) == len(replicas) - 1  # the race really happened, and was survived
    assert _tables(replicas[0].engine) == {"things", "links"}
    for replica in replicas:
        replica.engine.dispose()


def test_ping_and_wait_until_up_follow_the_database(postgres: PostgresServer) -> None:
    store = ThingStore(connect(postgres.create_database(f"up_{uuid.uuid4().hex[:12]}")))
    store.wait_until_up(5.0)
    store.ping()
    postgres.stop()
    try:
        with pytest.raises(DatabaseUnavailable):
            store.ping()
        with pytest.raises(DatabaseUnavailable):
            store.wait_until_up(1.0)  # gives up after the timeout, with the database's error

        started = threading.Timer(1.0, postgres.start)
        started.start()
        store.wait_until_up(30.0)  # returns once the database answers again
        started.join()
        store.ping()
    finally:
        postgres.start()
        store.engine.dispose()


def test_a_stopped_database_is_unavailable_naming_its_owner_and_a_refused_write_never_lands(
        postgres: PostgresServer) -> None:
    store = ThingStore(connect(postgres.create_database(f"out_{uuid.uuid4().hex[:12]}"), "thing"))
    store.create_schema()
    store.add("before")
    postgres.stop()
    try:
        for call in (store.names, lambda: store.add("refused")):
            with pytest.raises(DatabaseUnavailable) as caught:
                call()
            assert caught.value.message.startswith("thing's database is unavailable"), caught.value
            assert caught.value.retry_after and caught.value.wire.http_status == 503
            assert errors.is_retryable(caught.value)
    finally:
        postgres.start()
    assert store.names() == ["before"]  # the first call after it is back succeeds
    store.engine.dispose()


def test_a_serialization_failure_is_unavailable_and_safe_to_retry(
        postgres: PostgresServer) -> None:
    store = ThingStore(connect(postgres.create_database(f"ser_{uuid.uuid4().hex[:12]}"), "thing"))
    store.create_schema()
    thing = store.add("contended", 1)
    serializable = store.engine.execution_options(isolation_level="SERIALIZABLE")
    bump = things.update().where(things.c.id == thing).values(count=things.c.count + 1)
    with serializable.connect() as first, serializable.connect() as second:
        first.begin()
        second.begin()
        first.execute(sa.select(things.c.count).where(things.c.id == thing))
        second.execute(sa.select(things.c.count).where(things.c.id == thing))
        first.execute(bump)
        first.commit()
        with pytest.raises(DatabaseUnavailable, match="transaction conflict"):
            second.execute(bump)
    store.engine.dispose()


def test_bugs_are_not_mistaken_for_outages(postgres: PostgresServer) -> None:
    engine = connect(postgres.create_database(f"bug_{uuid.uuid4().hex[:12]}"), "thing")
    with pytest.raises(ProgrammingError), engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    engine.dispose()
    lite = connect("sqlite://", "thing")
    with pytest.raises(OperationalError, match="no such table"), lite.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert map_error(ValueError("a bug")) is None
    assert map_error(KeyError("a bug"), "thing") is None


def test_a_pool_with_no_free_connection_is_unavailable() -> None:
    error = map_error(sa.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"), "book")
    assert isinstance(error, DatabaseUnavailable)
    assert error.message == "book's database is unavailable (no free connection)"


def test_open_waits_for_the_database_and_makes_the_tables(tmp_path):
    url = f"sqlite:///{tmp_path / 'opened.db'}"
    store = ThingStore.open(url, "things", wait=1.0)
    with store.engine.connect() as conn:
        for table in (things, links):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    store.engine.dispose()
