"""The kitcore stack deployed on a swarm with `docker stack deploy`.

Deployed by scripts/swarm-up.sh, the script behind `make swarm-up`, with the
test's settings in the environment and the manager node as DOCKER_HOST.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from swarm.cluster import ENGINE_PORT, Node

ROOT = Path(__file__).resolve().parents[2]


def swarm_up(manager: Node, stack_file: Path, environ: dict[str, str], timeout: float) -> None:
    """Deploy the stack on ``manager`` as `make swarm-up` does, and wait until it runs."""
    subprocess.run([str(ROOT / "scripts/swarm-up.sh")], cwd=ROOT, check=True, env={
        **os.environ, **environ, "DOCKER_HOST": f"tcp://{manager.address}:{ENGINE_PORT}",
        "SWARM_STACK_FILE": str(stack_file), "SWARM_TIMEOUT": str(int(timeout))})


def stack_images(path: Path) -> tuple[list[str], list[str]]:
    """The images of the stack's services that run on managers only, and of the others."""
    services = yaml.safe_load(path.read_text())["services"].values()
    pinned = {s["image"] for s in services
              if "node.role == manager" in s["deploy"].get("placement", {}).get("constraints", [])}
    anywhere = {s["image"] for s in services} - pinned
    return sorted(pinned), sorted(anywhere)


@dataclass
class Stack:
    """A deployed stack, driven through the manager node."""

    manager: Node
    name: str = "kitcore"

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
