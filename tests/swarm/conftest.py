"""The swarm suite's fixtures: a three-node swarm with the stack deployed once.

Nothing here touches this host's own engine beyond running the three node
containers: the swarm lives inside them. The stack's images are the ones
`make images` built for ``KIT_IMAGE_TAG`` (default ``latest``); the nodes'
image is built by ``scripts/build-images.sh swarm-node`` when missing.
``SWARM_KEEP=1`` leaves the nodes running after the run, for a look inside;
``SWARM_REUSE=<prefix>`` (the nodes' name prefix, kitcore-swarm-xxxxxx) runs
the tests again on such a kept swarm with its stack already deployed.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest
from integration.api import Gateway, User
from swarm.cluster import Cluster
from swarm.results import RESULTS
from swarm.stack import ROOT, Stack, stack_images, swarm_up

SETTINGS = {
    # A budget no test reaches: the suite's clients all come from one address.
    "KIT_RATE_LIMIT": "1000/second",
    # The stack's default lease: a lost node's instances leave etcd within 10 s.
    # (5 s, as the compose suite uses, let leases lapse here: keepalives get
    # TTL/3 to answer, and etcd took longer than 1.7 s at a load average of 100.)
    "KIT_REGISTER_TTL": "10",
    "GATEWAY_PORT": "8080",
    # Secrets of this run only.
    **{name: secrets.token_hex(20)
       for name in ("KIT_JWT_SECRET", "KIT_ADMIN_PASSWORD", "POSTGRES_PASSWORD")},
}
"""The stack's settings for the suite (the variables docker-compose.yml reads)."""

CONVERGE_TIMEOUT = 600
"""Seconds every service may take to run all its replicas (2 busy cores)."""

def pytest_terminal_summary(terminalreporter):
    for name, figures in RESULTS.items():
        terminalreporter.write_line(f"swarm: {name}: {figures}")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """Three nodes, one manager and two workers, formed into a swarm."""
    reuse = os.environ.get("SWARM_REUSE")
    if reuse:
        cluster = Cluster("", prefix=reuse)
        cluster.attach()
        yield cluster
        return
    image = subprocess.run([str(ROOT / "scripts/build-images.sh"), "swarm-node"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.strip()
    cluster = Cluster(image)
    try:
        cluster.start()
        yield cluster
    finally:
        if not os.environ.get("SWARM_KEEP"):
            cluster.stop()


@pytest.fixture(scope="session")
def stack(cluster: Cluster, tmp_path_factory) -> Stack:
    """The kitcore stack, deployed and converged, its images on every node."""
    if os.environ.get("SWARM_REUSE"):
        return Stack(cluster.manager)
    workdir = tmp_path_factory.mktemp("swarm")
    stack_file = workdir / "stack.yml"
    subprocess.run([sys.executable, str(ROOT / "scripts/swarm_stack.py")], cwd=ROOT, check=True,
                   env={**os.environ, **SETTINGS}, stdout=stack_file.open("w"))
    pinned, anywhere = stack_images(stack_file)
    cluster.load_images(pinned + anywhere, [cluster.manager], workdir)
    cluster.load_images(anywhere, cluster.nodes[1:], workdir)
    swarm_up(cluster.manager, stack_file, SETTINGS, CONVERGE_TIMEOUT)
    return Stack(cluster.manager)


@pytest.fixture(scope="session")
def gateway(cluster: Cluster, stack: Stack) -> Iterator[Gateway]:
    """The gateway through the swarm's published port on the manager."""
    client = Gateway(f"http://{cluster.manager.address}:{SETTINGS['GATEWAY_PORT']}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def writer(gateway: Gateway) -> User:
    """A signed-up user who writes books."""
    return gateway.new_user("Writer")
