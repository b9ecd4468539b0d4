"""The faults the chaos run injects into the compose stack, each with its undo:
kill and start a container, stop one, restart one, pause and unpause one,
disconnect it from the stack's network and connect it again (with the same
DNS aliases, so ``book-2`` still resolves to it).

On a busy machine the engine refuses some of these now and then (``docker
pause``: "unable to freeze", the cgroup freezer gave up). Each engine call is
tried again a few times; a pause that still fails falls back to stopping the
container's main process with SIGSTOP (SIGCONT to undo), which freezes it
just as well for its peers. A fault that cannot be injected at all is recorded
in :attr:`Faults.not_injected` for the report instead of failing the run.

:meth:`Faults.heal` undoes whatever is still broken (unpause, reconnect,
start), so a failed run leaves the stack whole.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from integration.compose import Compose, ComposeError

ATTEMPTS = 4
"""Tries of one engine call that failed for a transient reason."""

TRANSIENT = ("unable to freeze", "device or resource busy", "context deadline exceeded",
             "timed out", "try again")
"""Words of the engine's transient refusals (matched in lower case)."""


@dataclass(frozen=True)
class _Link:
    """Where a container was attached: its network and its DNS aliases there."""

    network: str
    aliases: tuple[str, ...]


@dataclass
class Faults:
    """Fault injection on the services of one compose project."""

    compose: Compose
    not_injected: list[str] = field(default_factory=list)
    """Faults the engine would not inject, each with its reason (for the report)."""
    retried: list[str] = field(default_factory=list)
    """Engine calls that succeeded only after a retry or through the fallback."""
    _paused: dict[str, str] = field(default_factory=dict)  # service -> "pause" or "sigstop"
    _cut: dict[str, list[_Link]] = field(default_factory=dict)
    _down: set[str] = field(default_factory=set)

    def kill(self, service: str) -> bool:
        """SIGKILL the service's container (no drain, no deregistration)."""
        self._down.add(service)
        return self._inject(f"kill {service}", lambda: self.compose.kill(service))

    def stop(self, service: str) -> bool:
        """Stop (SIGTERM) the service's container; :meth:`start` undoes it."""
        self._down.add(service)
        return self._inject(f"stop {service}", lambda: self.compose.stop(service))

    def start(self, service: str) -> None:
        """Start the service's stopped container again."""
        self._engine(f"start {service}", lambda: self.compose.start(service))
        self._down.discard(service)

    def restart(self, service: str) -> bool:
        """Stop (SIGTERM) and start the service's container."""
        self._down.add(service)
        done = self._inject(f"restart {service}", lambda: self.compose.restart(service))
        self._down.discard(service)
        return done

    def pause(self, service: str) -> bool:
        """Freeze every process of the container (it keeps its sockets, answers nothing).

        ``docker pause`` first; if the engine keeps refusing, SIGSTOP.
        """
        try:
            self._engine(f"pause {service}", lambda: self.compose.run("pause", service))
            self._paused[service] = "pause"
            return True
        except (ComposeError, RuntimeError, subprocess.TimeoutExpired) as exc:
            first = _reason(exc)
        self.retried.append(f"pause {service}: {first}; SIGSTOP instead")
        return self._inject(f"SIGSTOP {service}", lambda: self._signal(service, "SIGSTOP"),
                            then=lambda: self._paused.__setitem__(service, "sigstop"))

    def unpause(self, service: str) -> None:
        """Let a paused container run again."""
        how = self._paused.get(service)
        if how == "pause":
            self._engine(f"unpause {service}", lambda: self.compose.run("unpause", service))
        elif how == "sigstop":
            self._engine(f"SIGCONT {service}", lambda: self._signal(service, "SIGCONT"))
        self._paused.pop(service, None)

    def disconnect(self, service: str) -> bool:
        """Take the container off every network it is on (its peers' packets go nowhere)."""
        container = self._inspect(service)
        links = [_Link(name, tuple(_aliases(net, service)))
                 for name, net in container["NetworkSettings"]["Networks"].items()]
        self._cut[service] = links

        def cut() -> None:
            for link in links:
                _docker("network", "disconnect", link.network, container["Id"])

        return self._inject(f"disconnect {service}", cut)

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

    def _signal(self, service: str, signal: str) -> None:
        _docker("kill", "--signal", signal, self._inspect(service)["Id"])

    def _inject(self, what: str, action: Any, then: Any = None) -> bool:
        """Run ``action``; False (recorded in :attr:`not_injected`) if the engine refused."""
        try:
            self._engine(what, action)
        except (ComposeError, RuntimeError, subprocess.TimeoutExpired) as exc:
            self.not_injected.append(f"{what}: {_reason(exc)}")
            return False
        if then is not None:
            then()
        return True

    def _engine(self, what: str, action: Any) -> None:
        """Run an engine call, again after a transient refusal (up to :data:`ATTEMPTS`)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                action()
            except (ComposeError, RuntimeError, subprocess.TimeoutExpired) as exc:
                if attempt == ATTEMPTS or not _transient(exc):
                    raise
                time.sleep(0.5 * attempt)
                continue
            if attempt > 1:
                self.retried.append(f"{what}: succeeded on try {attempt}")
            return


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, subprocess.TimeoutExpired) or any(
        word in str(exc).lower() for word in TRANSIENT)


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[-1][:200] if lines else type(exc).__name__


def _aliases(network: dict[str, Any], service: str) -> list[str]:
    """The container's aliases on ``network``, always including the service name."""
    aliases = [a for a in network.get("Aliases") or [] if a]
    return aliases if service in aliases else [service, *aliases]


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout
