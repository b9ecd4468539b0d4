"""Latency-aware balancing: power of two choices over a peak-EWMA of each instance's latency.

:class:`PeakEWMA` keeps, per instance, an exponentially weighted moving
average of its call latency that jumps up at once to a slower observation
(the peak) and comes down gradually with faster ones. Of two instances picked
at random it calls the cheaper, the cost being::

    max(latency * exp(-idle / decay), age of its oldest call in flight) * (calls in flight + 1)

``idle`` being the seconds since the instance last answered. The age of the
oldest call still in flight is a latency the instance has already shown: an
instance that stopped answering (paused, cut off the network) grows dearer
with every millisecond its calls hang, instead of looking idle and cheap
while its latency decays, and so stops taking calls long before they fill
the caller's threads. Two costs within
a factor ``2`` of each other (``similar``) count as equal, and one of the two is
chosen at random: instances that serve alike share the calls evenly, and only
one clearly slower loses them. The decay lets an
instance that turned slow, and so stopped getting calls, become cheap again
after a while: it is tried once more, and earns its traffic back if it has
recovered (or jumps back up if not). A failed call (not the caller's fault)
counts as four times the current latency of the slowest other instance (at
least ``failure_penalty`` seconds, at most ``max_penalty``: when every instance
fails, penalties must not feed on each other), so an instance that fails fast is not mistaken
for a fast one, however slow the others are at the moment. The penalty is
small on purpose: a failed call costs its caller only a quick retry
elsewhere, so the failing instance is tried again after about
``decay * ln 2`` seconds (and its breaker, counting those tries, opens),
while a slow instance, whose calls cost real waiting, is tried far less
often. The first answer of each instance is not taken as a sample: it
includes setting up the connection, which says nothing of how fast the
instance serves.

Metrics: ``kit_balancer_cost{backend,instance}``, each known instance's current
cost, read when scraped (why an instance gets few calls, or none).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Gauge

from kitcore import errors
from kitcore.endpoint import Context, Endpoint
from kitcore.sd.balancer import Balancer, EndpointSource
from kitcore.sd.instance import Instance

COST = Gauge("kit_balancer_cost",
             "Peak-EWMA cost of an instance: latency (s) times calls in flight + 1.",
             ["backend", "instance"])
"""Each known instance's cost, computed when scraped."""

_FLOOR = 0.001
"""Seconds added to every latency, so unmeasured instances still weigh their calls in flight."""


@dataclass
class _Latency:
    """What the balancer knows of one instance."""

    ewma: float
    stamp: float
    pending: dict[int, float] = field(default_factory=dict)  # call -> when it was sent
    connected: bool = False  # answered once: its latencies are samples from now on

    @property
    def in_flight(self) -> int:
        """Calls sent to the instance and not answered yet."""
        return len(self.pending)


class PeakEWMA(Balancer):
    """Power of two choices by peak-EWMA latency weighted by calls in flight."""

    def __init__(
        self,
        source: EndpointSource,
        *,
        decay: float = 2.0,
        failure_penalty: float = 0.015,
        max_penalty: float = 1.0,
        similar: float = 2.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(source)
        if decay <= 0:
            raise ValueError("decay must be positive")
        self.decay = decay
        self.failure_penalty = failure_penalty
        self.max_penalty = max_penalty
        self.similar = similar
        self._random = random.Random(seed)
        self._clock = clock
        self._stats: dict[str, _Latency] = {}
        self._calls = itertools.count()
        self._lock = threading.Lock()

    def cost(self, instance_id: str) -> float:
        """The instance's current cost (seconds, weighted by its calls in flight)."""
        with self._lock:
            return self._cost(instance_id, self._clock())

    def _cost(self, instance_id: str, now: float) -> float:
        stats = self._stats.get(instance_id)
        if stats is None:
            return _FLOOR
        latency = stats.ewma * math.exp(-(now - stats.stamp) / self.decay)
        if stats.pending:
            latency = max(latency, now - min(stats.pending.values()))
        return (latency + _FLOOR) * (stats.in_flight + 1)

    def _choose(self, entries: list[tuple[Instance, Endpoint]]) -> tuple[Instance, Endpoint]:
        with self._lock:
            if len(entries) == 1:
                chosen = entries[0]
            else:
                first, second = self._random.sample(entries, 2)  # in random order
                now = self._clock()
                clearly_cheaper = (
                    self._cost(second[0].id, now) * self.similar < self._cost(first[0].id, now)
                )
                chosen = second if clearly_cheaper else first
        return chosen

    def _invoke(self, instance: Instance, endpoint: Endpoint, ctx: Context, request: Any) -> Any:
        with self._lock:
            call, started = next(self._calls), self._clock()
            self._stats_of(instance.id).pending[call] = started
        failed = False
        try:
            return endpoint(ctx, request)
        except Exception as error:
            failed = not errors.is_client_error(error)
            raise
        finally:
            self._observe(instance.id, call, self._clock() - started, failed)

    def _stats_of(self, instance_id: str) -> _Latency:
        stats = self._stats.get(instance_id)
        if stats is None:
            stats = self._stats[instance_id] = _Latency(ewma=0.0, stamp=self._clock())
            COST.labels(self.service, instance_id).set_function(lambda: self.cost(instance_id))
        return stats

    def _observe(self, instance_id: str, call: int, seconds: float, failed: bool) -> None:
        with self._lock:
            now = self._clock()
            if failed:
                seconds = max(seconds, self._penalty(instance_id, now))
            stats = self._stats_of(instance_id)
            stats.pending.pop(call, None)
            if not (stats.connected or failed):
                stats.connected = True  # the connection's set-up is not a sample
            elif seconds > stats.ewma:
                stats.ewma = seconds  # the peak: slower at once
            else:
                weight = math.exp(-(now - stats.stamp) / self.decay)
                stats.ewma = stats.ewma * weight + seconds * (1 - weight)
            stats.stamp = now
            self._forget_departed()

    def _penalty(self, instance_id: str, now: float) -> float:
        """What a failed call counts as: four times the slowest other instance's latency
        as it stands now (decayed), at least ``failure_penalty`` and at most
        ``max_penalty``. Capped, as when every instance fails (a shared database down)
        each failure would otherwise count four times the other's last penalty, and
        the costs grew without bound (seen: 1e60 s), keeping an instance unused for
        minutes after it recovered."""
        others = [stats.ewma * math.exp(-(now - stats.stamp) / self.decay)
                  for other, stats in self._stats.items() if other != instance_id]
        return min(self.max_penalty, max(self.failure_penalty, 4 * max(others, default=0.0)))

    def _forget_departed(self) -> None:
        if len(self._stats) > 2 * max(1, len(self.source.endpoints())):
            current = {instance.id for instance, _ in self.source.endpoints()}
            for instance_id in [i for i in self._stats if i not in current]:
                if self._stats[instance_id].in_flight == 0:
                    del self._stats[instance_id]
                    with contextlib.suppress(KeyError):
                        COST.remove(self.service, instance_id)
