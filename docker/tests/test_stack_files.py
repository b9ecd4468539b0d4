"""The stack's build and compose files keep their contracts: one Dockerfile for
every Python service, public image defaults, healthchecks everywhere, three
published ports, and Prometheus scraping every Python service. Compose itself
reads the file."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / ".venv" / "bin" / "docker-compose"
PYTHON_SERVICES = {"book-1": "book", "book-2": "book", "user": "user", "user-2": "user",
                   "gateway": "gateway", "gateway-2": "gateway"}
INFRA = {"etcd", "redis", "postgres", "jaeger", "prometheus"}


SECRETS = ("KIT_JWT_SECRET", "KIT_ADMIN_PASSWORD", "POSTGRES_PASSWORD")
"""The variables compose requires, with no default (scripts/env-secrets.sh makes them)."""


def _compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``compose config`` of the stack's file, ignoring the local .env and our secrets."""
    environ = {k: v for k, v in os.environ.items()
               if not k.endswith("_IMAGE") and k not in SECRETS}
    environ.update(env)
    return subprocess.run(
        [str(COMPOSE), "--env-file", os.devnull, "-f", str(ROOT / "docker-compose.yml"),
         "config", "--format", "json"],
        capture_output=True, text=True, env=environ, cwd=ROOT, check=False,
    )


