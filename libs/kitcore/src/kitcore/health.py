"""Liveness and readiness: ``/healthz``, ``/readyz`` and the gRPC health service.

One :class:`Readiness` per process says whether it should get traffic: a flag
the runner sets once serving (and clears for good when draining on SIGTERM),
plus named checks run on every ``/readyz`` (a database ping, say). The HTTP
routes (:func:`kitcore.transport.http_admin.health_routes`) and the standard gRPC
health service (:func:`kitcore.transport.grpc_health.add_grpc_health`) both
answer from it.

The images' Docker HEALTHCHECK calls ``/healthz`` (bash over ``/dev/tcp``: see a
service's Dockerfile).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kitcore.errors import KitError

Check = Callable[[], object]
"""A readiness check: fails by raising or by returning False."""


class Readiness:
    """Whether this process should receive traffic: a thread-safe flag plus checks."""

    def __init__(self, ready: bool = False) -> None:
        self._lock = threading.Lock()
        self._ready = ready
        self._draining = False
        self._checks: dict[str, Check] = {}
        self._listeners: list[Callable[[bool], None]] = []
        self._notify_lock = threading.Lock()  # listeners see changes in order
        self._notified = ready

    @property
    def ready(self) -> bool:
        """The flag: set ready and not draining (checks are not run here)."""
        with self._lock:
            return self._ready and not self._draining

    @property
    def draining(self) -> bool:
        """True once :meth:`drain` was called."""
        with self._lock:
            return self._draining

    def set_ready(self, ready: bool = True) -> None:
        """Set the flag (no effect on ``ready`` once draining)."""
        with self._lock:
            self._ready = ready
        self._notify()

    def drain(self) -> None:
        """Stop being ready for good: the process is shutting down."""
        with self._lock:
            self._draining = True
        self._notify()

    def add_check(self, name: str, check: Check) -> None:
        """Run ``check`` on every readiness probe; a failure makes ``/readyz`` 503."""
        with self._lock:
            self._checks[name] = check

    def subscribe(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(ready)`` whenever the flag changes."""
        with self._lock:
            self._listeners.append(listener)

    def problem(self) -> str | None:
        """Why the process is not ready (flag, draining, or a failing check), or None."""
        with self._lock:
            if self._draining:
                return "draining"
            if not self._ready:
                return "not ready"
            checks = list(self._checks.items())
        for name, check in checks:
            try:
                ok = check() is not False
            except KitError as exc:  # a dependency's own words: "book's database is unavailable"
                return f"check {name} failed: {exc.message}"
            except Exception as exc:
                return f"check {name} failed: {exc}"
            if not ok:
                return f"check {name} failed"
        return None

    def _notify(self) -> None:
        with self._notify_lock:
            now = self.ready
            if now == self._notified:
                return
            self._notified = now
            with self._lock:
                listeners = list(self._listeners)
            for listener in listeners:
                listener(now)
