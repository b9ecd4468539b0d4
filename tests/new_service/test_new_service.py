"""`make new-service`: a service generated into a copy of the repository works as generated.

The copy holds only what generating and running need: the template service,
its proto, the two scripts, pyproject.toml (pytest's settings) and the stack's
docker-compose.yml and Prometheus file (to check the printed snippets fit).
The generated service's own tests run in a subprocess with this venv's pytest;
then the service runs as a real process against a real etcd and is called over
HTTP and gRPC at the addresses it registered.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import grpc
import pytest
import requests

from kitcore.sd import Instance
from kitcore.sd.etcd_client import EtcdClient
from kitcore.testing.etcd import EtcdServer
from kitcore.testing.service_process import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
NAME, CAMEL, HOST = "stock_keeper", "StockKeeper", "stock-keeper"
COMPOSE_BIN = ROOT / ".venv" / "bin" / "docker-compose"
REGISTERED = 10.0  # seconds for the instance to appear in etcd (generous)


def _clean_env() -> dict[str, str]:
    """This process's environment without PYTHONPATH, so nothing of the real repo leaks in."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def _new_service(root: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/new_service.py", name, "--root", str(root)],
        cwd=root, env=_clean_env(), capture_output=True, text=True, timeout=30,
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minimal copy of the repository to generate into."""
    root = tmp_path_factory.mktemp("repo")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db")
    shutil.copytree(ROOT / "services" / "template", root / "services" / "template", ignore=ignore)
    (root / "proto").mkdir()
    shutil.copy(ROOT / "proto" / "template.proto", root / "proto")
    (root / "scripts").mkdir()
    for script in ("new_service.py", "gen_proto.py"):
        shutil.copy(ROOT / "scripts" / script, root / "scripts")
    shutil.copy(ROOT / "pyproject.toml", root)
    for stack_file in ("docker-compose.yml", "docker/prometheus/prometheus.yml"):
        if (ROOT / stack_file).exists():
            (root / stack_file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / stack_file, root / stack_file)
    return root


@pytest.fixture(scope="module")
def generated(repo: Path) -> str:
    """Generate the service and its gRPC code in the copy; what the generator printed."""
    result = _new_service(repo, NAME)
    assert result.returncode == 0, result.stderr
    proto = subprocess.run(
        [sys.executable, "scripts/gen_proto.py", "proto", "build/gen"],
        cwd=repo, env=_clean_env(), capture_output=True, text=True, timeout=60,
    )
    assert proto.returncode == 0, proto.stderr
    return result.stdout


def _files(root: Path) -> dict[str, str]:
    """Each source file under ``root`` (no bytecode, no local databases) and its text."""
    return {str(path.relative_to(root)): path.read_text() for path in sorted(root.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".db"}


def test_every_name_is_substituted_and_the_template_is_left_as_it_was(
    repo: Path, generated: str
) -> None:
    service = repo / "services" / NAME
    files = {**_files(service), "proto": (repo / "proto" / f"{NAME}.proto").read_text()}
    leftovers = {path for path, text in files.items() if "template" in text.lower()}
    assert leftovers == set()
    assert set(_files(service)) == set(_files(repo / "services" / "template"))
    assert _files(repo / "services" / "template") == _files(ROOT / "services" / "template")

    assert f"package kitcore.{NAME}.v1;" in files["proto"]
    assert f"service {CAMEL}Service {{" in files["proto"]
    assert f"class {CAMEL}Service(Protocol):" in files["service.py"]
    assert f'"{NAME}_items"' in files["store.py"]
    assert f'KitConfig.from_env("{NAME}")' in files["__main__.py"]
    assert f'"sqlite:///{NAME}.db"' in files["__main__.py"]
    assert f"add_{CAMEL}ServiceServicer_to_server" in files["transport_grpc.py"]
    assert "Dockerfile" not in files  # the image is docker/service.Dockerfile's
    assert files["README.md"].startswith(f"# {NAME}\n\nThe {NAME} service keeps items")


def test_the_template_has_no_dockerfile_of_its_own() -> None:
    """Every Python service, the template and its copies included, is built from one file."""
    assert not (ROOT / "services" / "template" / "Dockerfile").exists()
    assert (ROOT / "docker" / "service.Dockerfile").is_file()


def _load_pb2(repo: Path) -> ModuleType:
    """The generated message module, loaded from its file (``protos`` is the repo's own)."""
    path = repo / "build" / "gen" / "protos" / f"{NAME}_pb2.py"
    spec = importlib.util.spec_from_file_location(f"{NAME}_pb2", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pb2(repo: Path, generated: str) -> ModuleType:
    return _load_pb2(repo)


def test_the_proto_compiles_into_the_renamed_service(repo: Path, pb2: ModuleType) -> None:
    assert (repo / "build" / "gen" / "protos" / f"{NAME}_pb2_grpc.py").exists()
    assert pb2.DESCRIPTOR.package == f"kitcore.{NAME}.v1"
    methods = pb2.DESCRIPTOR.services_by_name[f"{CAMEL}Service"].methods_by_name
    assert set(methods) == {"GetItem", "CreateItem"}


def test_the_generated_tests_pass_untouched(repo: Path, generated: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", f"services/{NAME}"],
        cwd=repo, env=_clean_env(), capture_output=True, text=True, timeout=240,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 30, summary
    assert "failed" not in summary and "error" not in summary


def test_it_prints_the_compose_service_and_the_scrape_job(generated: str) -> None:
    for line in (f"  {HOST}:", f"    image: kitcore/{NAME}:${{KIT_IMAGE_TAG:-latest}}",
                 "      dockerfile: docker/service.Dockerfile",
                 f"        SERVICE: {NAME}",
                 "        BASE_IMAGE: ${BASE_IMAGE:-python:3.11-slim}",
                 "      <<: *kit-env", f"      KIT_ADVERTISE_HOST: {HOST}",
                 "    healthcheck:", "    depends_on:", f"  - job_name: {NAME}",
                 f'      - targets: ["{HOST}:8080"]'):
        assert f"\n{line}\n" in generated, line


def _snippet(printed: str, before: str, after: str) -> str:
    start = printed.index(before) + len(before)
    return printed[start:printed.index(after, start)].strip("\n") + "\n"


def test_the_compose_snippet_fits_the_stack(repo: Path, generated: str) -> None:
    compose = repo / "docker-compose.yml"
    if not compose.exists() or not COMPOSE_BIN.exists():
        pytest.skip("needs docker-compose.yml and the Compose binary (make venv)")
    snippet = _snippet(generated, "in docker-compose.yml:\n\n", "\nand this under")
    text = compose.read_text()
    at = text.index("\nvolumes:\n") if "\nvolumes:\n" in text else len(text)
    with_service = repo / "compose-with-service.yml"
    with_service.write_text(text[:at] + "\n" + snippet + text[at:])
    result = subprocess.run(
        [str(COMPOSE_BIN), "-f", str(with_service), "config", "--format", "json"],
        cwd=repo, capture_output=True, text=True, timeout=60,
        env={**os.environ, **{name: secrets.token_hex(8) for name in  # the stack requires them
                              ("KIT_JWT_SECRET", "KIT_ADMIN_PASSWORD", "POSTGRES_PASSWORD")}},
    )
    assert result.returncode == 0, result.stderr
    service = json.loads(result.stdout)["services"][HOST]
    assert service["build"]["dockerfile"] == "docker/service.Dockerfile"
    assert service["build"]["args"]["SERVICE"] == NAME
    assert service["environment"]["KIT_ETCD_ENDPOINTS"] == "etcd:2379"
    assert service["environment"]["KIT_INSTANCE_ID"] == HOST
    assert service["healthcheck"]["interval"] and "test" not in service["healthcheck"]
    assert {"etcd", "postgres"} <= set(service["depends_on"])


def test_the_scrape_job_fits_the_prometheus_file(repo: Path, generated: str) -> None:
    yaml = pytest.importorskip("yaml")
    prometheus = repo / "docker" / "prometheus" / "prometheus.yml"
    if not prometheus.exists():
        pytest.skip("needs docker/prometheus/prometheus.yml")
    job = _snippet(generated, "in docker/prometheus/prometheus.yml:\n\n", "\nthen build")
    config = yaml.safe_load(prometheus.read_text() + job)
    [found] = [j for j in config["scrape_configs"] if j["job_name"] == NAME]
    assert found["static_configs"] == [{"targets": [f"{HOST}:8080"]}]
    assert found["relabel_configs"][0]["target_label"] == "instance"


def _registered(client: EtcdClient) -> list[Instance]:
    prefix = f"/kitcore/services/{NAME}/"
    return [Instance.from_json(value) for _, value in client.get_prefix(prefix)]


def test_the_generated_service_registers_and_answers_over_http_and_grpc(
    repo: Path, pb2: ModuleType, etcd: EtcdServer
) -> None:
    # ``python -m stock_keeper`` from the copy, registering in etcd.
    server = ServiceProcess(NAME, repo, env={"KIT_INSTANCE_ID": HOST,
                                             "KIT_ETCD_ENDPOINTS": etcd.address})
    client = EtcdClient([etcd.address])
    try:
        server.start()
        deadline = time.monotonic() + REGISTERED
        while not (found := _registered(client)):
            assert time.monotonic() < deadline, f"never registered\n{server.log_tail()}"
            time.sleep(0.05)
        [instance] = found
        assert (instance.id, instance.service) == (HOST, NAME)

        created = requests.post(f"http://{instance.http}/items", json={"name": "bolts"},
                                timeout=5)
        assert created.status_code == 201, created.text
        assert created.headers["X-Served-By"] == HOST
        get_item = f"/kitcore.{NAME}.v1.{CAMEL}Service/GetItem"
        with grpc.insecure_channel(instance.grpc) as channel:
            call = channel.unary_unary(get_item,
                                       request_serializer=pb2.GetItemRequest.SerializeToString,
                                       response_deserializer=pb2.ItemReply.FromString)
            reply, done = call.with_call(pb2.GetItemRequest(id=created.json()["item"]["id"]),
                                         timeout=5)
        assert reply.item.name == "bolts"
        assert dict(done.trailing_metadata())["x-served-by"] == HOST
        assert requests.get(f"http://{instance.http}/readyz", timeout=5).status_code == 200
        metrics = requests.get(f"http://{instance.http}/metrics", timeout=5).text
        assert f'endpoint="create_item",outcome="ok",service="{NAME}"' in metrics

        server.stop()
        assert _registered(client) == []  # deregistered on SIGTERM
    finally:
        server.close()


def _tree(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*")
            if "__pycache__" not in path.parts}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "NAME is empty"),
        ("Inventory", "not lower_snake_case"),
        ("stock-keeper", "not lower_snake_case"),
        ("2nd", "not lower_snake_case"),
        ("double__underscore", "not lower_snake_case"),
        ("x" * 41, "longer than 40"),
        ("class", "Python keyword"),
        ("match", "Python keyword"),
        ("json", "standard library module"),
        ("test", "reserved"),
        ("kitcore", "reserved"),
        ("protos", "reserved"),
        ("template", "services/template already exists"),
        ("gateway", "reserved"),
        ("etcd", "reserved"),
        ("flask", "installed module"),
        (NAME, f"services/{NAME} already exists"),
    ],
)
def test_a_bad_name_is_refused_and_nothing_is_written(
    repo: Path, generated: str, name: str, reason: str
) -> None:
    before = _tree(repo)
    result = _new_service(repo, name)
    assert result.returncode != 0
    assert reason in result.stderr and "Nothing was written" in result.stderr
    assert result.stdout == ""
    assert _tree(repo) == before


def test_an_existing_proto_or_compose_name_is_refused(repo: Path, generated: str) -> None:
    (repo / "proto" / "orphan.proto").write_text('syntax = "proto3";\n')
    before = _tree(repo)
    result = _new_service(repo, "orphan")
    assert result.returncode != 0 and "proto/orphan.proto already exists" in result.stderr
    assert _tree(repo) == before
    if (repo / "docker-compose.yml").exists():
        result = _new_service(repo, "book_1")  # would be the compose service book-1
        assert result.returncode != 0 and "docker-compose.yml already has" in result.stderr
        assert _tree(repo) == before
