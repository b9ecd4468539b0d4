"""The running stack for the reliability tests: the integration suite's own
fixtures (pytest-docker, same compose files, project and published ports),
reused as they are, so ``pytest tests/integration tests/reliability/stack``
brings the stack up once for both.

Run alone, this folder sets what the integration conftest would: free
published ports (or the ``IT_*_PORT`` variables) and the ``disruptive`` marker.
Disruptive tests (the chaos run) go after all others; in a joint run they go
after the integration suite's, so they run last of all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.conftest import (
    PORT_VARIABLES,
    docker_cleanup,
    docker_compose_command,
    docker_compose_file,
    docker_compose_project_name,
    docker_setup,
    restore_stack,
    stack,
    user,
)
from integration.stack import Stack
from reliability.stack import hog
from reliability.stack.faults import Faults

from kitcore.testing.process import free_port

__all__ = [  # the integration suite's fixtures, re-exported for this folder
    "docker_cleanup",
    "docker_compose_command",
    "docker_compose_file",
    "docker_compose_project_name",
    "docker_setup",
    "restore_stack",
    "stack",
    "user",
]


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and pick the published ports, as the integration conftest does.

    When both conftests load, both run before any fixture, each setting every
    port variable from ``IT_*_PORT`` or a free port; the last one wins for all.
    """
    config.addinivalue_line(
        "markers", "disruptive: stops, kills or breaks part of the stack (restored afterwards)"
    )
    for stack_variable, suite_variable in PORT_VARIABLES.items():
        os.environ[stack_variable] = os.environ.get(suite_variable) or str(free_port())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move this folder's disruptive tests after everything else (a stable sort)."""
    here = Path(__file__).resolve().parent

    def last(item: pytest.Item) -> bool:
        inside = here in Path(str(item.fspath)).resolve().parents
        return inside and item.get_closest_marker("disruptive") is not None

    items.sort(key=last)


@pytest.fixture
def faults(restore_stack: Stack) -> Iterator[Faults]:
    """Fault injection whose leftovers are undone, then the stack restored (restore_stack)."""
    injected = Faults(restore_stack.compose)
    yield injected
    injected.heal()


@pytest.fixture
def cpu_hog() -> Iterator[int]:
    """``CHAOS_CPU_HOG`` busy-looping processes for the test (how many: 0 for none)."""
    processes = hog.wanted()
    with hog.cpu_hog(processes):
        yield processes
