"""The Swarm stack file (scripts/swarm_stack.py) is the compose stack, made fit
for `docker stack deploy`: one replicated book, rolling updates gated on health,
no bind mounts of this checkout, no literal secrets in the overlay, and Docker's
own stack loader accepts it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / ".venv" / "bin" / "docker-compose"
OVERLAY = ROOT / "deploy" / "swarm" / "docker-stack.overlay.yml"
SECRETS = {"KIT_JWT_SECRET": "test-jwt", "KIT_ADMIN_PASSWORD": "test-$admin",
           "POSTGRES_PASSWORD": "test-postgres"}
"""What a checkout's .env holds after `make images`; compose refuses to render without them."""


@pytest.fixture(scope="module")
def stack_text() -> str:
    if not COMPOSE.exists():
        pytest.skip("the Compose binary is installed by `make venv`")
    done = subprocess.run([sys.executable, str(ROOT / "scripts/swarm_stack.py")], cwd=ROOT,
                          env={**os.environ, **SECRETS, "COMPOSE": str(COMPOSE)},
                          capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def stack(stack_text: str) -> dict:
    return yaml.safe_load(stack_text)


def test_book_is_one_service_with_replicas(stack):
    services = stack["services"]
    assert {"book-1", "book-2", "gateway-2"}.isdisjoint(services)
    assert services["book"]["deploy"]["replicas"] == 2
    assert services["book"]["image"].startswith("kitcore/book:")


def test_instances_register_under_their_task_name(stack):
    for name in ("book", "user", "gateway"):
        env = stack["services"][name]["environment"]
        assert env["KIT_INSTANCE_ID"] == env["KIT_ADVERTISE_HOST"] == "{{.Task.Name}}"


def test_rolling_updates_start_the_new_task_first_and_roll_back_on_failure(stack):
    for name in ("book", "user"):
        update = stack["services"][name]["deploy"]["update_config"]
        assert update["order"] == "start-first" and update["failure_action"] == "rollback"


def test_what_swarm_ignores_or_refuses_is_left_out(stack):
    for name, service in stack["services"].items():
        assert not {"build", "depends_on", "restart", "container_name"} & service.keys(), name
        for volume in service.get("volumes", []):
            assert volume["type"] == "volume", name
        assert service["deploy"]["restart_policy"]["condition"] == "any", name


def test_the_files_compose_bind_mounts_reach_the_nodes_as_configs(stack):
    mounted = {c["target"] for s in stack["services"].values() for c in s.get("configs", [])}
    assert mounted == {"/docker-entrypoint-initdb.d/10-service-databases.sql",
                       "/etc/prometheus/prometheus.yml"}
    for config in stack["configs"].values():
        assert Path(config["file"]).is_file()


def test_the_overlay_carries_no_secret():
    text = OVERLAY.read_text()
    for name in ("SECRET", "PASSWORD", "DATABASE_URL"):
        assert name not in text


def test_secrets_come_from_the_environment(stack):
    env = stack["services"]["book"]["environment"]
    assert env["KIT_JWT_SECRET"] == SECRETS["KIT_JWT_SECRET"]
    assert SECRETS["POSTGRES_PASSWORD"] in env["DATABASE_URL"]


def test_docker_reads_the_stack_file(stack_text, tmp_path):
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    path = tmp_path / "stack.yml"
    path.write_text(stack_text)
    subprocess.run(["docker", "stack", "config", "-c", str(path)], check=True,
                   capture_output=True)


def test_a_dollar_reaches_the_container_as_written(stack_text, tmp_path):
    """docker-compose.yml writes "$$s" for the shell's "$s" (the Jaeger probe), and a
    secret may hold a "$": after Docker's own interpolation each is one "$" again."""
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    path = tmp_path / "stack.yml"
    path.write_text(stack_text)
    done = subprocess.run(["docker", "stack", "config", "-c", str(path)], check=True,
                          capture_output=True, text=True)
    deployed = yaml.safe_load(done.stdout)["services"]
    probe = " ".join(deployed["jaeger"]["healthcheck"]["test"])
    assert "[[ $s == HTTP/1.?" in probe, probe
    assert deployed["gateway"]["environment"]["KIT_ADMIN_PASSWORD"] == "test-$admin"


def test_every_service_is_probed_with_room_for_a_busy_node(stack):
    for name, service in stack["services"].items():
        health = service["healthcheck"]  # the probe itself: compose's, else the image's
        assert health["retries"] >= 10 and health["timeout"] == "30s", name
