"""A small steady load through the gateway, and what it measured.

:func:`run` sends, from one thread per user, that user's request every
:data:`~integration.api.PACE` seconds (under its rate-limit budget) for a
while, and returns every answer with its status, ``X-Served-By``, JSON body and
seconds as the client saw them. :func:`histogram_share` reads the gateway's own
latency histogram between two scrapes: how many calls of an endpoint there
were and what share finished within a bucket bound (free of the host's noise).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from integration.api import PACE, TIMEOUT, User
from integration.observability import Sample


@dataclass(frozen=True)
class Answer:
    """One answer of the load."""

    status: int
    served_by: str
    body: Any
    seconds: float


Load = tuple[list[User], Callable[[User], str]]
"""Users and the path each of them reads."""


def run(base_url: str, users: list[User], path: Callable[[User], str],
        seconds: float) -> list[Answer]:
    """Each user GETs ``path(user)`` every PACE seconds for ``seconds``; all answers."""
    return run_together(base_url, [(users, path)], seconds)[0]


def run_together(base_url: str, loads: list[Load], seconds: float) -> list[list[Answer]]:
    """Run several loads at the same time; the answers of each."""
    answers: list[list[Answer]] = [[] for _ in loads]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def one_user(user: User, path: Callable[[User], str], into: list[Answer]) -> None:
        with requests.Session() as session:
            while time.monotonic() < stop_at:
                started = time.monotonic()
                reply = session.get(base_url + path(user), headers=user.auth, timeout=TIMEOUT)
                took = time.monotonic() - started
                body = reply.json() if reply.content else None
                with lock:
                    into.append(Answer(reply.status_code,
                                       reply.headers.get("X-Served-By", ""), body, took))
                time.sleep(max(0.0, started + PACE - time.monotonic()))

    threads = [threading.Thread(target=one_user, args=(user, path, into))
               for (users, path), into in zip(loads, answers, strict=True) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 2 * TIMEOUT)
    return answers


def p99(answers: list[Answer]) -> float:
    """The 99th percentile of the answers' seconds (nearest rank)."""
    ordered = sorted(answer.seconds for answer in answers)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def share(answers: list[Answer], served_by: str) -> float:
    """The share of answers served by ``served_by``."""
    return sum(answer.served_by == served_by for answer in answers) / max(1, len(answers))


def counter(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return 0.0


def histogram_share(before: list[Sample], after: list[Sample], endpoint: str,
                    bound: str) -> tuple[float, float]:
    """``(calls, share within bound seconds)`` of the gateway's ``endpoint`` between scrapes."""
    labels = {"service": "gateway", "endpoint": endpoint}
    name = "kit_request_duration_seconds"
    calls = counter(after, f"{name}_count", **labels) - counter(before, f"{name}_count", **labels)
    within = (counter(after, f"{name}_bucket", le=bound, **labels)
              - counter(before, f"{name}_bucket", le=bound, **labels))
    return calls, within / max(1.0, calls)
