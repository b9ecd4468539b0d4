"""Where the kitcore servers spend their time under load: py-spy profiles.

    python bench/profile_servers.py [--seconds 5] [--out FILE]

Starts each transport benchmark server (bench/transport_servers.py) pinned to
one CPU, drives it with the same closed-loop load as bench_transport.py, and
samples it with ``py-spy record --gil`` (only the thread holding the GIL: the
Python work that limits a GIL-bound server). For each server it reports the
share of samples spent in each package (own time of the innermost frame) and
the functions with the most own time, so the kitcore and bare profiles can be
set side by side.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import bench_transport
import harness

from kitcore.testing.process import free_port

KINDS = ["flask", "kitcore-http", "kitcore-http-shipped", "kitcore-http-traced", "grpc-bare",
         "kitcore-grpc"]
PY_SPY = Path(sys.executable).with_name("py-spy")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")
_STDLIB = re.compile(r"/lib/python3\.\d+/(?P<module>[^/]+?)(?:\.py)?(?:/|$)")


def package(frame: str) -> str:
    """The package a frame's file belongs to: a distribution, "stdlib: <module>", kitcore."""
    match = _FRAME.match(frame)
    path = match["file"] if match else frame
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/src/kitcore/" in path:
        return "kitcore"
    if "/bench/" in path:
        return "benchmark's own code"
    stdlib = _STDLIB.search(path)
    return f"stdlib: {stdlib['module']}" if stdlib else "other"


def _short(frame: str) -> str:
    """A frame with its file path cut to what names it (``flask/app.py``)."""
    for cut in ("/site-packages/", "/src/", "/lib/python3.11/", "/work/main/"):
        if cut in frame:
            head, _, tail = frame.partition("(")
            return f"{head}({tail.split(cut, 1)[1]}" if cut in tail else frame
    return frame


def _without_line(frame: str) -> str:
    """``func (file:line)`` as ``func (file)``: one entry per function, not per line."""
    match = _FRAME.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


def analyse(collapsed: str, top: int = 12) -> dict[str, Any]:
    """Own-time share by package and the functions with the most own and total time."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_without_line(frame) for frame in stack.split(";")]
        samples += count
        own[frames[-1]] += count
        packages[package(frames[-1])] += count
        for frame in set(frames):
            total[frame] += count
    pct = lambda n: round(100 * n / max(1, samples), 1)  # noqa: E731
    return {
        "samples": samples,
        "own_pct_by_package": {name: pct(n) for name, n in packages.most_common()},
        "top": [{"function": _short(f), "own_pct": pct(n), "total_pct": pct(total[f])}
                for f, n in own.most_common(top)],
        "top_kitcore_total": [{"function": _short(f), "own_pct": pct(own[f]), "total_pct": pct(n)}
                              for f, n in total.most_common()
                              if package(f) == "kitcore"][:top],
    }


def profile(kind: str, seconds: float, otlp: str) -> dict[str, Any]:
    """One server under load, sampled for ``seconds``."""
    server = next(s for s in bench_transport.servers(otlp) if s.name == kind)
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in server.argv]
    process = harness.PinnedServer(argv, port, bench_transport.SERVER_CPU).start()
    loader = threading.Thread(target=bench_transport.load, args=(server, port, seconds + 3))
    try:
        loader.start()
        time.sleep(1.5)
        with tempfile.NamedTemporaryFile(suffix=".txt") as out:
            subprocess.run([str(PY_SPY), "record", "--gil", "--nonblocking", "-r", "500",
                            "--full-filenames",
                            "-d", str(int(seconds)), "-f", "raw", "-o", out.name,
                            "-p", str(process.pid)],
                           check=True, capture_output=True, timeout=seconds + 60)
            collapsed = Path(out.name).read_text()
        loader.join()
    finally:
        process.close()
    result = analyse(collapsed)
    driver = "wrk -c32" if server.transport == "http" else "loadgen grpc, 32 in flight"
    result["how"] = f"py-spy record --gil, 500 Hz, {int(seconds)} s, under {driver}"
    return result


def main() -> None:
    """Profile every kind and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--out", type=Path, default=harness.BUILD / "results" / "profile.json")
    args = parser.parse_args()
    sink_port = free_port()
    sink = harness.PinnedServer(
        [sys.executable, str(Path(__file__).with_name("otlp_sink.py")), str(sink_port)],
        sink_port, bench_transport.LOAD_CPU).start()
    try:
        profiles = {kind: profile(kind, args.seconds, f"http://127.0.0.1:{sink_port}/v1/traces")
                    for kind in args.kinds.split(",")}
    finally:
        sink.close()
    result = {"note": "Share of GIL-holding samples by the package of the innermost frame "
                      "(own time), per server under the transport benchmark's load.",
              "profiles": profiles}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for kind, p in profiles.items():
        print(kind, json.dumps(p["own_pct_by_package"]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
