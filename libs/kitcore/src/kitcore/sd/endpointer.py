"""One client endpoint per instance, built on arrival and closed on departure.

:class:`Endpointer` subscribes to an instancer and calls a factory for each
new instance. It keeps one endpoint per instance id, builds it again when the
instance's value changes (a new address), and calls the endpoint's close
function when the instance goes away, so pooled connections are released.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kitcore.endpoint import Endpoint
from kitcore.sd.instance import Instance
from kitcore.sd.instancer import Instancer

logger = logging.getLogger("kitcore.sd.endpointer")

Closer = Callable[[], None]
"""Releases what an endpoint holds (connections, channels)."""

Factory = Callable[[Instance], tuple[Endpoint, Closer]]
"""Builds the client endpoint for one instance, and the function that closes it."""


class Endpointer:
    """The current ``(Instance, Endpoint)`` pairs of one service."""

    def __init__(self, instancer: Instancer, factory: Factory) -> None:
        self.service = instancer.service
        self._factory = factory
        self._built: dict[str, tuple[Instance, Endpoint, Closer]] = {}
        self._snapshot: list[tuple[Instance, Endpoint]] = []
        self._lock = threading.Lock()
        self._unsubscribe = instancer.subscribe(self._update)

    def endpoints(self) -> list[tuple[Instance, Endpoint]]:
        """The endpoints of the current instances, sorted by instance id."""
        return list(self._snapshot)

    def close(self) -> None:
        """Stop following the instancer and close every endpoint."""
        self._unsubscribe()
        self._update([])

    def _update(self, instances: list[Instance]) -> None:
        wanted = {instance.id: instance for instance in instances}
        with self._lock:
            for instance_id, (instance, _, closer) in list(self._built.items()):
                if wanted.get(instance_id) != instance:
                    del self._built[instance_id]
                    _close(instance, closer)
            for instance_id, instance in wanted.items():
                if instance_id not in self._built:
                    self._build(instance)
            self._snapshot = [
                (instance, endpoint) for instance, endpoint, _ in
                sorted(self._built.values(), key=lambda entry: entry[0].id)
            ]

    def _build(self, instance: Instance) -> None:
        try:
            endpoint, closer = self._factory(instance)
        except Exception:
            logger.exception("cannot build an endpoint for %s/%s; skipping it",
                             instance.service, instance.id)
            return
        self._built[instance.id] = (instance, endpoint, closer)


def _close(instance: Instance, closer: Closer) -> None:
    try:
        closer()
    except Exception:
        logger.exception("closing the endpoint of %s/%s failed", instance.service, instance.id)
