"""Bounded waiting for the stack to reach a state: poll an assertion until it holds.

The stack changes asynchronously (a lease expires, a watcher fires, a span is
exported), so tests state *what* must become true and give a generous upper
bound; they never sleep a fixed time. :func:`eventually` retries an assertion
that raises ``AssertionError`` (or a transient connection error) and, at the
deadline, re-raises the last failure so the test says what was still wrong.
:func:`until` repeats a step that must always succeed until it reports the
awaited state; :func:`for_seconds` checks that a state holds for a while.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import requests
from integration.compose import ComposeError

T = TypeVar("T")

TRANSIENT = (AssertionError, requests.RequestException, ComposeError, ValueError, KeyError)
"""Failures that mean "not yet" while polling."""


def eventually(check: Callable[[], T], *, timeout: float, interval: float = 0.25) -> T:
    """Call ``check`` until it returns without raising; return its result.

    After ``timeout`` seconds the last failure is raised (as an AssertionError
    that says how long was waited).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except TRANSIENT as exc:
            if time.monotonic() >= deadline:
                raise AssertionError(f"still failing after {timeout:g}s: {exc!r}") from exc
        time.sleep(interval)


def until(step: Callable[[], bool], *, timeout: float, interval: float = 0.0,
          what: str = "the condition") -> None:
    """Call ``step`` until it returns True; its own failures are not retried.

    Use it where every step must succeed (each call through the gateway
    returns 200) while the state it waits for (a breaker opens) is reached
    later; unlike :func:`eventually`, an AssertionError in ``step`` fails at once.
    """
    deadline = time.monotonic() + timeout
    while not step():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout:g}s")
        time.sleep(interval)


def for_seconds(check: Callable[[], object], *, seconds: float, interval: float = 0.5) -> None:
    """Assert that ``check`` keeps passing for ``seconds`` (a state that must hold, not flap)."""
    deadline = time.monotonic() + seconds
    while True:
        check()
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)
