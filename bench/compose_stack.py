"""The running compose stack, as the stack benchmark sees it.

:class:`Stack` finds the containers of ``make up``'s project, their addresses
on the stack's network, their memory (``docker stats``), and recreates the
Python services with extra compose files (tracing off) and back.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PYTHON_SERVICES = ("book-1", "book-2", "user", "gateway", "gateway-2")
"""The stack's services that run kitcore."""

_UNITS = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10, "mib": 1 << 20,
          "gib": 1 << 30}


class Stack:
    """The compose project in the repository root (``make up``'s)."""

    def __init__(self) -> None:
        default = str(ROOT / ".venv" / "bin" / "docker-compose")
        self._compose = shlex.split(os.environ.get("COMPOSE") or default)

    def compose(self, *args: str, files: tuple[Path, ...] = ()) -> str:
        """Run compose in the repository root with the stack's files (+ ``files``)."""
        chosen: tuple[Path, ...] = ()
        if files:
            override = ROOT / "docker-compose.override.yml"
            chosen = (ROOT / "docker-compose.yml", *([override] if override.exists() else []),
                      *files)
        argv = [*self._compose, *[a for f in chosen for a in ("-f", str(f))], *args]
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def container(self, service: str) -> str:
        """The running container id of ``service``, or "" when it is not running."""
        try:
            return self.compose("ps", "-q", "--status", "running", service).strip()
        except RuntimeError:
            return ""

    def containers(self) -> list[str]:
        """Every running container of the project."""
        return self.compose("ps", "-q", "--status", "running").split()

    def healthy(self, service: str) -> bool:
        """True when ``service`` runs and its healthcheck passes."""
        cid = self.container(service)
        return bool(cid) and _inspect(cid, "{{.State.Health.Status}}") == "healthy"

    def address(self, service: str) -> str:
        """The container's IP on the stack's network."""
        return _inspect(self.container(service),
                        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}").split()[0]

    def network(self, service: str) -> str:
        """The name of the network ``service`` is attached to."""
        return _inspect(self.container(service),
                        "{{range $name, $n := .NetworkSettings.Networks}}{{$name}} {{end}}"
                        ).split()[0]

    def image(self, service: str) -> str:
        """The image ``service`` runs."""
        return _inspect(self.container(service), "{{.Config.Image}}")

    def environment(self, service: str) -> dict[str, str]:
        """The environment ``service``'s container runs with."""
        lines = _inspect(self.container(service), "{{range .Config.Env}}{{println .}}{{end}}")
        return dict(line.split("=", 1) for line in lines.splitlines() if "=" in line)

    def healthcheck(self, service: str) -> dict[str, float | str]:
        """``service``'s healthcheck command, its interval, and the CPU seconds one probe
        takes (the probe run three times in the container, children's rusage averaged)."""
        cid = self.container(service)
        check = json.loads(_inspect(cid, "{{json .Config.Healthcheck}}") or "null") or {}
        test = check.get("Test", [])
        command = test[1:] if test[:1] == ["CMD"] else ["sh", "-c", " ".join(test[1:])]
        script = ("import resource, subprocess, sys\n"
                  f"for _ in range(3): subprocess.run({command!r}, capture_output=True)\n"
                  "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
                  "print((r.ru_utime + r.ru_stime) / 3)")
        done = subprocess.run(["docker", "exec", cid, "python", "-c", script],
                              capture_output=True, text=True, timeout=60)
        return {"command": " ".join(command), "interval_s": check.get("Interval", 0) / 1e9,
                "cpu_s_per_probe": round(float(done.stdout or 0), 3)}

    def memory(self) -> dict[str, int]:
        """Bytes of memory each running container uses now (``docker stats``)."""
        ids = self.containers()
        if not ids:
            return {}
        out = subprocess.run(
            ["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", *ids],
            capture_output=True, text=True, check=True, timeout=60).stdout
        usage = {}
        for line in out.splitlines():
            name, mem = line.split("\t")
            usage[name] = _bytes(mem.split("/")[0])
        return usage

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds each running container has used so far (its cgroup's counter),
        healthcheck probes included; empty where the cgroup files are not readable."""
        usage = {}
        for cid in self.containers():
            seconds = _cgroup_cpu_seconds(_inspect(cid, "{{.Id}}"))
            if seconds is not None:
                usage[_inspect(cid, "{{.Name}}").lstrip("/")] = seconds
        return usage

    def recreate(self, services: tuple[str, ...], files: tuple[Path, ...] = ()) -> None:
        """Recreate ``services`` from the stack's file plus ``files``; wait until healthy."""
        self.compose("up", "-d", "--wait", "--no-deps", "--no-build", *services, files=files)


def reachable(host: str, port: int) -> bool:
    """True when this machine can open a TCP connection to ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _cgroup_cpu_seconds(full_id: str) -> float | None:
    """Cumulative CPU seconds of a container: cgroup v1 cpuacct, or v2 cpu.stat."""
    root = Path("/sys/fs/cgroup")
    v1 = root / "cpuacct" / "docker" / full_id / "cpuacct.usage"
    if v1.exists():
        return int(v1.read_text()) / 1e9
    for v2 in (root / "system.slice" / f"docker-{full_id}.scope" / "cpu.stat",
               root / "docker" / full_id / "cpu.stat"):
        if v2.exists():
            stat = dict(line.split() for line in v2.read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
    return None


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each container used between two :meth:`Stack.cpu_seconds` readings."""
    return {name: after[name] - before[name] for name in after if name in before}


def _inspect(container: str, template: str) -> str:
    done = subprocess.run(["docker", "inspect", "-f", template, container],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _bytes(text: str) -> int:
    text = text.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    return int(float(number) * _UNITS[text[len(number):].strip()])


def stats_json(usage: dict[str, int]) -> str:
    """``usage`` as a compact JSON line (MiB), for logs."""
    return json.dumps({name: round(b / 2**20) for name, b in usage.items()})
