"""The faults the chaos run injects into the compose stack, each with its undo:
kill and start a container, restart one, pause and unpause one, disconnect it
from the stack's network and connect it again (with the same DNS aliases, so
``book-2`` still resolves to it).

:meth:`Faults.heal` undoes whatever is still broken (unpause, reconnect,
start), so a failed run leaves the stack whole.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any

from integration.compose import Compose


@dataclass(frozen=True)
class _Link:
    """Where a container was attached: its network and its DNS aliases there."""

    network: str
    aliases: tuple[str, ...]


@dataclass
class Faults:
    """Fault injection on the services of one compose project."""

    compose: Compose
    _paused: set[str] = field(default_factory=set)
    _cut: dict[str, list[_Link]] = field(default_factory=dict)
    _down: set[str] = field(default_factory=set)

    def kill(self, service: str) -> None:
        """SIGKILL the service's container (no drain, no deregistration)."""
        self._down.add(service)
        self.compose.kill(service)

    def start(self, service: str) -> None:
        """Start the service's stopped container again."""
        self.compose.start(service)
        self._down.discard(service)

    def restart(self, service: str) -> None:
        """Stop (SIGTERM) and start the service's container."""
        self._down.add(service)
        self.compose.restart(service)
        self._down.discard(service)

    def pause(self, service: str) -> None:
        """Freeze every process of the container (it keeps its sockets, answers nothing)."""
        self._paused.add(service)
        self.compose.run("pause", service)

    def unpause(self, service: str) -> None:
        """Let a paused container run again."""
        self.compose.run("unpause", service)
        self._paused.discard(service)

    def disconnect(self, service: str) -> None:
        """Take the container off every network it is on (its peers' packets go nowhere)."""
        container = self._inspect(service)
        links = [_Link(name, tuple(_aliases(net, service)))
                 for name, net in container["NetworkSettings"]["Networks"].items()]
        self._cut[service] = links
        for link in links:
            _docker("network", "disconnect", link.network, container["Id"])

    def connect(self, service: str) -> None:
        """Put the container back on its networks under the same aliases."""
        container_id = self._inspect(service)["Id"]
        for link in self._cut.pop(service, []):
            aliases = [arg for alias in link.aliases for arg in ("--alias", alias)]
            _docker("network", "connect", *aliases, link.network, container_id)

    def heal(self) -> None:
        """Undo every fault still in place: unpause, reconnect, start."""
        for service in sorted(self._paused):
            self.unpause(service)
        for service in sorted(self._cut):
            self.connect(service)
        for service in sorted(self._down):
            self.start(service)

    def _inspect(self, service: str) -> dict[str, Any]:
        return self.compose.container(service)


def _aliases(network: dict[str, Any], service: str) -> list[str]:
    """The container's aliases on ``network``, always including the service name."""
    aliases = [a for a in network.get("Aliases") or [] if a]
    return aliases if service in aliases else [service, *aliases]


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout
