"""CPU per call of the clients a request pays for: HTTP to a backend, SQL to PostgreSQL.

Every row makes the same call many times, interleaved in rounds with the other
rows of its table so machine noise hits them alike, and reports the calling
thread's CPU per call (``time.thread_time``), the wall time per call, and, for
SQL, the CPU of the PostgreSQL backend process serving the connection(s).

HTTP rows GET one small JSON document from a waitress server in this process
(its threads' CPU is not counted): ``requests`` as kitcore used it, ``requests``
without reading proxy settings from the environment, a urllib3 pool,
``http.client``, and kitcore's :class:`~kitcore.transport.http.HTTPClient`.

SQL rows read a user's shelf from a throwaway PostgreSQL server the way the
user service did (SQLAlchemy, a checkout per call with ``pool_pre_ping``, a
transaction per read, two queries) and does now (:class:`kitcore.sql.Store`'s
autocommit reads, one joined query), with one psycopg connection as the floor.

    .venv/bin/python bench/bench_clients.py [--calls 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import http.client
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import flask
import psycopg
import requests
import sqlalchemy as sa
import urllib3

from kitcore.endpoint import Context
from kitcore.sql import Store, connect
from kitcore.testing.http_server import serve_in_thread
from kitcore.testing.postgres import PostgresServer
from kitcore.transport.http import ClientRequest, HTTPClient

Call = Callable[[], object]
_TICKS = os.sysconf("SC_CLK_TCK")

metadata = sa.MetaData()
users = sa.Table("users", metadata, sa.Column("id", sa.String(36), primary_key=True),
                 sa.Column("name", sa.String(100)))
shelf_books = sa.Table("shelf_books", metadata,
                       sa.Column("user_id", sa.String(36), primary_key=True),
                       sa.Column("book_id", sa.String(36), primary_key=True),
                       sa.Column("added_at", sa.Integer))

SHELF = (sa.select(users.c.id, shelf_books.c.book_id)
         .select_from(users.outerjoin(shelf_books, shelf_books.c.user_id == users.c.id))
         .where(users.c.id == sa.bindparam("user_id")).order_by(shelf_books.c.added_at))
"""The read as user's store makes it now: built once, one joined query."""


class ShelfStore(Store):
    """The user service's shelf tables, with the read as it was and as it is."""

    schema = metadata

    def shelf_two_queries(self, user_id: str) -> list[str] | None:
        with self.engine.connect() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is None:
                return None
            query = sa.select(shelf_books.c.book_id).where(shelf_books.c.user_id == user_id)
            return list(conn.execute(query.order_by(shelf_books.c.added_at)).scalars())

    def shelf_one_query(self, user_id: str) -> list[str] | None:
        with self.reading() as conn:
            rows = conn.execute(SHELF, {"user_id": user_id}).all()
        return [r.book_id for r in rows if r.book_id] if rows else None


def _pid_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def measure(rows: dict[str, Call], calls: int, rounds: int,
            server_cpu: Callable[[], float] = lambda: 0.0) -> dict[str, dict[str, float]]:
    """Per row: client CPU, wall and server CPU per call, in microseconds (best round)."""
    best: dict[str, dict[str, float]] = {}
    for call in rows.values():
        call()  # warm: connections open, statements prepared
    for _ in range(rounds):
        for name, call in rows.items():
            cpu0, wall0, srv0 = time.thread_time(), time.perf_counter(), server_cpu()
            for _ in range(calls):
                call()
            figures = {"cpu_us": (time.thread_time() - cpu0) / calls * 1e6,
                       "wall_us": (time.perf_counter() - wall0) / calls * 1e6,
                       "server_cpu_us": (server_cpu() - srv0) / calls * 1e6}
            if name not in best or figures["cpu_us"] < best[name]["cpu_us"]:
                best[name] = figures
    return best


@contextmanager
def http_rows() -> Iterator[dict[str, Call]]:
    app = flask.Flask("bench")
    app.add_url_rule("/item", "item", lambda: {"id": "u1", "name": "Ada"})
    served = serve_in_thread(app, threads=2)
    url = served.url + "/item"
    session = requests.Session()
    quiet = requests.Session()
    quiet.trust_env = False
    pool = urllib3.connection_from_url(served.url, maxsize=1, retries=False)
    conn = http.client.HTTPConnection(served.host, served.port)

    def plain() -> bytes:
        conn.request("GET", "/item")
        return conn.getresponse().read()

    client = HTTPClient(served.url)
    endpoint = client.endpoint("GET", "/item", lambda r: ClientRequest(), lambda b, h: b)
    ctx = Context.background()
    try:
        yield {
            "requests.Session": lambda: session.get(url).json(),
            "requests, trust_env=False": lambda: quiet.get(url).json(),
            "urllib3 pool": lambda: pool.urlopen("GET", "/item").data,
            "http.client": plain,
            "kitcore HTTPClient": lambda: endpoint(ctx, None),
        }
    finally:
        client.close()
        session.close()
        quiet.close()
        conn.close()
        served.stop()


@contextmanager
def sql_rows() -> Iterator[tuple[dict[str, Call], Callable[[], float]]]:
    with PostgresServer() as server:
        url = server.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        store = ShelfStore(connect(url))
        store.create_schema()
        user = str(uuid.uuid4())
        with store.engine.begin() as conn:
            conn.execute(users.insert().values(id=user, name="Ada"))
            conn.execute(shelf_books.insert(), [
                {"user_id": user, "book_id": str(uuid.uuid4()), "added_at": i} for i in range(3)])
        before = ShelfStore(sa.create_engine(url, pool_pre_ping=True, pool_size=1))
        raw = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
        joined = ("SELECT users.id, shelf_books.book_id FROM users LEFT OUTER JOIN shelf_books"
                  " ON shelf_books.user_id = users.id WHERE users.id = %s"
                  " ORDER BY shelf_books.added_at")
        pids = set()
        for engine in (store.engine, before.engine):
            with engine.connect() as conn:
                pids.add(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        pids.add(raw.info.backend_pid)
        try:
            yield ({
                "SQLAlchemy, pre_ping + transaction, 2 queries (before)":
                    lambda: before.shelf_two_queries(user),
                "kitcore.sql reading(), 1 prebuilt joined query (now)":
                    lambda: store.shelf_one_query(user),
                "psycopg, one connection, 1 query (floor)":
                    lambda: raw.execute(joined, (user,), prepare=True).fetchall(),
            }, lambda: sum(_pid_cpu(pid) for pid in pids))
        finally:
            raw.close()
            before.engine.dispose()
            store.engine.dispose()


def _print(title: str, figures: dict[str, dict[str, float]], base: str) -> None:
    print(f"\n{title}\n")
    print("| client | CPU us/call | x | wall us/call | server CPU us/call |")
    print("|---|---:|---:|---:|---:|")
    for name, f in figures.items():
        ratio = f["cpu_us"] / figures[base]["cpu_us"]
        server = f"{f['server_cpu_us']:.0f}" if f["server_cpu_us"] else "-"
        print(f"| {name} | {f['cpu_us']:.0f} | {ratio:.2f} | {f['wall_us']:.0f} | {server} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs")
    with http_rows() as rows:
        _print("HTTP GET of a small JSON document", measure(rows, args.calls, args.rounds),
               "http.client")
    with sql_rows() as (rows, server_cpu):
        _print("The shelf read against PostgreSQL",
               measure(rows, args.calls, args.rounds, server_cpu),
               "psycopg, one connection, 1 query (floor)")


if __name__ == "__main__":
    main()
