"""Print the kitcore stack as a Docker Swarm stack file, from the compose file.

Usage: python scripts/swarm_stack.py > build/swarm-stack.yml

Compose merges docker-compose.yml with deploy/swarm/docker-stack.overlay.yml
and resolves every variable (images, secrets from .env). This script then
makes the result a stack file that `docker stack deploy` takes:

- book-1 becomes one service "book" with replicas; book-2, user-2 and gateway-2 go
  (Swarm runs replicas of one service instead of numbered copies);
- what Swarm ignores or refuses is left out: build, depends_on, restart,
  container names, and bind mounts of this checkout (the overlay sends those
  files to the nodes as configs);
- a literal "$" stays escaped as Compose prints it ("$$"), because `docker stack
  deploy` interpolates once more and reads "$$" back as one "$".

COMPOSE names the Compose command (as the Makefile exports it); without it,
the Compose binary of the virtual environment.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = "deploy/swarm/docker-stack.overlay.yml"
RENAMED = {"book-1": "book"}
"""Compose services that become one replicated Swarm service of another name."""
DROPPED = ("book-2", "user-2", "gateway-2")
"""Numbered copies that replicas replace."""
SERVICE_KEYS = ("image", "command", "entrypoint", "environment", "healthcheck", "volumes",
                "ports", "stop_grace_period", "stop_signal", "deploy", "configs")
"""The service settings a stack file keeps."""


def merged_compose() -> dict:
    """docker-compose.yml plus the overlay, as Compose resolves them."""
    compose = shlex.split(os.environ.get("COMPOSE") or str(ROOT / ".venv/bin/docker-compose"))
    done = subprocess.run(
        [*compose, "-f", "docker-compose.yml", "-f", OVERLAY, "config", "--format", "json"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if done.returncode != 0:
        sys.exit(f"swarm_stack: compose could not merge the files:\n{done.stderr}")
    return json.loads(done.stdout)


def _deploy(deploy: dict) -> dict:
    # The stack file's schema wants CPUs as strings.
    for bound in deploy.get("resources", {}).values():
        if "cpus" in bound:
            bound["cpus"] = str(bound["cpus"])
    return deploy


def stack_service(service: dict) -> dict:
    """One service's settings as a stack file takes them."""
    kept = {k: v for k, v in service.items() if k in SERVICE_KEYS and v is not None}
    if "volumes" in kept:
        kept["volumes"] = [v for v in kept["volumes"] if v["type"] != "bind"] or None
    if "ports" in kept:
        kept["ports"] = [{**p, "published": int(p["published"])} for p in kept["ports"]]
    if "deploy" in kept:
        kept["deploy"] = _deploy(kept["deploy"])
    return {k: v for k, v in kept.items() if v is not None}


def stack_file(merged: dict) -> dict:
    """The whole stack file for ``docker stack deploy``."""
    services = {
        RENAMED.get(name, name): stack_service(service)
        for name, service in merged["services"].items() if name not in DROPPED
    }
    return {  # Compose already printed every literal "$" as "$$": leave them so
        "version": "3.8",
        "services": services,
        "volumes": {name: {} for name in merged.get("volumes", {})},
        "configs": {name: {"file": c["file"]} for name, c in merged.get("configs", {}).items()},
    }


def main() -> None:
    """Print the stack file."""
    yaml.safe_dump(stack_file(merged_compose()), sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
