"""kitcore.sql against SQLite (in memory and a file) and a real PostgreSQL.

The tables here stand for any service's: one with a CHECK constraint and a
functional index, one with a composite key, so creating the schema takes
several statements, as book's and user's do.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from kitcore.sql import Store, connect
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
        with pytest.raises(OperationalError):
            store.ping()
        with pytest.raises(OperationalError):
            store.wait_until_up(1.0)  # gives up after the timeout, with the database's error

        started = threading.Timer(1.0, postgres.start)
        started.start()
        store.wait_until_up(30.0)  # returns once the database answers again
        started.join()
        store.ping()
    finally:
        postgres.start()
        store.engine.dispose()


def test_open_waits_for_the_database_and_makes_the_tables(tmp_path):
    url = f"sqlite:///{tmp_path / 'opened.db'}"
    store = ThingStore.open(url, wait=1.0)
    with store.engine.connect() as conn:
        for table in (things, links):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    store.engine.dispose()
