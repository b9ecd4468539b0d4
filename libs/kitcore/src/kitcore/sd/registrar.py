"""Register one instance in etcd under a lease, and keep it registered.

:class:`EtcdRegistrar` writes the instance's key under a lease and refreshes
the lease from a background thread every ``ttl / 3`` seconds. If the process
dies, the lease runs out and the key vanishes within ``ttl``. If etcd goes
away, the service keeps serving and the thread keeps trying; when etcd is
back (restarted, lease expired, key deleted) the instance registers again by
itself. Each change of state is logged once.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from kitcore.sd import backoff
from kitcore.sd.etcd_client import EtcdClient, EtcdUnavailable
from kitcore.sd.instance import DEFAULT_PREFIX, Instance

logger = logging.getLogger("kitcore.sd.registrar")

RETRY_CAP = 1.0
"""Longest wait in seconds between two tries while etcd is unreachable: one
small request a second per instance, and the registration is back within
about a second of etcd answering again (after a pause longer than the lease,
say)."""


class EtcdRegistrar:
    """Keeps ``instance`` registered in etcd until :meth:`deregister` or :meth:`close`."""

    def __init__(
        self,
        endpoints: list[str],
        instance: Instance,
        ttl: int = 10,
        *,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        if ttl < 2:
            raise ValueError("ttl must be at least 2 seconds (etcd's minimum lease)")
        self.instance = instance
        self.ttl = ttl
        self.key = instance.key(prefix)
        self._value = instance.to_json().encode()
        self._client = EtcdClient(endpoints, timeout=min(2.0, ttl / 3))
        self._lease: int | None = None
        self._state = "new"
        self._registered = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def registered(self) -> bool:
        """True while the key is known to be in etcd under a live lease."""
        return self._registered.is_set()

    def register(self, wait: float = 2.0) -> bool:
        """Start keeping the instance registered; True once it is (waits up to ``wait`` s).

        Never raises because etcd is down: the background thread keeps trying.
        """
        if self._thread is None or not self._thread.is_alive():
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, name=f"etcd-registrar-{self.instance.id}", daemon=True
            )
            self._thread.start()
        return self._registered.wait(wait)

    def deregister(self) -> None:
        """Remove the instance from etcd now and stop keeping it alive."""
        self.close()
        with self._lock:
            lease, self._lease = self._lease, None
        try:
            self._client.delete(self.key)
        except EtcdUnavailable as exc:
            logger.warning("could not deregister %s (%s); it expires within %ss",
                           self.key, exc, self.ttl)
            return
        if lease is not None:
            self._revoke_quietly(lease)
        self._set_state("deregistered", "deregistered %s", self.key)

    def close(self) -> None:
        """Stop the keep-alive thread; the key then expires within ``ttl``."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._client.timeout * 3 + 1)
        self._registered.clear()

    def __enter__(self) -> EtcdRegistrar:
        self.register()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deregister()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._tick()
                failures = 0
                pause = self.ttl / 3
            except EtcdUnavailable as exc:
                self._registered.clear()
                self._set_state("unreachable", "etcd unreachable, %s stays up and retries: %s",
                                self.instance.id, exc)
                # At most RETRY_CAP apart, so the key is back soon after etcd is.
                pause = backoff.delay(failures, base=0.2, cap=min(RETRY_CAP, self.ttl / 3))
                failures += 1
            self._stop.wait(pause)

    def _tick(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            if self._lease is None:
                self._register_new("registered")
            elif self._client.keepalive(self._lease) <= 0:
                self._registered.clear()
                self._register_new("registered again after its lease expired")
            elif self._client.get(self.key) != self._value:
                self._client.put(self.key, self._value, self._lease)
                self._set_state("registered", "%s was missing, wrote it again", self.key)
            else:
                self._set_state("registered", "registered %s", self.key)
            self._registered.set()

    def _register_new(self, what: str) -> None:
        self._lease = None
        lease = self._client.grant(self.ttl)
        self._client.put(self.key, self._value, lease)
        self._lease = lease
        self._state = "registered"
        logger.info("%s %s (ttl %ss)", what, self.key, self.ttl)

    def _revoke_quietly(self, lease: int) -> None:
        # Already gone, or it runs out by itself within ttl.
        with contextlib.suppress(EtcdUnavailable):
            self._client.revoke(lease)

    def _set_state(self, state: str, message: str, *args: object) -> None:
        if state == self._state:
            return
        self._state = state
        level = logging.WARNING if state == "unreachable" else logging.INFO
        logger.log(level, message, *args)
