"""A three-node Docker Swarm on this one machine, made of Docker-in-Docker nodes.

Each node is a container of the swarm-node image
(docker/swarm-node: Debian's Docker engine) on a private bridge network, with
its engine listening on tcp 2375 there, so this host's docker CLI drives it
with ``DOCKER_HOST``. One manager, two workers. The host's own engine never
joins or leaves a swarm: compose stacks on this machine are left alone.

The stack's images are copied into every node (``docker save | docker load``),
as there is no registry.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ENGINE_PORT = 2375
NODE_OPTIONS = ("--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                "--security-opt", "systempaths=unconfined", "--device", "/dev/fuse")
"""What a node needs to run an engine: nearly --privileged, which some hosts
refuse (their engine may not grant CAP_SYS_RESOURCE, and --privileged asks for
every capability). docker/swarm-node makes its cgroups writable itself."""
START_TIMEOUT = 90.0
"""Seconds a node's engine may take to answer."""


class DockerError(RuntimeError):
    """A docker command that failed, with its output."""


def docker(*args: str, host: str | None = None, stdin=None, timeout: float = 600) -> str:
    """Run the docker CLI (against ``host``'s engine when given); its stdout."""
    env = dict(os.environ)
    env.pop("DOCKER_CONTEXT", None)
    if host:
        env["DOCKER_HOST"] = f"tcp://{host}:{ENGINE_PORT}"
    done = subprocess.run(["docker", *args], env=env, stdin=stdin, capture_output=True,
                          text=stdin is None, timeout=timeout)
    if done.returncode != 0:
        err = done.stderr if isinstance(done.stderr, str) else done.stderr.decode()
        raise DockerError(f"docker {' '.join(args)}: {err.strip()}")
    return done.stdout if isinstance(done.stdout, str) else done.stdout.decode()


@dataclass
class Node:
    """One swarm node: its container on this host and its address."""

    name: str
    hostname: str
    address: str = ""

    def docker(self, *args: str, **kwargs) -> str:
        """Run the docker CLI against this node's engine."""
        return docker(*args, host=self.address, **kwargs)


@dataclass
class Cluster:
    """Three swarm nodes on a private network; ``nodes[0]`` is the manager."""

    image: str
    prefix: str = field(default_factory=lambda: f"kitcore-swarm-{uuid.uuid4().hex[:6]}")
    nodes: list[Node] = field(default_factory=list)

    @property
    def manager(self) -> Node:
        """The manager node, where stacks are deployed."""
        return self.nodes[0]

    @property
    def network(self) -> str:
        """The host bridge network the nodes share."""
        return self.prefix

    def attach(self) -> None:
        """Use the running nodes of an earlier run with this ``prefix`` (kept by SWARM_KEEP=1)."""
        for role in ("manager", "worker-1", "worker-2"):
            node = Node(f"{self.prefix}-{role}", role)
            node.address = _address(node.name, self.network)
            self.nodes.append(node)

    def start(self) -> None:
        """Start the three engines and form the swarm."""
        docker("network", "create", "--label", "kitcore.swarm-test=1", self.network)
        for role in ("manager", "worker-1", "worker-2"):
            node = Node(f"{self.prefix}-{role}", role)
            docker("run", "-d", *NODE_OPTIONS, "--name", node.name, "--hostname", role,
                   "--label", "kitcore.swarm-test=1", "--network", self.network,
                   self.image, f"--host=tcp://0.0.0.0:{ENGINE_PORT}")
            node.address = _address(node.name, self.network)
            self.nodes.append(node)
        for node in self.nodes:
            _wait_for_engine(node)
        self.manager.docker("swarm", "init", "--advertise-addr", self.manager.address)
        token = self.manager.docker("swarm", "join-token", "-q", "worker").strip()
        for node in self.nodes[1:]:
            node.docker("swarm", "join", "--token", token, f"{self.manager.address}:2377")

    def load_images(self, images: list[str], nodes: list[Node], workdir: Path) -> None:
        """Copy ``images`` from this host into ``nodes``: saved once, loaded in parallel."""
        archive = workdir / "images.tar"
        docker("save", "-o", str(archive), *images, timeout=900)

        def load(node: Node) -> None:
            with archive.open("rb") as stream:
                node.docker("load", "-q", stdin=stream, timeout=900)

        with ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(load, nodes))
        archive.unlink()

    def node_states(self) -> dict[str, str]:
        """Hostname -> the manager's view of that node ("ready", "down")."""
        out = self.manager.docker("node", "ls", "--format", "{{json .}}")
        rows = [json.loads(line) for line in out.splitlines()]
        return {row["Hostname"]: row["Status"].lower() for row in rows}

    def kill(self, node: Node) -> None:
        """Cut ``node`` off at once, as a power loss would: no task stops cleanly."""
        docker("kill", node.name)

    def stop(self) -> None:
        """Remove the nodes (with their image stores) and the network."""
        for node in self.nodes:
            subprocess.run(["docker", "rm", "-f", "-v", node.name], capture_output=True)
        subprocess.run(["docker", "network", "rm", self.network], capture_output=True)


def _wait_for_engine(node: Node) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            node.docker("info", "--format", "{{.ServerVersion}}", timeout=10)
            return
        except (DockerError, subprocess.TimeoutExpired):
            if time.monotonic() > deadline:
                logs = docker("logs", "--tail", "30", node.name)
                raise DockerError(f"{node.name}: engine did not start\n{logs}") from None
            time.sleep(0.5)


def _address(container: str, network: str) -> str:
    return docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network}")'
                  '.IPAddress}}', container).strip()
