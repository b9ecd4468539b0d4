"""The one place kitcore talks to etcd: a small adapter over etcd3gw.

etcd3gw speaks to etcd's JSON gateway (``/v3/``) over HTTP, so it needs no
protobuf code of its own (python-etcd3 fails to import next to protobuf 7).
Every failure to reach etcd, from any layer below, comes out of here as one
exception, :class:`EtcdUnavailable`. With several endpoints, a failed call is
tried on the next one. To use another etcd client, rewrite this module only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import etcd3gw
import requests
from etcd3gw.exceptions import Etcd3Exception
from etcd3gw.lease import Lease

_T = TypeVar("_T")

API_PATH = "/v3/"
"""etcd 3.4+ serves its JSON gateway here (3.3 used /v3beta/); given explicitly
so that no version-discovery request is made."""


class EtcdUnavailable(Exception):
    """etcd could not be reached, timed out, or answered with an error."""


@dataclass(frozen=True)
class Status:
    """Who answered and where the store is: a restart shows as a new raft term."""

    member_id: str
    raft_term: int
    revision: int


@dataclass(frozen=True)
class WatchEvent:
    """One change under a watched prefix: ``kind`` is ``"put"`` or ``"delete"``."""

    kind: str
    key: str
    value: bytes


@dataclass
class Watch:
    """A running prefix watch: iterate ``events``; ``cancel()`` ends the iteration."""

    events: Iterator[WatchEvent]
    cancel: Callable[[], None]


class EtcdClient:
    """Key, lease, status and watch calls against one etcd cluster."""

    def __init__(self, endpoints: Sequence[str], *, timeout: float = 2.0) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self.endpoints = [_split(endpoint) for endpoint in endpoints]
        self.timeout = timeout
        self._clients = [self._new_client(index) for index in range(len(self.endpoints))]
        self._current = 0
        self._lock = threading.Lock()

    def grant(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds; its id."""
        return self._call(lambda client: client.lease(ttl).id)

    def keepalive(self, lease_id: int) -> int:
        """Refresh a lease; its new TTL, or -1 if it has expired."""
        return self._call(lambda client: Lease(lease_id, client).refresh())

    def revoke(self, lease_id: int) -> None:
        """End a lease now, deleting every key attached to it."""
        self._call(lambda client: Lease(lease_id, client).revoke())

    def put(self, key: str, value: bytes, lease_id: int | None = None) -> None:
        """Write ``key``, attached to the lease when one is given."""
        self._call(lambda client: client.put(key, value, _lease(client, lease_id)))

    def get(self, key: str) -> bytes | None:
        """The value of ``key``, or None when it does not exist."""
        values = self._call(lambda client: client.get(key))
        return values[0] if values else None

    def delete(self, key: str) -> None:
        """Remove ``key`` if it exists."""
        self._call(lambda client: client.delete(key))

    def get_prefix(self, prefix: str) -> list[tuple[str, bytes]]:
        """Every ``(key, value)`` under ``prefix``, in key order."""
        items = self._call(lambda client: client.get_prefix(prefix))
        return [(_text(meta["key"]), value) for value, meta in items]

    def status(self) -> Status:
        """The answering member, its raft term and the store's revision."""
        reply = self._call(lambda client: client.status())
        header = reply["header"]
        return Status(str(header["member_id"]), int(header["raft_term"]), int(header["revision"]))

    def watch_prefix(self, prefix: str, start_revision: int | None = None) -> Watch:
        """Watch ``prefix`` from ``start_revision`` (replaying later changes).

        The watch runs on its own connection. etcd3gw ends its stream quietly
        when etcd goes away, so callers must check liveness (:meth:`status`)
        and cancel the watch themselves.

        etcd3gw opens the stream with no timeout, so a paused etcd (it accepts
        the connection, answers nothing) would block the caller until etcd
        runs again. The stream is opened on a thread of its own instead: if it
        is not open within ``timeout`` seconds this raises EtcdUnavailable, and
        a stream that opens later is cancelled at once.
        """
        index = self._current
        client = self._new_client(index)
        opening = _Opening(lambda: client.watch_prefix(prefix, start_revision=start_revision))
        try:
            events, cancel = opening.result(self.timeout)
        except (Etcd3Exception, requests.RequestException, OSError, TimeoutError) as exc:
            raise EtcdUnavailable(f"{self._name(index)}: {_reason(exc)}") from None
        return Watch((_event(raw) for raw in events), cancel)

    def _call(self, request: Callable[[Any], _T]) -> _T:
        with self._lock:
            first = self._current
        error = ""
        for step in range(len(self._clients)):
            index = (first + step) % len(self._clients)
            try:
                result = request(self._clients[index])
            except (Etcd3Exception, requests.RequestException, OSError, KeyError) as exc:
                error = f"{self._name(index)}: {_reason(exc)}"
                continue
            with self._lock:
                self._current = index
            return result
        raise EtcdUnavailable(error)

    def _new_client(self, index: int) -> etcd3gw.Etcd3Client:
        host, port = self.endpoints[index]
        return etcd3gw.client(host=host, port=port, timeout=self.timeout, api_path=API_PATH)

    def _name(self, index: int) -> str:
        host, port = self.endpoints[index]
        return f"{host}:{port}"


_Opened = tuple[Iterator[dict[str, Any]], Callable[[], None]]


class _Opening:
    """A watch being opened on its own thread, waited for with a timeout."""

    def __init__(self, open_watch: Callable[[], _Opened]) -> None:
        self._open = open_watch
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._opened: _Opened | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name="etcd-watch-open", daemon=True).start()

    def result(self, timeout: float) -> _Opened:
        """The open watch; TimeoutError (the late watch is cancelled) or its own error."""
        self._done.wait(timeout)
        with self._lock:
            if not self._done.is_set():
                self._abandoned = True
                raise TimeoutError(f"watch not opened within {timeout:g}s")
        if self._error is not None:
            raise self._error
        assert self._opened is not None
        return self._opened

    def _run(self) -> None:
        try:
            opened = self._open()
        except BaseException as exc:  # handed to the waiting caller
            self._error = exc
            self._done.set()
            return
        with self._lock:
            self._opened = opened
            self._done.set()
            abandoned = self._abandoned
        if abandoned:
            opened[1]()


def _split(endpoint: str) -> tuple[str, int]:
    address = endpoint.strip().removeprefix("http://").rstrip("/")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f'etcd endpoint must be "host:port", got {endpoint!r}')
    return host, int(port)


def _lease(client: etcd3gw.Etcd3Client, lease_id: int | None) -> Lease | None:
    return None if lease_id is None else Lease(lease_id, client)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _event(raw: dict[str, Any]) -> WatchEvent:
    kv = raw["kv"]
    kind = "delete" if raw.get("type") == "DELETE" else "put"
    return WatchEvent(kind, _text(kv["key"]), kv.get("value", b""))


def _reason(exc: BaseException) -> str:
    detail = getattr(exc, "detail_text", None) or str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
