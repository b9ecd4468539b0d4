"""Helpers for tests that need real servers: start etcd, Redis or PostgreSQL
as child processes on free loopback ports, with data in a temporary folder.

Like Go's ``httptest``, this ships with the toolkit so that a service's own
tests can use it too. Nothing here is imported by production code.
"""
