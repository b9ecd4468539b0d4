"""Run pinned server processes and drive load generators at them.

A :class:`PinnedServer` is a server process bound to one CPU (``taskset``);
:func:`run_wrk` (closed-loop HTTP, Debian's wrk) and :func:`run_loadgen`
(bench/loadgen: open-loop HTTP, closed-loop gRPC) run on another CPU and
return their figures as dicts. :func:`cpu_seconds` reads a process's CPU time,
so a run can report CPU per request, which other work on the machine moves
far less than throughput. :func:`machine` describes the machine and its load.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kitcore.testing.process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
"""The repository root."""

BUILD = ROOT / "build" / "bench"
"""Where the Go binaries and intermediate results go (never committed)."""

WRK_SCRIPT = Path(__file__).with_name("wrk_json.lua")
_TICKS = os.sysconf("SC_CLK_TCK")


class PinnedServer(ServerProcess):
    """A server process started from ``argv`` on the CPUs ``cpus`` ("1", "0-1")."""

    def __init__(self, argv: Sequence[str], port: int, cpus: str) -> None:
        super().__init__(port=port)
        self._argv = list(argv)
        self._cpus = cpus

    def argv(self) -> Sequence[str]:
        """``taskset -c CPUS`` + the server's command line."""
        return ["taskset", "-c", self._cpus, *self._argv]

    @property
    def pid(self) -> int:
        """The server's process id (taskset execs the server in place)."""
        assert self._proc is not None
        return self._proc.pid

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and every process it started (a server's workers): SIGTERM
        to its whole process group, SIGKILL to what is left after ``timeout``."""
        if self._proc is None:
            return
        group = self._proc.pid  # started in a session of its own: the group's id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        super().stop(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds that process ``pid`` (all its threads) and its live
    child processes (a server's workers) have used."""
    used, children = 0, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(
            (int(stat.parent.name), int(fields[11]) + int(fields[12])))
    own = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = int(own[11]) + int(own[12])
    parents = [pid]
    while parents:
        for child, ticks in children.get(parents.pop(), []):
            used += ticks
            parents.append(child)
    return used / _TICKS


def run_wrk(url: str, seconds: float, connections: int, cpus: str) -> dict[str, Any]:
    """Closed-loop HTTP load with wrk (one thread) pinned to ``cpus``; figures in ms."""
    argv = ["taskset", "-c", cpus, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "--timeout", "5s", "-s", str(WRK_SCRIPT), url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    raw = json.loads(line.removeprefix("WRKJSON "))
    seconds_run = raw["duration_us"] / 1e6
    errors = {k: v for k, v in raw["errors"].items() if v}
    return {
        "requests": raw["requests"],
        "errors": errors,
        "duration_s": round(seconds_run, 3),
        "throughput_rps": round(raw["requests"] / seconds_run, 1),
        "latency_ms": {k: round(v / 1000, 3) for k, v in raw["latency_us"].items()},
    }


def run_loadgen(args: Sequence[str], cpus: str, timeout: float = 300) -> dict[str, Any]:
    """bench/loadgen pinned to ``cpus``; its JSON result."""
    argv = ["taskset", "-c", cpus, str(BUILD / "loadgen"), *args]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=timeout)
    return json.loads(out.stdout)


def cpu_busy() -> list[tuple[int, int]]:
    """(busy, total) jiffies per CPU from /proc/stat, to diff over a run."""
    counts = []
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + values[4]
            counts.append((sum(values) - idle, sum(values)))
    return counts


def busy_fractions(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> list[float]:
    """Fraction of time each CPU was busy between two :func:`cpu_busy` samples."""
    return [round((b1 - b0) / max(1, t1 - t0), 3)
            for (b0, t0), (b1, t1) in zip(before, after, strict=True)]


def top_processes(count: int = 6) -> list[str]:
    """Other processes by CPU use (``ps``: share of CPU over each one's lifetime so far),
    as "command N%" strings; this benchmark's own process is left out."""
    out = subprocess.run(["ps", "-eo", "pid,pcpu,comm", "--sort=-pcpu"],
                         capture_output=True, text=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines()[1:]]
    return [f"{comm} {pcpu}%" for pid, pcpu, comm in rows if int(pid) != os.getpid()][:count]


def machine() -> dict[str, Any]:
    """The machine the figures come from, and how loaded it is right now."""
    model = next((line.split(":", 1)[1].strip()
                  for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "go": _version(["go", "version"]),
        "wrk": _version(["wrk", "-v"]).split(" [")[0],
        "loadavg": [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]],
        "top_processes": top_processes(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _version(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return ""
    done = subprocess.run(argv, capture_output=True, text=True)
    return (done.stdout or done.stderr).splitlines()[0].strip() if (
        done.stdout or done.stderr) else ""
