"""What the reliability runs send and check: the seeded users and books, the
load's streams (reads, shelf reads, stock increments, creations, shelving) at
rates inside the gateway's rate limit, and the read-back after a run of every
write the gateway acknowledged.
"""

from __future__ import annotations

import itertools
import json
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import limits
import requests
from integration.api import User
from integration.stack import Stack
from reliability.stack.load import TIMEOUT, Outcome, Stream, Tally

RATES = {"book": 8.0, "shelf": 5.0, "stock": 3.0, "create": 2.0, "shelve": 2.0}
"""Requests per second of each stream (shelf: per reader, three readers).

Single-book reads are public, so their budget is the caller's address, which
all the load shares; every other stream spends its own user's budget (the
creator's two streams share one). The busiest budget, 8/s, is scaled down
to :data:`BUDGET_SHARE` of the gateway's ``KIT_RATE_LIMIT`` if that is
tighter (the suite's 40 per 4 s leaves it as it is): a 429 would be the
load's fault, not the chaos's."""

BUSIEST = 8.0
BUDGET_SHARE = 0.8

READERS = 3


@dataclass
class Seed:
    """What the load reads and writes, created before it starts."""

    readers: list[User]
    books: list[str]
    stock_writer: User
    stock_book: str
    stock_before: int
    creator: User
    created: queue.SimpleQueue[str] = field(default_factory=queue.SimpleQueue)


def seed(stack: Stack) -> Seed:
    api = stack.api
    readers = [api.new_user(f"Reader {n}") for n in range(READERS)]
    books = [api.create_book(readers[0], title=f"Chaos read {n}")["id"] for n in range(3)]
    for reader in readers:
        for book in books:
            reply = api.post(f"/api/v1/users/{reader.id}/shelf", json={"book_id": book},
                             headers=reader.auth)
            assert reply.status_code == 200, reply.text
    stock_writer, creator = api.new_user("Stocker"), api.new_user("Creator")
    stock_book = api.create_book(stock_writer, title="Chaos stock", stock=0)
    return Seed(readers, books, stock_writer, stock_book["id"], stock_book["stock"], creator)


def rates(stack: Stack) -> dict[str, float]:
    """:data:`RATES`, scaled to stay within the gateway's rate limit."""
    limit = limits.parse(stack.compose.env("gateway")["KIT_RATE_LIMIT"])
    per_second = limit.amount / limit.get_expiry()
    scale = min(1.0, BUDGET_SHARE * per_second / BUSIEST)
    return {kind: rate * scale for kind, rate in RATES.items()}


def streams(base: str, seed: Seed, rates: dict[str, float]) -> list[Stream]:
    """The load: what each stream sends and what its 2xx answers acknowledge."""
    books = itertools.cycle(seed.books)
    api = f"{base}/api/v1"

    def read_book(session: requests.Session) -> requests.Response:
        return session.get(f"{api}/books/{next(books)}", timeout=TIMEOUT)

    def read_shelf(reader: User) -> Callable[[requests.Session], requests.Response]:
        return lambda session: session.get(f"{api}/users/{reader.id}/shelf",
                                           headers=reader.auth, timeout=TIMEOUT)

    def add_stock(session: requests.Session) -> requests.Response:
        return session.patch(f"{api}/books/{seed.stock_book}/stock", json={"delta": 1},
                             headers=seed.stock_writer.auth, timeout=TIMEOUT)

    def create(session: requests.Session) -> requests.Response:
        return session.post(f"{api}/books", headers=seed.creator.auth, timeout=TIMEOUT,
                            json={"title": "Written under chaos", "author": "A. Writer",
                                  "year": 2024})

    def created_id(reply: requests.Response) -> str:
        book_id = str(reply.json()["book"]["id"])
        seed.created.put(book_id)
        return book_id

    def shelve(session: requests.Session) -> requests.Response:
        try:
            book = seed.created.get_nowait()
        except queue.Empty:
            book = seed.books[0]
        return session.post(f"{api}/users/{seed.creator.id}/shelf", json={"book_id": book},
                            headers=seed.creator.auth, timeout=TIMEOUT)

    def shelved_id(reply: requests.Response) -> str:
        return str(json.loads(reply.request.body or b"{}")["book_id"])

    return [
        Stream("book", rates["book"], read_book),
        *(Stream("shelf", rates["shelf"], read_shelf(r)) for r in seed.readers),
        Stream("stock", rates["stock"], add_stock,
               lambda reply: int(reply.json()["book"]["stock"]), write=True),
        Stream("create", rates["create"], create, created_id, write=True),
        Stream("shelve", rates["shelve"], shelve, shelved_id, write=True),
    ]


