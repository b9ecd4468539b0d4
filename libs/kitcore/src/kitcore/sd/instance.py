"""One running copy of a service, as written to and read from etcd.

The value under ``/kitcore/services/<service>/<instance-id>`` is the JSON
object ``{"id", "service", "transport": {"http", "grpc"}, "version", "meta"}``
with its keys in that order, so ``etcdctl get --prefix /kitcore/services/``
reads well.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DEFAULT_PREFIX = "/kitcore/services"
"""Where instances are registered: ``<prefix>/<service>/<instance-id>``."""


class InvalidInstance(ValueError):
    """A registry value that is not a valid instance (it is skipped, never fatal)."""


@dataclass(frozen=True)
class Instance:
    """Where one instance of a service answers: its HTTP and/or gRPC address."""

    id: str
    service: str
    http: str | None = None
    grpc: str | None = None
    version: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("id", "service"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or "/" in value:
                raise InvalidInstance(f"instance {name} must be a non-empty string without '/'")
        for name in ("http", "grpc"):
            _check_address(name, getattr(self, name))
        if not isinstance(self.version, str):
            raise InvalidInstance("instance version must be a string")
        if not isinstance(self.meta, Mapping):
            raise InvalidInstance("instance meta must be an object")
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    def __hash__(self) -> int:
        return hash((self.id, self.service, self.http, self.grpc, self.version))

    def key(self, prefix: str = DEFAULT_PREFIX) -> str:
        """The etcd key of this instance under ``prefix``."""
        return f"{service_prefix(self.service, prefix)}{self.id}"

    def to_dict(self) -> dict[str, Any]:
        """The registry value as a plain dict, in the contract's key order."""
        return {
            "id": self.id,
            "service": self.service,
            "transport": {"http": self.http, "grpc": self.grpc},
            "version": self.version,
            "meta": dict(self.meta),
        }

    def to_json(self) -> str:
        """The registry value as compact JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Instance:
        """Parse a registry value, raising :class:`InvalidInstance` with the reason."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInstance(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInstance("not a JSON object")
        transport = data.get("transport") or {}
        if not isinstance(transport, dict):
            raise InvalidInstance("transport must be an object")
        try:
            return cls(
                id=data.get("id"),
                service=data.get("service"),
                http=transport.get("http"),
                grpc=transport.get("grpc"),
                version=data.get("version", ""),
                meta=data.get("meta") or {},
            )
        except TypeError as exc:
            raise InvalidInstance(str(exc)) from None


def service_prefix(service: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The key prefix under which every instance of ``service`` lives (ends in '/')."""
    return f"{prefix.rstrip('/')}/{service}/"


def _check_address(name: str, address: object) -> None:
    if address is None:
        return
    if not isinstance(address, str):
        raise InvalidInstance(f"transport.{name} must be \"host:port\" or null")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInstance(f"transport.{name} must be \"host:port\", got {address!r}")
