"""A steady, bounded load against the gateway, recording every answer.

Each :class:`Stream` is one thread sending one kind of request at a fixed
rate (a schedule, not "as fast as it can": a slow answer does not slow the
rate, and a late thread does not burst to catch up, so a client's rate-limit
budget is never spent by the load itself). Every request gets an
:class:`Outcome`: when it started, how long it took, the status (0 when no
answer came), which backend instances served it, and for writes the value
the gateway acknowledged. The load stops when told to, or at a hard cap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

TIMEOUT = 10.0
"""Seconds one request may take before it counts as failed (the gateway's own
deadline is 3 s, so only a hang reaches this)."""

MAX_SECONDS = 300.0
"""Hard cap on how long any load runs, whatever happens to the test."""


@dataclass(frozen=True)
class Outcome:
    """One request of the load and its answer."""

    kind: str
    started: float  # time.monotonic()
    elapsed: float
    status: int  # 0: no answer (connection error or timeout)
    served_by: tuple[str, ...] = ()
    degraded: bool = False
    acknowledged: Any = None  # what a write's 2xx answer confirmed
    error: str = ""  # the error body's code, or the exception's name
    message: str = ""  # the error body's message, or the exception's text

    @property
    def ok(self) -> bool:
        """A 2xx answer that is complete (a shelf not degraded)."""
        return 200 <= self.status < 300 and not self.degraded


Call = Callable[[requests.Session], requests.Response]
"""Sends one request of a stream."""

Acknowledge = Callable[[requests.Response], Any]
"""Reads what a 2xx answer confirmed (the book's new stock, a created id ...)."""


@dataclass
class Stream:
    """One kind of request, sent at ``rate`` per second by its own thread."""

    kind: str
    rate: float
    call: Call
    acknowledge: Acknowledge | None = None
    write: bool = False


@dataclass
class Load:
    """Streams running together until :meth:`stop`; their outcomes in order."""

    streams: list[Stream]
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        """Start one thread per stream."""
        for stream in self.streams:
            thread = threading.Thread(target=self._run, args=(stream,), daemon=True,
                                      name=f"load-{stream.kind}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> list[Outcome]:
        """Stop sending, wait for the requests in flight, and return every outcome."""
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 5)
        return self.snapshot()

    def snapshot(self) -> list[Outcome]:
        """The outcomes so far."""
        with self._lock:
            return list(self.outcomes)

    def since(self, moment: float) -> list[Outcome]:
        """The outcomes of requests started at or after ``moment`` (time.monotonic())."""
        return [o for o in self.snapshot() if o.started >= moment]

    def _run(self, stream: Stream) -> None:
        interval = 1.0 / stream.rate
        deadline = time.monotonic() + MAX_SECONDS
        next_at = time.monotonic()
        with requests.Session() as session:
            while not self._stop.is_set() and time.monotonic() < deadline:
                outcome = _send(stream, session)
                with self._lock:
                    self.outcomes.append(outcome)
                next_at = max(next_at + interval, time.monotonic())
                self._stop.wait(max(0.0, next_at - time.monotonic()))


def _send(stream: Stream, session: requests.Session) -> Outcome:
    started = time.monotonic()
    try:
        reply = stream.call(session)
    except requests.RequestException as exc:
        return Outcome(stream.kind, started, time.monotonic() - started, 0,
                       error=type(exc).__name__, message=str(exc)[:200])
    elapsed = time.monotonic() - started
    served_by = tuple(n for n in reply.headers.get("X-Served-By", "").split(",") if n)
    degraded, acknowledged, error, message = False, None, "", ""
    if 200 <= reply.status_code < 300:
        body = reply.json()
        degraded = bool(body.get("degraded", False))
        if stream.acknowledge is not None:
            acknowledged = stream.acknowledge(reply)
    else:
        error, message = _error(reply)
    return Outcome(stream.kind, started, elapsed, reply.status_code, served_by, degraded,
                   acknowledged, error, message)


def _error(reply: requests.Response) -> tuple[str, str]:
    """The error body's code and message (or the start of a body that is not one)."""
    try:
        error = reply.json()["error"]
        return str(error["code"]), str(error["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return "", reply.text[:200]


@dataclass(frozen=True)
class Tally:
    """Counts and latencies of one group of outcomes."""

    requests: int
    failed: int
    degraded: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    failures: dict[str, int]
    examples: dict[str, str]  # per kind of failure, the first one's message

    @classmethod
    def of(cls, outcomes: list[Outcome]) -> Tally:
        """Tally ``outcomes``; failures grouped as "kind status error"."""
        failures: dict[str, int] = {}
        examples: dict[str, str] = {}
        for o in outcomes:
            if not o.ok:
                what = f"{o.kind} {o.status} {'degraded' if o.degraded else o.error}".strip()
                failures[what] = failures.get(what, 0) + 1
                examples.setdefault(what, o.message)
        latencies = sorted(o.elapsed * 1000 for o in outcomes) or [0.0]
        return cls(
            requests=len(outcomes),
            failed=sum(not o.ok for o in outcomes),
            degraded=sum(o.degraded for o in outcomes),
            p50_ms=_quantile(latencies, 0.50),
            p99_ms=_quantile(latencies, 0.99),
            max_ms=latencies[-1],
            failures=failures,
            examples=examples,
        )


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
