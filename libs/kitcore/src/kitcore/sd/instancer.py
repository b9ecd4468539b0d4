"""Instancers: the current set of instances of one service, and who to tell.

An instancer holds the instances of one service, sorted by id, and calls its
subscribers with the whole new set each time it changes.
:class:`StaticInstancer` holds a fixed set (for running without etcd);
:class:`kitcore.sd.EtcdInstancer` follows etcd.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from kitcore.sd.instance import Instance

logger = logging.getLogger("kitcore.sd.instancer")

Subscriber = Callable[[list[Instance]], None]
"""Called with the full, new list of instances after each change."""


class Instancer:
    """The current instances of one service, with change notification."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._instances: list[Instance] = []
        self._subscribers: list[Subscriber] = []
        self._lock = threading.RLock()

    def instances(self) -> list[Instance]:
        """The current instances, sorted by id."""
        with self._lock:
            return list(self._instances)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` now with the current set and after each change;
        returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)
            self._notify(callback, list(self._instances))

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def close(self) -> None:
        """Stop following changes (subclasses release their resources)."""

    def _update(self, instances: Iterable[Instance]) -> bool:
        """Replace the set; tell the subscribers if it changed."""
        new = sorted(instances, key=lambda instance: instance.id)
        with self._lock:
            if new == self._instances:
                return False
            self._instances = new
            for callback in list(self._subscribers):
                self._notify(callback, list(new))
        return True

    def _notify(self, callback: Subscriber, instances: list[Instance]) -> None:
        try:
            callback(instances)
        except Exception:
            logger.exception("a subscriber of %s failed", self.service)


class StaticInstancer(Instancer):
    """A fixed set of instances, for running without a registry."""

    def __init__(self, instances: Iterable[Instance], service: str | None = None) -> None:
        instances = list(instances)
        if service is None:
            service = instances[0].service if instances else "unknown"
        super().__init__(service)
        self._update(instances)

    def set(self, instances: Iterable[Instance]) -> None:
        """Replace the set (subscribers are told), as a registry would."""
        self._update(instances)
