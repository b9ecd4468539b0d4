"""Follow the instances of one service in etcd.

:class:`EtcdInstancer` loads ``<prefix>/<service>/`` and watches it, so a new
or removed instance is seen within milliseconds. A background thread checks
once a second that etcd still answers (etcd3gw's watch ends silently when etcd
goes away) and that it was not restarted in between (a new raft term). When
etcd is unreachable the instancer keeps the last good set, says once that it
is stale, and retries with backoff; when etcd is back it reloads the whole
prefix, so changes made during the outage are seen. An outage never empties
the set; an empty prefix in a reachable etcd does. Values that are not valid
instances are logged once and skipped.
"""

from __future__ import annotations

import logging
import threading
import time

from kitcore.sd import backoff
from kitcore.sd.etcd_client import EtcdClient, EtcdUnavailable, Status, Watch
from kitcore.sd.instance import DEFAULT_PREFIX, Instance, InvalidInstance, service_prefix
from kitcore.sd.instancer import Instancer

logger = logging.getLogger("kitcore.sd.instancer")


class EtcdInstancer(Instancer):
    """The instances of ``service`` registered in etcd, kept current."""

    def __init__(
        self,
        endpoints: list[str],
        service: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        check_interval: float = 1.0,
        resync_interval: float = 30.0,
        max_backoff: float = 5.0,
        initial_wait: float = 2.0,
    ) -> None:
        super().__init__(service)
        self.prefix = service_prefix(service, prefix)
        self._client = EtcdClient(endpoints, timeout=max(0.5, min(2.0, check_interval)))
        self._check_interval = check_interval
        self._resync_interval = resync_interval
        self._max_backoff = max_backoff
        self._values: dict[str, bytes] = {}
        self._reported: set[tuple[str, bytes]] = set()
        self._generation = 0
        self._stale = False
        self._loaded = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"etcd-instancer-{service}", daemon=True
        )
        self._thread.start()
        self._loaded.wait(initial_wait)

    @property
    def stale(self) -> bool:
        """True while etcd cannot be reached and the set may be out of date."""
        return self._stale

    def close(self) -> None:
        """Stop watching; the last set stays readable."""
        self._closed.set()
        with self._lock:
            self._generation += 1
        self._thread.join(timeout=self._client.timeout * 3 + 1)

    def _run(self) -> None:
        failures = 0
        while not self._closed.is_set():
            try:
                status, watch, consumer = self._load_and_watch()
            except EtcdUnavailable as exc:
                self._mark_stale(exc)
                self._closed.wait(backoff.delay(failures, base=0.1, cap=self._max_backoff))
                failures += 1
                continue
            failures = 0
            try:
                self._supervise(status, consumer)
            finally:
                watch.cancel()

    def _load_and_watch(self) -> tuple[Status, Watch, threading.Thread]:
        status = self._client.status()
        items = self._client.get_prefix(self.prefix)
        # Changes after `status` are replayed on top of the snapshot, so none is missed.
        watch = self._client.watch_prefix(self.prefix, start_revision=status.revision + 1)
        with self._lock:
            self._generation += 1
            self._values = dict(items)
            self._mark_fresh(len(self._values))  # before the set is seen: it is fresh
            self._publish()
            generation = self._generation
        consumer = threading.Thread(
            target=self._consume, args=(watch, generation),
            name=f"etcd-watch-{self.service}", daemon=True,
        )
        consumer.start()
        self._loaded.set()
        return status, watch, consumer

    def _supervise(self, status: Status, consumer: threading.Thread) -> None:
        started = time.monotonic()
        while not self._closed.wait(self._check_interval):
            if not consumer.is_alive():
                logger.warning("watch on %s ended; reloading", self.prefix)
                return
            try:
                now = self._client.status()
            except EtcdUnavailable as exc:
                self._mark_stale(exc)
                return
            if (now.member_id, now.raft_term) != (status.member_id, status.raft_term):
                logger.info("etcd restarted or changed leader; reloading %s", self.prefix)
                return
            if time.monotonic() - started >= self._resync_interval:
                return

    def _consume(self, watch: Watch, generation: int) -> None:
        try:
            for event in watch.events:
                with self._lock:
                    if generation != self._generation:
                        return
                    if event.kind == "put":
                        self._values[event.key] = event.value
                    else:
                        self._values.pop(event.key, None)
                    self._publish()
        except Exception:
            logger.exception("watch on %s failed", self.prefix)

    def _publish(self) -> None:
        instances = []
        for key, value in self._values.items():
            try:
                instances.append(self._parse(key, value))
            except InvalidInstance as exc:
                self._report(key, value, exc)
        self._reported &= set(self._values.items())
        self._update(instances)

    def _parse(self, key: str, value: bytes) -> Instance:
        instance = Instance.from_json(value)
        name = key[len(self.prefix):]
        if (instance.service, instance.id) != (self.service, name):
            raise InvalidInstance(
                f"the key names {self.service}/{name}, "
                f"the value {instance.service}/{instance.id}"
            )
        return instance

    def _report(self, key: str, value: bytes, exc: InvalidInstance) -> None:
        if (key, value) not in self._reported:
            self._reported.add((key, value))
            logger.warning("skipping %s: not a valid instance: %s", key, exc)

    def _mark_stale(self, exc: EtcdUnavailable) -> None:
        if not self._stale:
            self._stale = True
            logger.warning("etcd unreachable (%s); keeping the last %d instances of %s",
                           exc, len(self.instances()), self.service)

    def _mark_fresh(self, count: int) -> None:
        if self._stale:
            self._stale = False
            logger.info("etcd reachable again; reloaded %d instances of %s", count, self.service)