def _config(**env: str) -> dict:
    """The compose file as compose resolves it, with secrets made up for the test."""
    done = _compose_config({name: secrets.token_hex(8) for name in SECRETS} | env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def config() -> dict:
    if not COMPOSE.exists():
        pytest.skip("the Compose binary is installed by `make venv`")
    return _config()


SERVICE_DOCKERFILE = "docker/service.Dockerfile"


def test_one_dockerfile_builds_every_python_service() -> None:
    assert sorted(path.parent.name for path in (ROOT / "services").glob("*/Dockerfile")) == []
    text = (ROOT / SERVICE_DOCKERFILE).read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert "--no-index --find-links /wheels" in text
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert "HEALTHCHECK" in text and "/dev/tcp/127.0.0.1/8080" in text
    # The service's name and code come last, so every layer before them is shared.
    last_stage = text[text.rindex("\nFROM "):]
    service_arg = last_stage.index("ARG SERVICE")
    assert service_arg > last_stage.rindex("COPY --from=")
    assert last_stage.index("COPY services/${SERVICE} /app/services/${SERVICE}") > service_arg
    # exec: python, not the shell, is the process that gets SIGTERM.
    assert 'exec python -m \\"$KIT_SERVICE_PACKAGE\\"' in last_stage.splitlines()[-1]


def test_compose_builds_each_python_service_from_the_one_dockerfile(config: dict) -> None:
    for name in PYTHON_SERVICES:
        build = config["services"][name]["build"]
        assert build["dockerfile"] == SERVICE_DOCKERFILE, name
        assert build["args"]["SERVICE"] == PYTHON_SERVICES[name], name


def _healthcheck(port: int) -> list[str]:
    """The services' HEALTHCHECK command, pointed at ``port``."""
    text = (ROOT / SERVICE_DOCKERFILE).read_text()
    command = re.search(r"^HEALTHCHECK .*\\\n\s+CMD (\[.*\])$", text, re.M)
    assert command, "no HEALTHCHECK ... CMD [...] in the Dockerfile"
    argv = json.loads(command.group(1))
    return [arg.replace("127.0.0.1/8080", f"127.0.0.1/{port}") for arg in argv]


@pytest.fixture
def healthz():
    """A server whose /healthz answers what the test sets: a status, after a delay."""
    flask = pytest.importorskip("flask")
    from kitcore.testing.http_server import serve_in_thread

    answer = {"status": 200, "delay": 0.0}
    app = flask.Flask("probed")
    app.add_url_rule("/healthz", "healthz", lambda: (
        time.sleep(answer["delay"]) or ("", answer["status"])))
    served = serve_in_thread(app)
    yield served.port, answer
    served.stop()


def _probe(port: int) -> int:
    return subprocess.run(_healthcheck(port), capture_output=True, timeout=15).returncode


def test_the_healthcheck_passes_on_200_only_and_within_two_seconds(healthz) -> None:
    port, answer = healthz
    assert _probe(port) == 0
    answer["status"] = 503
    assert _probe(port) != 0
    answer["status"], answer["delay"] = 200, 3.0
    assert _probe(port) != 0  # a 200 after 3 s is too late


def test_the_healthcheck_fails_where_nothing_listens() -> None:
    from kitcore.testing.process import free_port

    assert _probe(free_port()) != 0


def test_the_stack_has_every_service(config: dict) -> None:
    assert set(config["services"]) == INFRA | set(PYTHON_SERVICES)


def test_images_default_to_public_ones(config: dict) -> None:
    for name in INFRA:
        image = config["services"][name]["image"]
        assert not image.startswith("kitcore"), f"{name} defaults to {image}"
    for name in PYTHON_SERVICES:
        args = config["services"][name]["build"]["args"]
        assert args["BASE_IMAGE"] == "python:3.11-slim"


def test_image_variables_choose_the_images() -> None:
    if not COMPOSE.exists():
        pytest.skip("the Compose binary is installed by `make venv`")
    resolved = _config(ETCD_IMAGE="local/etcd:1", BASE_IMAGE="local/python:1")
    assert resolved["services"]["etcd"]["image"] == "local/etcd:1"
    assert resolved["services"]["book-2"]["build"]["args"]["BASE_IMAGE"] == "local/python:1"


def test_only_gateway_jaeger_and_prometheus_are_published(config: dict) -> None:
    published = {name: [(p["target"], p["published"]) for p in svc.get("ports", [])]
                 for name, svc in config["services"].items() if svc.get("ports")}
    assert published == {"gateway": [(8080, "8080")], "jaeger": [(16686, "16686")],
                         "prometheus": [(9090, "9090")]}


def test_published_ports_move_with_variables() -> None:
    if not COMPOSE.exists():
        pytest.skip("the Compose binary is installed by `make venv`")
    resolved = _config(GATEWAY_PORT="18080", JAEGER_UI_PORT="26686", PROMETHEUS_PORT="19090")
    ports = {name: resolved["services"][name]["ports"][0]["published"]
             for name in ("gateway", "jaeger", "prometheus")}
    assert ports == {"gateway": "18080", "jaeger": "26686", "prometheus": "19090"}


def test_every_infrastructure_service_has_a_healthcheck(config: dict) -> None:
    for name in INFRA:
        test = config["services"][name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), name


def test_python_services_wait_for_healthy_infrastructure(config: dict) -> None:
    for name in PYTHON_SERVICES:
        depends = config["services"][name]["depends_on"]
        assert depends["etcd"]["condition"] == "service_healthy", name
        assert depends["jaeger"]["condition"] == "service_healthy", name
    for name in ("book-1", "book-2", "user"):
        assert config["services"][name]["depends_on"]["postgres"]["condition"] \
            == "service_healthy"
    for name in ("gateway", "gateway-2"):
        assert config["services"][name]["depends_on"]["redis"]["condition"] \
            == "service_healthy"


def test_python_services_are_configured_for_the_stack(config: dict) -> None:
    for name, service in PYTHON_SERVICES.items():
        env = config["services"][name]["environment"]
        assert env["KIT_INSTANCE_ID"] == name
        assert env["KIT_ADVERTISE_HOST"] == name
        assert env["KIT_ETCD_ENDPOINTS"] == "etcd:2379"
        assert env["OTEL_SERVICE_NAME"] == service
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        if service == "gateway":
            assert env["KIT_RATELIMIT_STORAGE"] == "redis://redis:6379/0"
        else:
            assert env["DATABASE_URL"].endswith(f"@postgres:5432/{service}")


def test_data_lives_in_named_volumes(config: dict) -> None:
    mounts = {name: {m["target"] for m in config["services"][name].get("volumes", [])
                     if m["type"] == "volume"} for name in ("etcd", "postgres")}
    assert mounts == {"etcd": {"/etcd-data"}, "postgres": {"/var/lib/postgresql/data"}}


def test_prometheus_scrapes_every_python_service() -> None:
    scrape = yaml.safe_load((ROOT / "docker/prometheus/prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for group in job["static_configs"]
               for t in group["targets"]}
    assert {f"{name}:8080" for name in PYTHON_SERVICES} <= targets


def test_postgres_init_creates_a_database_per_service() -> None:
    sql = (ROOT / "docker/postgres/initdb/10-service-databases.sql").read_text()
    assert "CREATE DATABASE book;" in sql
    assert 'CREATE DATABASE "user";' in sql


# --- secrets -----------------------------------------------------------------------


def test_no_secret_has_a_value_in_the_compose_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"(:?[?-]?)", text)
        assert uses and set(uses) == {":?"}, f"{name}: every use must be ${{{name}:?...}}"


def test_compose_refuses_to_run_without_the_secrets() -> None:
    if not COMPOSE.exists():
        pytest.skip("the Compose binary is installed by `make venv`")
    for missing in SECRETS:
        env = {name: "set" for name in SECRETS if name != missing}
        done = _compose_config(env)
        assert done.returncode != 0
        assert f"required variable {missing} is missing a value" in done.stderr
        assert "make up writes a random one into .env" in done.stderr


def test_the_services_get_the_secrets_they_are_given() -> None:
    if not COMPOSE.exists():
        pytest.skip("the Compose binary is installed by `make venv`")
    given = {name: secrets.token_hex(8) for name in SECRETS}
    services = _config(**given)["services"]
    assert services["gateway"]["environment"]["KIT_JWT_SECRET"] == given["KIT_JWT_SECRET"]
    assert services["user"]["environment"]["KIT_ADMIN_PASSWORD"] == \
        given["KIT_ADMIN_PASSWORD"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == \
        given["POSTGRES_PASSWORD"]
    assert f":{given['POSTGRES_PASSWORD']}@postgres:5432/book" in \
        services["book-1"]["environment"]["DATABASE_URL"]


def _checkout(tmp_path: Path, name: str) -> Path:
    """A folder with scripts/env-secrets.sh, as a checkout of the repository has it."""
    (tmp_path / name / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "env-secrets.sh", tmp_path / name / "scripts")
    return tmp_path / name


def _env_file(checkout: Path) -> dict[str, str]:
    subprocess.run([str(checkout / "scripts" / "env-secrets.sh")], check=True,
                   capture_output=True, timeout=30)
    lines = (checkout / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_env_secrets_makes_random_values_once_and_keeps_other_lines(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path, "one")
    (checkout / ".env").write_text("BASE_IMAGE=local/python:1\nKIT_ADMIN_PASSWORD=\n")
    first = _env_file(checkout)
    assert first["BASE_IMAGE"] == "local/python:1"
    for name in SECRETS:
        assert re.fullmatch(r"[A-Za-z0-9]{40}", first[name]), name
    assert len({first[name] for name in SECRETS}) == 3
    assert stat.S_IMODE((checkout / ".env").stat().st_mode) == 0o600
    assert _env_file(checkout) == first  # reused, not replaced
    other = _env_file(_checkout(tmp_path, "two"))
    assert all(other[name] != first[name] for name in SECRETS)


def test_env_is_ignored_by_git() -> None:
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
