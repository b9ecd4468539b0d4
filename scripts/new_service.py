"""Copy the template service under a new name: ``make new-service NAME=inventory``.

Usage: python scripts/new_service.py NAME [--root DIR]

Copies services/template/ to services/NAME/ and proto/template.proto to
proto/NAME.proto, replacing ``Template`` with the CamelCase name and
``template`` with NAME in every file, then prints the docker-compose service
and the Prometheus scrape job to add. A bad NAME (not lower_snake_case, a
keyword, a module name Python or the repository already uses, an existing
service) is refused with a message and exit code 2, and nothing is written.
"""

from __future__ import annotations

import argparse
import keyword
import re
import shutil
import sys
from importlib.machinery import PathFinder
from pathlib import Path

TEMPLATE = "template"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
NAME_MAX = 40  # keeps "<name>_items" well inside PostgreSQL's 63-character identifiers
RESERVED = {
    TEMPLATE, "kitcore", "protos", "book", "user", "gateway",  # packages on PYTHONPATH
    "test", "tests", "conftest", "services", "scripts", "proto", "libs", "build", "docker",
    "bench", "etcd", "redis", "postgres", "jaeger", "prometheus",  # folders, stack services
}
# Text only the template itself says (what it is for); dropped from every copy.
TEMPLATE_ONLY = re.compile(r"<!-- template-only -->\n.*?<!-- /template-only -->\n\n?", re.S)
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db", ".pytest_cache")

COMPOSE_SNIPPET = """\
  {host}:
    image: kitcore/{name}:${{KIT_IMAGE_TAG:-latest}}
    build:
      context: .
      dockerfile: docker/service.Dockerfile
      args:
        SERVICE: {name}
        BASE_IMAGE: ${{BASE_IMAGE:-python:3.11-slim}}
    environment:
      <<: *kit-env
      KIT_INSTANCE_ID: {host}
      KIT_ADVERTISE_HOST: {host}
      OTEL_SERVICE_NAME: {name}
      # The stack's shared database; the service's table is {name}_items.
      DATABASE_URL: postgresql+psycopg://kitcore:${{POSTGRES_PASSWORD:?}}@postgres:5432/kitcore
    healthcheck:
      <<: *healthcheck  # the image's own check (see its Dockerfile), at the stack's pace
    depends_on:
      <<: *kit-depends
      postgres:
        condition: service_healthy
    stop_grace_period: 15s
    restart: unless-stopped
"""

PROMETHEUS_SNIPPET = """\
  - job_name: {name}
    static_configs:
      - targets: ["{host}:8080"]
    relabel_configs: *instance-name
"""

NEXT_STEPS = """\
Created services/{name}/ and proto/{name}.proto.

Next:
  make proto                         # generate the gRPC code of proto/{name}.proto
  .venv/bin/pytest services/{name}   # its own tests pass as generated
  PYTHONPATH=services:build/gen .venv/bin/python -m {name}   # alone: HTTP 8080, gRPC 50051

To add it to the stack, put this under `services:` in docker-compose.yml:

{compose}
and this under `scrape_configs:` in docker/prometheus/prometheus.yml:

{prometheus}
then build and start it: docker compose up -d --build {host}
It registers in etcd as /kitcore/services/{name}/{host}.
"""


def camel_case(name: str) -> str:
    """``stock_keeper`` -> ``StockKeeper``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def host_name(name: str) -> str:
    """The compose service and host name: underscores are not valid in host names."""
    return name.replace("_", "-")


def refusal(name: str, root: Path) -> str | None:
    """Why ``name`` cannot be a new service under ``root``, or None if it can."""
    if not name:
        return "NAME is empty; try: make new-service NAME=inventory"
    if not NAME_PATTERN.fullmatch(name):
        return "not lower_snake_case (a-z, 0-9 and single underscores, starting with a letter)"
    if len(name) > NAME_MAX:
        return f"longer than {NAME_MAX} characters"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "a Python keyword"
    if (root / "services" / name).exists():
        return f"services/{name} already exists"
    if (root / "proto" / f"{name}.proto").exists():
        return f"proto/{name}.proto already exists"
    if name in RESERVED:
        return "reserved: the repository or the stack already uses this name"
    if name in sys.stdlib_module_names:
        return "the name of a standard library module"
    if PathFinder.find_spec(name, _module_path()) is not None:
        return "the name of an installed module, which the service would hide"
    if host_name(name) in _compose_names(root):
        return f"docker-compose.yml already has a service or volume {host_name(name)!r}"
    if not (root / "services" / TEMPLATE).is_dir() or not _template_proto(root).is_file():
        return f"the template is missing: services/{TEMPLATE}/ and proto/{TEMPLATE}.proto"
    return None


def substitute(text: str, name: str) -> str:
    """The template's text with every ``Template``/``template`` turned into ``name``."""
    text = TEMPLATE_ONLY.sub("", text)
    return text.replace(TEMPLATE.capitalize(), camel_case(name)).replace(TEMPLATE, name)


def generate(name: str, root: Path) -> None:
    """Write services/<name>/ and proto/<name>.proto from the template."""
    proto = substitute(_template_proto(root).read_text(), name)
    target = root / "services" / name
    shutil.copytree(root / "services" / TEMPLATE, target, ignore=COPY_IGNORE)
    try:
        for path in sorted(target.rglob("*")):
            if path.is_file():
                path.write_text(substitute(path.read_text(), name))
        (root / "proto" / f"{name}.proto").write_text(proto)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def next_steps(name: str) -> str:
    """What to do after generating: make proto, test, and the stack snippets."""
    host = host_name(name)
    return NEXT_STEPS.format(
        name=name,
        host=host,
        compose=COMPOSE_SNIPPET.format(name=name, host=host),
        prometheus=PROMETHEUS_SNIPPET.format(name=name, host=host),
    )


def _template_proto(root: Path) -> Path:
    return root / "proto" / f"{TEMPLATE}.proto"


def _module_path() -> list[str]:
    # Where imports look, less this script's own folder (sys.path[0] when run as a script).
    here = str(Path(__file__).resolve().parent)
    return [entry for entry in sys.path if entry and str(Path(entry).resolve()) != here]


def _compose_names(root: Path) -> set[str]:
    compose = root / "docker-compose.yml"
    if not compose.exists():
        return set()
    # Top-level keys of `services:` (and `volumes:`) are indented by two spaces.
    return set(re.findall(r"^  ([\w.-]+):", compose.read_text(), re.M))


def main(argv: list[str] | None = None) -> int:
    """Generate the service named on the command line; 0 on success, 2 on a bad name."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the new service's name, lower_snake_case")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the repository to write into (default: this one)")
    args = parser.parse_args(argv)
    reason = refusal(args.name, args.root)
    if reason:
        print(f"new-service: cannot create {args.name!r}: {reason}. Nothing was written.",
              file=sys.stderr)
        return 2
    generate(args.name, args.root)
    print(next_steps(args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
