"""Typed configuration read once from the environment.

:meth:`KitConfig.from_env` reads every ``KIT_*`` setting (plus the standard
``OTEL_*`` names and ``DATABASE_URL``) into one frozen :class:`KitConfig`.
Nothing deeper in a service reads ``os.environ``: ``main`` builds the config
and passes what each part needs. A value that does not parse raises a
ValueError that names the variable. An unset or empty variable takes its
default, and the defaults let a service run alone on a laptop.

:func:`env_str`, :func:`env_int`, :func:`env_float`, :func:`env_list`,
:func:`env_rate` and :func:`env_storage_uri` read a service's own extra
settings the same way (the gateway's rate limit and breaker, for one).
KitConfig holds only what kitcore or every service reads; the ``OTEL_*``
variables are read by :mod:`kitcore.tracing` (only the protocol is checked
here, so a wrong one stops the start at once).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import limits

Environ = Mapping[str, str]
"""Where settings are read from: ``os.environ`` or a plain dict in tests."""

DEFAULT_JWT_ISSUER = "kitcore-user"
"""The ``iss`` of login tokens: the user service signs them, the gateway checks it."""

DEFAULT_JWT_AUDIENCE = "kitcore"
"""The ``aud`` of login tokens: the user service signs them, the gateway checks it."""

HTTP_SERVERS = ("granian", "waitress")
"""The WSGI servers ``KIT_HTTP_SERVER`` may name (:mod:`kitcore.http_servers`)."""

DEFAULT_HTTP_SERVER = "granian"
"""The WSGI server used when ``KIT_HTTP_SERVER`` is unset."""

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _raw(name: str, environ: Environ) -> str | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _check_range(
    name: str, raw: str, value: float, minimum: float | None, maximum: float | None
) -> None:
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={raw!r}: must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}={raw!r}: must be at most {maximum}")


def env_str(name: str, default: str, environ: Environ = os.environ) -> str:
    """The variable ``name`` as a string (surrounding blanks removed), or ``default``."""
    value = _raw(name, environ)
    return default if value is None else value


def env_int(
    name: str,
    default: int,
    environ: Environ = os.environ,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """The variable ``name`` as an integer within [minimum, maximum], or ``default``."""
    raw = _raw(name, environ)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: not an integer") from None
    _check_range(name, raw, value, minimum, maximum)
    return value


def env_float(
    name: str,
    default: float,
    environ: Environ = os.environ,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """The variable ``name`` as a number within [minimum, maximum], or ``default``."""
    raw = _raw(name, environ)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name}={raw!r}: not a finite number")
    _check_range(name, raw, value, minimum, maximum)
    return value


def env_list(
    name: str, default: tuple[str, ...] = (), environ: Environ = os.environ
) -> tuple[str, ...]:
    """The comma-separated variable ``name`` as a tuple of non-empty items, or ``default``."""
    raw = _raw(name, environ)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _host_port_list(name: str, environ: Environ) -> tuple[str, ...]:
    items = env_list(name, (), environ)
    for item in items:
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{name}: {item!r} is not host:port")
    return items


def env_rate(name: str, default: str, environ: Environ = os.environ) -> str:
    """The variable ``name`` as a rate the limits library parses ("20/second"), or ``default``."""
    value = env_str(name, default, environ)
    try:
        limits.parse(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: not a rate like '20/second'") from None
    return value


def env_storage_uri(name: str, default: str, environ: Environ = os.environ) -> str:
    """The variable ``name`` as a rate-limit storage URI (memory:// or redis://), or ``default``."""
    value = env_str(name, default, environ)
    if not value.startswith(("memory://", "redis://", "rediss://")):
        raise ValueError(f"{name}={value!r}: must start with memory:// or redis://")
    return value


def _log_level(name: str, default: str, environ: Environ) -> str:
    value = env_str(name, default, environ).upper()
    if value not in _LOG_LEVELS:
        raise ValueError(f"{name}={value!r}: must be one of {', '.join(_LOG_LEVELS)}")
    return value


def _otlp_protocol(environ: Environ) -> str:
    name = "OTEL_EXPORTER_OTLP_PROTOCOL"
    value = env_str(name, "http/protobuf", environ)
    if value != "http/protobuf":
        raise ValueError(f"{name}={value!r}: only http/protobuf is supported")
    return value


def _http_server(name: str, environ: Environ) -> str:
    value = env_str(name, DEFAULT_HTTP_SERVER, environ).lower()
    if value not in HTTP_SERVERS:
        raise ValueError(f"{name}={value!r}: must be one of {', '.join(HTTP_SERVERS)}")
    return value


def _port(name: str, default: int, environ: Environ) -> int:
    return env_int(name, default, environ, minimum=0, maximum=65535)


@dataclass(frozen=True)
class KitConfig:
    """Every kitcore setting of one service instance, read once at start."""

    service_name: str
    instance_id: str
    http_port: int  # 0: no HTTP server
    grpc_port: int  # 0: no gRPC server
    advertise_host: str
    etcd_endpoints: tuple[str, ...]  # empty: no registration
    register_ttl: int
    jwt_secret: str  # empty: unset (read it through jwt_key(), which refuses that)
    jwt_issuer: str
    jwt_audience: str
    admin_user: str
    admin_password: str  # empty: the admin routes refuse everyone
    fault_error_rate: float
    fault_latency_ms: int
    log_level: str
    database_url: str  # empty: the service's own default (SQLite when run alone)
    request_timeout: float
    concurrency_limit: int  # 0: no adaptive concurrency limit
    concurrency_latency: float  # seconds a call may take before the limit shrinks
    shutdown_grace: float
    http_threads: int  # the HTTP server's threads running the app: requests served at once
    http_server: str  # the WSGI server, one of HTTP_SERVERS (kitcore.http_servers)

    def jwt_key(self) -> str:
        """``KIT_JWT_SECRET``, which signs (user) and checks (gateway) access tokens.

        ValueError when it is unset: there is no default, as a secret written in the
        repository would let anyone who reads it sign a token for any user.
        """
        if not self.jwt_secret:
            raise ValueError("KIT_JWT_SECRET is not set: access tokens are signed and checked "
                             "with it (make up writes a random one into .env)")
        return self.jwt_secret

    @property
    def http_address(self) -> str:
        """``advertise_host:http_port`` as other services reach it ("" when off)."""
        return f"{self.advertise_host}:{self.http_port}" if self.http_port else ""

    @property
    def grpc_address(self) -> str:
        """``advertise_host:grpc_port`` as other services reach it ("" when off)."""
        return f"{self.advertise_host}:{self.grpc_port}" if self.grpc_port else ""

    @classmethod
    def from_env(
        cls,
        service_name: str,
        environ: Environ = os.environ,
        *,
        http_port: int = 8080,
        grpc_port: int = 50051,
    ) -> KitConfig:
        """Read the configuration; ``service_name`` and the ports are the defaults."""
        hostname = socket.gethostname()
        service = env_str("KIT_SERVICE_NAME", service_name, environ)
        _otlp_protocol(environ)  # read by kitcore.tracing; a wrong one stops the start here
        return cls(
            service_name=service,
            instance_id=env_str("KIT_INSTANCE_ID", hostname, environ),
            http_port=_port("KIT_HTTP_PORT", http_port, environ),
            grpc_port=_port("KIT_GRPC_PORT", grpc_port, environ),
            advertise_host=env_str("KIT_ADVERTISE_HOST", hostname, environ),
            etcd_endpoints=_host_port_list("KIT_ETCD_ENDPOINTS", environ),
            register_ttl=env_int("KIT_REGISTER_TTL", 10, environ, minimum=2),
            jwt_secret=env_str("KIT_JWT_SECRET", "", environ),
            jwt_issuer=env_str("KIT_JWT_ISSUER", DEFAULT_JWT_ISSUER, environ),
            jwt_audience=env_str("KIT_JWT_AUDIENCE", DEFAULT_JWT_AUDIENCE, environ),
            admin_user=env_str("KIT_ADMIN_USER", "admin", environ),
            admin_password=env_str("KIT_ADMIN_PASSWORD", "", environ),
            fault_error_rate=env_float(
                "KIT_FAULT_ERROR_RATE", 0.0, environ, minimum=0.0, maximum=1.0
            ),
            fault_latency_ms=env_int("KIT_FAULT_LATENCY_MS", 0, environ, minimum=0),
            log_level=_log_level("KIT_LOG_LEVEL", "INFO", environ),
            database_url=env_str("DATABASE_URL", "", environ),
            request_timeout=env_float("KIT_REQUEST_TIMEOUT", 5.0, environ, minimum=0.001),
            concurrency_limit=env_int("KIT_CONCURRENCY_LIMIT", 0, environ, minimum=0),
            concurrency_latency=env_float(
                "KIT_CONCURRENCY_LATENCY", 0.05, environ, minimum=0.001
            ),
            shutdown_grace=env_float("KIT_SHUTDOWN_GRACE", 10.0, environ, minimum=0.0),
            http_threads=env_int("KIT_HTTP_THREADS", 8, environ, minimum=1),
            http_server=_http_server("KIT_HTTP_SERVER", environ),
        )