def is_write(outcome: Outcome) -> bool:
    return outcome.kind in ("stock", "create", "shelve")


@dataclass(frozen=True)
class WriteCheck:
    """Acknowledged writes, and how many of them the stack no longer has."""

    acknowledged: int
    lost: int
    details: dict[str, Any]
    lost_writes: frozenset[tuple[str, str]] = frozenset()  # (kind, acknowledged value)


def check_writes(stack: Stack, seed: Seed, outcomes: list[Outcome]) -> WriteCheck:
    """Read back, after the run, everything a write's answer acknowledged."""
    acked = {kind: [o.acknowledged for o in outcomes if o.kind == kind and o.ok]
             for kind in ("stock", "create", "shelve")}
    attempts = sum(o.kind == "stock" for o in outcomes)
    book = stack.api.get(f"/api/v1/books/{seed.stock_book}", headers=seed.stock_writer.auth)
    assert book.status_code == 200, book.text
    final_stock = book.json()["book"]["stock"]
    stock_lost = [value for value in acked["stock"] if value > final_stock]
    assert final_stock <= seed.stock_before + attempts, "more increments than were sent"

    shelf = stack.api.get(f"/api/v1/users/{seed.creator.id}/shelf", headers=seed.creator.auth)
    assert shelf.status_code == 200 and not shelf.json()["degraded"], shelf.text
    on_shelf = set(shelf.json()["book_ids"])
    readable = {b["id"] for b in shelf.json()["books"]}
    shelve_lost = [book_id for book_id in acked["shelve"] if book_id not in on_shelf]
    create_lost = []
    for book_id in acked["create"]:
        if book_id not in readable:
            reply = stack.api.get(f"/api/v1/books/{book_id}", headers=seed.creator.auth)
            if reply.status_code != 200:
                create_lost.append((book_id, reply.status_code))
    details = {"final stock": final_stock, "stock acknowledged up to": max(acked["stock"],
                                                                          default=None),
               "stock lost": stock_lost, "shelved lost": shelve_lost,
               "created lost": create_lost}
    lost = len(stock_lost) + len(shelve_lost) + len(create_lost)
    lost_writes = frozenset({("stock", str(v)) for v in stock_lost}
                            | {("shelve", str(v)) for v in shelve_lost}
                            | {("create", str(v)) for v, _ in create_lost})
    return WriteCheck(sum(len(values) for values in acked.values()), lost, details, lost_writes)


@dataclass
class Step:
    """One fault of a run: its window on the load's clock and its recovery time."""

    name: str
    started: float
    ended: float = 0.0
    recovery: float | None = None  # seconds, None: did not recover within the limit
    injected: bool = True  # False: the engine refused the fault (see Faults.not_injected)
    reads: Tally | None = None
    writes: Tally | None = None
    lost: int = 0
    window: list[Outcome] = field(default_factory=list)


def tally_steps(steps: list[Step], outcomes: list[Outcome], check: WriteCheck) -> None:
    """Count each step's reads, writes and lost acknowledged writes in its window."""
    for step in steps:
        step.window = [o for o in outcomes if step.started <= o.started < step.ended]
        step.reads = Tally.of([o for o in step.window if not is_write(o)])
        step.writes = Tally.of([o for o in step.window if is_write(o)])
        step.lost = sum(1 for o in step.window if is_write(o) and o.ok
                        and (o.kind, str(o.acknowledged)) in check.lost_writes)


def matrix(title: str, steps: list[Step]) -> str:
    """The fault matrix: one line per fault, the same counts for each."""
    lines = [title, f"  {'fault':<40} {'reads':>6} {'failed':>6} {'writes':>6} "
                    f"{'lost':>4} {'recovery s':>10}"]
    for step in steps:
        assert step.reads is not None and step.writes is not None
        recovery = "none" if step.recovery is None else f"{step.recovery:.1f}"
        if not step.injected:
            recovery = "not injected"
        lines.append(f"  {step.name:<40} {step.reads.requests:>6} {step.reads.failed:>6} "
                     f"{step.writes.requests:>6} {step.lost:>4} {recovery:>10}")
        failures = {**step.reads.failures, **step.writes.failures}
        if failures:
            lines.append(f"    failures: {failures}")
        for what, message in {**step.reads.examples, **step.writes.examples}.items():
            lines.append(f"    {what}: {message}")
    return "\n".join(lines)
