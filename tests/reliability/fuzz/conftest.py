"""Fixtures for fuzzing without the compose stack, so the fuzzing runs with the
unit tests: everything is started in this process on free ports.

- ``fuzz_stack`` (one per module, so a fuzzing run pays the start once): the
  gateway in front of user and two book replicas (see inprocess_stack.py).
- ``book_instance`` / ``book_channel``: one book instance under kitcore's App
  (the gateway tests' helper) and a gRPC channel to it.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from gateway.tests.backends import Backend, new_book_store, start_book
from reliability.fuzz.inprocess_stack import FuzzStack, running_stack


@pytest.fixture(scope="module")
def fuzz_stack() -> Iterator[FuzzStack]:
    """Gateway + user + book-1 + book-2 in this process; stopped after the module."""
    with running_stack() as stack:
        yield stack


@pytest.fixture(scope="module")
def book_instance() -> Iterator[Backend]:
    """One book instance (HTTP + gRPC) over an empty catalogue in memory."""
    backend = start_book("book-fuzz", new_book_store())
    yield backend
    backend.stop()


@pytest.fixture(scope="module")
def book_channel(book_instance: Backend) -> Iterator[grpc.Channel]:
    """An insecure channel to the book instance's gRPC port."""
    channel = grpc.insecure_channel(book_instance.grpc)
    grpc.channel_ready_future(channel).result(timeout=10)
    yield channel
    channel.close()
