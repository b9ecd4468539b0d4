"""Fixtures for the generated-service tests: a real etcd to register in."""

from kitcore.testing.fixtures import etcd  # noqa: F401 (a fixture)
