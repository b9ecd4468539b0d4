"""The running stack for the integration suite, brought up and down by pytest-docker.

- Compose: the ``COMPOSE`` command the Makefile exports (``docker compose`` or
  the venv's Compose binary; never Debian's v1), the repo's docker-compose.yml
  plus ``docker-compose.override.yml`` from this folder (short lease TTL, small
  rate limit, quick breaker reset, fast span export), project ``kitcore-it``
  (or ``IT_PROJECT``).
  The project directory is the repo root, so compose reads the repo's ``.env``
  (the image names ``make images`` wrote). Images are built by ``make images``
  beforehand; nothing is built here.
- Ports: the published ports are free ports picked for this run (or the
  ``IT_*_PORT`` variables), passed to compose through the environment, so a
  ``make up`` stack on the default ports is left alone.
- Secrets: the suite's own random ``KIT_JWT_SECRET``, ``KIT_ADMIN_PASSWORD``
  and ``POSTGRES_PASSWORD`` (the stack has no defaults), kept per project in
  ``build/it-secrets/`` so a kept stack's database still accepts them.
- ``IT_KEEP_STACK=1`` leaves the stack running after the run (the next run
  reuses it), which makes running one test again quick.
- Order: tests marked ``disruptive`` (they stop, kill or break something and
  restore it afterwards) run after all others, the etcd outage last.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.api import Gateway, User
from integration.compose import Compose
from integration.stack import Stack

from kitcore.testing.process import free_port

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PROJECT = os.environ.get("IT_PROJECT") or "kitcore-it"
"""The compose project; ``IT_PROJECT`` names another, so two runs can share a machine."""

PORT_VARIABLES = {
    "GATEWAY_PORT": "IT_GATEWAY_PORT",
    "JAEGER_UI_PORT": "IT_JAEGER_UI_PORT",
    "PROMETHEUS_PORT": "IT_PROMETHEUS_PORT",
}
"""The stack's published-port variable -> the variable that fixes it for the suite."""

SECRET_VARIABLES = ("KIT_JWT_SECRET", "KIT_ADMIN_PASSWORD", "POSTGRES_PASSWORD")
"""The stack's secrets, which compose requires and the suite makes up itself."""

STARTUP_TIMEOUT = 240
"""Seconds the whole stack may take to become healthy (2 busy cores)."""

_ORDER = [
    "test_bad_input",
    "test_registration",
    "test_balancing",
    "test_metrics",
    "test_tracing",
    "test_limiting",
    "test_breaking",
    "test_failover",
    "test_persistence",
    "test_etcd_outage",
]


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and pick the published ports before compose runs."""
    config.addinivalue_line(
        "markers", "disruptive: stops, kills or breaks part of the stack (restored afterwards)"
    )
    for stack_variable, suite_variable in PORT_VARIABLES.items():
        os.environ[stack_variable] = os.environ.get(suite_variable) or str(free_port())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run disruptive tests last, each group in the order of :data:`_ORDER`."""

    def key(item: pytest.Item) -> tuple[bool, int]:
        module = Path(str(item.fspath)).stem
        rank = _ORDER.index(module) if module in _ORDER else len(_ORDER)
        return item.get_closest_marker("disruptive") is not None, rank

    items.sort(key=key)


def _compose_command() -> str:
    command = os.environ.get("COMPOSE")
    if command:
        return command
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return "docker compose"
    venv_compose = ROOT / ".venv" / "bin" / "docker-compose"
    if venv_compose.exists():
        return str(venv_compose)
    pytest.exit("no current Compose: run through `make test-integration`", returncode=2)


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    """The Makefile's Compose (``docker compose`` or the venv's binary), never v1."""
    return _compose_command()


@pytest.fixture(scope="session")
def docker_compose_file() -> list[str]:
    """The stack's file first (so the repo root is the project directory), then ours."""
    return [str(ROOT / "docker-compose.yml"), str(HERE / "docker-compose.override.yml")]


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    """A project of its own, apart from a ``make up`` stack."""
    return PROJECT


def _use_own_secrets() -> None:
    """Put this project's random secrets into the environment compose reads first."""
    path = ROOT / "build" / "it-secrets" / f"{PROJECT}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        values = {name: secrets.token_hex(20) for name in SECRET_VARIABLES}
        path.touch(mode=0o600)
        path.write_text(json.dumps(values))
    os.environ.update(json.loads(path.read_text()))


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    """Nothing for pytest-docker to run: the ``stack`` fixture starts everything and
    waits for every healthcheck (see Compose.up); images come from `make images`."""
    if shutil.which("docker") is None:
        pytest.exit("docker is not installed", returncode=2)
    _use_own_secrets()
    return []  # the stack fixture starts it: Compose.up rides out a healthcheck that fails once


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    """Remove containers and volumes, unless IT_KEEP_STACK=1."""
    if os.environ.get("IT_KEEP_STACK") == "1":
        return []
    return ["down -v --remove-orphans"]


@pytest.fixture(scope="session")
def stack(docker_services: object, docker_ip: str, docker_compose_command: str,
          docker_compose_file: list[str]) -> Iterator[Stack]:
    """The whole stack, up, healthy, registered and serving through the gateway."""
    def url(variable: str) -> str:
        return f"http://{docker_ip}:{os.environ[variable]}"

    compose = Compose(docker_compose_command, docker_compose_file, PROJECT)
    compose.up(timeout=STARTUP_TIMEOUT)
    api = Gateway(url("GATEWAY_PORT"))
    running = Stack(compose, url("GATEWAY_PORT"), url("JAEGER_UI_PORT"),
                    url("PROMETHEUS_PORT"), api, startup_timeout=STARTUP_TIMEOUT)
    running.wait_registered(timeout=60)
    running.wait_serving(timeout=60)
    yield running
    api.close()


@pytest.fixture
def restore_stack(stack: Stack) -> Iterator[Stack]:
    """For a disruptive test: the stack, restored to whole and serving afterwards."""
    yield stack
    stack.restore()


@pytest.fixture
def user(stack: Stack) -> User:
    """A fresh signed-up user with a token."""
    return stack.api.new_user()
