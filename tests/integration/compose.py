"""Drive the suite's compose project: stop, kill and start containers, read logs,
run Python inside a container of the stack.

The same command, files and project name as pytest-docker's fixtures are used,
so everything here acts on the one stack the session brought up. Backends that
are not published to the host (etcd, gateway-2, the admin routes) are reached
by running a short Python program inside a container of the stack.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class ComposeError(RuntimeError):
    """A compose or docker command exited non-zero."""


class Compose:
    """One compose project: ``<command> -f <file>... -p <project> <subcommand>``."""

    def __init__(self, command: str, files: Sequence[str | Path], project: str) -> None:
        self.project = project
        self._base = shlex.split(command)
        for path in files:
            self._base += ["-f", str(path)]
        self._base += ["-p", project]

    def run(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        """Run one compose subcommand; its stdout (stderr is added to a failure)."""
        return _run([*self._base, *args], timeout=timeout, check=check)

    def stop(self, *services: str) -> None:
        """Stop services gracefully (SIGTERM, as ``docker stop``)."""
        self.run("stop", *services)

    def kill(self, *services: str) -> None:
        """Kill services at once (SIGKILL: no deregistration, no drain)."""
        self.run("kill", "-s", "SIGKILL", *services)

    def start(self, *services: str) -> None:
        """Start stopped services again (same containers, same data)."""
        self.run("start", *services)

    def restart(self, *services: str) -> None:
        """Restart services (stop, then start the same containers)."""
        self.run("restart", *services)

    def up(self, *services: str, timeout: float = 180.0) -> None:
        """Bring services (default: all) up and wait until they are healthy.

        Not ``up --wait``: that gives up as soon as one healthcheck fails once,
        and on a starved machine a probe can time out while the service is fine
        (``docker exec`` alone has been seen to take 12 s at load 36). Here an
        unhealthy container is waited for like a starting one, up to ``timeout``.
        ``up -d`` itself gives up when a dependency it waits for is unhealthy
        at that moment; it is run again until the deadline.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.run("up", "-d", *services, timeout=timeout + 30)
                break
            except ComposeError as exc:
                if "unhealthy" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(2.0)
        self.wait_healthy(max(1.0, deadline - time.monotonic()))

    def wait_healthy(self, timeout: float) -> None:
        """Wait until every container of the project is healthy (or running, if it
        has no healthcheck); at the deadline, fail naming the ones that are not."""
        deadline = time.monotonic() + timeout
        while True:
            sick = self._not_healthy()
            if not sick:
                return
            if time.monotonic() >= deadline:
                raise ComposeError(f"not healthy after {timeout:g}s: {sick}")
            time.sleep(2.0)

    def _not_healthy(self) -> dict[str, str]:
        ids = self.run("ps", "-a", "-q").split()
        if not ids:
            return {"(project)": "no containers"}
        sick = {}
        for container in json.loads(_run(["docker", "inspect", *ids])):
            state = container["State"]
            health = (state.get("Health") or {}).get("Status")
            ok = health == "healthy" if health else state["Status"] == "running"
            if not ok:
                name = container["Config"]["Labels"].get("com.docker.compose.service", "?")
                sick[name] = health or state["Status"]
        return sick

    def logs(self, *services: str, since: str = "") -> str:
        """The services' logs (all, or since an RFC 3339 time), without colours or prefixes."""
        window = ["--since", since] if since else []
        return self.run("logs", "--no-color", "--no-log-prefix", *window, *services, timeout=60)

    def env(self, service: str) -> dict[str, str]:
        """The environment the service's container runs with."""
        pairs = self.container(service)["Config"]["Env"] or []
        return dict(pair.split("=", 1) for pair in pairs)

    def container(self, service: str) -> dict[str, Any]:
        """``docker inspect`` of the service's container."""
        container_id = self.run("ps", "-a", "-q", service).strip()
        if not container_id:
            raise ComposeError(f"no container for service {service}")
        return json.loads(_run(["docker", "inspect", container_id]))[0]

    def started_at(self, service: str) -> str:
        """When the service's container last started (changes on any restart)."""
        return str(self.container(service)["State"]["StartedAt"])

    def health(self, service: str) -> str:
        """The container's health status (``healthy``, ``starting``, ...) or its state."""
        state = self.container(service)["State"]
        return str((state.get("Health") or {}).get("Status") or state["Status"])

    def python(self, service: str, code: str, *args: str, timeout: float = 30.0) -> str:
        """Run ``python3 -c code args...`` inside the service's container; its stdout."""
        return self.run("exec", "-T", service, "python3", "-c", code, *args, timeout=timeout)

    def python_json(self, service: str, code: str, *args: str, timeout: float = 30.0) -> Any:
        """Like :meth:`python` for a program that prints one JSON document."""
        return json.loads(self.python(service, code, *args, timeout=timeout))


def _run(argv: list[str], *, timeout: float = 120.0, check: bool = True) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ComposeError(f"{shlex.join(argv)} timed out after {timeout}s") from exc
    if check and done.returncode != 0:
        raise ComposeError(
            f"{shlex.join(argv)} exited {done.returncode}:\n{done.stderr.strip()}\n"
            f"{done.stdout.strip()}"[-4000:]
        )
    return done.stdout
