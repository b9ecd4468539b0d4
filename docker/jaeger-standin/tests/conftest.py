"""Make the stand-in package and these helpers importable; the ``standin`` fixture."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from standin_server import StandIn  # noqa: E402  (needs the path above)


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """Both servers on free ports, closed after the test."""
    server = StandIn()
    yield server
    server.close()
