"""A service's configuration for tests: free loopback ports, short lease and grace.

::

    app = build(local_config("book", {"KIT_INSTANCE_ID": "book-1"})).start()
    requests.get(f"http://{app.config.http_address}/healthz")
    app.stop()

Every service's ``build(config)`` takes it, so a test runs a service wired
exactly as its ``main`` wires it, without a process of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from kitcore.config import KitConfig
from kitcore.testing.process import free_port

JWT_SECRET = secrets.token_urlsafe(32)
"""This test process's ``KIT_JWT_SECRET``: random, shared by every instance it runs."""


def local_environ(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``KIT_*`` settings for an instance on 127.0.0.1, free ports, ``env`` on top."""
    return {
        "KIT_HTTP_PORT": str(free_port()),
        "KIT_GRPC_PORT": str(free_port()),
        "KIT_ADVERTISE_HOST": "127.0.0.1",
        "KIT_REGISTER_TTL": "2",  # a stopped instance leaves etcd within 2 s
        "KIT_SHUTDOWN_GRACE": "1",  # tests stop instances often
        "DATABASE_URL": "sqlite://",  # in memory, unless the test says otherwise
        "KIT_JWT_SECRET": JWT_SECRET,
        **(env or {}),
    }


def local_config(service: str, env: Mapping[str, str] | None = None) -> KitConfig:
    """The :class:`KitConfig` of one test instance of ``service`` (see :func:`local_environ`)."""
    return KitConfig.from_env(service, local_environ(env))
