"""The kitcore stack deployed on a swarm with `docker stack deploy`.

The stack file is the one `make swarm-up` deploys (scripts/swarm_stack.py),
rendered here with the test's settings in the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from swarm.cluster import Node

ROOT = Path(__file__).resolve().parents[2]
CONVERGE_TIMEOUT = 300.0
"""Seconds every service may take to run all its replicas (2 busy cores)."""


def render_stack(path: Path, environ: dict[str, str]) -> None:
    """Write the stack file `make swarm-up` would deploy, with ``environ`` set."""
    with path.open("w") as out:
        subprocess.run([sys.executable, str(ROOT / "scripts/swarm_stack.py")], cwd=ROOT,
                       env={**os.environ, **environ}, stdout=out, check=True)


def stack_images(path: Path) -> list[str]:
    """Every image the stack file names."""
    services = yaml.safe_load(path.read_text())["services"]
    return sorted({s["image"] for s in services.values()})


@dataclass
class Stack:
    """A deployed stack, driven through the manager node."""

    manager: Node
    name: str = "kitcore"

    def deploy(self, stack_file: Path) -> None:
        """`docker stack deploy` from this host's CLI to the manager."""
        self.manager.docker("stack", "deploy", "--resolve-image", "never",
                            "-c", str(stack_file), self.name)

    def replicas(self) -> dict[str, tuple[int, int]]:
        """Service -> (running, wanted)."""
        out = self.manager.docker("service", "ls", "--filter",
                                  f"label=com.docker.stack.namespace={self.name}",
                                  "--format", "{{.Name}} {{.Replicas}}")
        found = {}
        for line in out.splitlines():
            name, counts = line.split()[:2]
            running, wanted = counts.split("/")
            found[name.removeprefix(f"{self.name}_")] = (int(running), int(wanted))
        return found

    def wait_converged(self, timeout: float = CONVERGE_TIMEOUT) -> None:
        """Wait until every service runs all its replicas."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.replicas()
            if counts and all(r == w for r, w in counts.values()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not converged after {timeout:g}s: {counts}")
            time.sleep(2)

    def tasks(self, service: str) -> list[dict]:
        """The running tasks of ``service`` (name, node)."""
        out = self.manager.docker("service", "ps", f"{self.name}_{service}",
                                  "--filter", "desired-state=running", "--format", "{{json .}}")
        return [json.loads(line) for line in out.splitlines()]

    def etcd_keys(self, prefix: str) -> list[str]:
        """The keys under ``prefix`` in the stack's etcd."""
        container = self.manager.docker("ps", "-q", "--filter",
                                        f"label=com.docker.swarm.service.name={self.name}_etcd"
                                        ).split()[0]
        out = self.manager.docker("exec", container, "etcdctl", "get", "--prefix",
                                  "--keys-only", prefix)
        return [line for line in out.splitlines() if line.strip()]

    def scale(self, service: str, replicas: int) -> None:
        """`docker service scale` and wait until it has converged."""
        self.manager.docker("service", "scale", "--detach", f"{self.name}_{service}={replicas}")

    def rolling_update(self, service: str) -> None:
        """Replace every task of ``service`` (as a new image would); returns when done."""
        self.manager.docker("service", "update", "--force", "--quiet",
                            f"{self.name}_{service}", timeout=900)
