"""The picture of the stack on the front page against docker-compose.yml and the code.

Every container is drawn, and every arrow is one the stack really has: an
address in a container's environment (etcd, Redis, PostgreSQL, Jaeger), a
Prometheus scrape target, a port published to the host, or a backend the
gateway is wired to call (with the transport it uses). Nothing is drawn that
is not there, and nothing that is there is left out.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import yaml

from docs import flowchart, pages

COMPOSE = pages.ROOT / "docker-compose.yml"
PROMETHEUS = pages.ROOT / "docker" / "prometheus" / "prometheus.yml"
GATEWAY_MAIN = pages.ROOT / "services" / "gateway" / "__main__.py"
CLIENT = "client"
ADDRESS_VARIABLES = ("KIT_ETCD_ENDPOINTS", "OTEL_EXPORTER_OTLP_ENDPOINT", "DATABASE_URL",
                     "KIT_RATELIMIT_STORAGE")
TRANSPORT_WORDS = {"http": "HTTP", "grpc": "gRPC"}
Edge = tuple[str, str, int]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


@pytest.fixture(scope="module")
def picture() -> tuple[flowchart.Flowchart, dict[str, str]]:
    """The chart and the compose service each node stands for (its label)."""
    blocks = [b for b in pages.mermaid_blocks(pages.README) if b.startswith("flowchart")]
    assert len(blocks) == 1, "the front page has one picture of the stack"
    chart = flowchart.parse(blocks[0])
    return chart, {node: label for node, label in chart.nodes.items() if node != CLIENT}


def _port(label: str) -> int:
    match = re.search(r":(\d+)\b", label)
    assert match, f"the arrow {label!r} names no port"
    return int(match.group(1))


def _default(value: str) -> str:
    """``${X:-default}`` -> ``default`` and a required ``${X:?message}`` -> ``X``, for
    every variable in ``value``."""
    value = re.sub(r"\$\{(\w+):\?[^}]*\}", r"\1", str(value))
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def _environment(service: dict) -> dict[str, str]:
    return {k: _default(v) for k, v in (service.get("environment") or {}).items()}


def _host_port(address: str) -> tuple[str, int]:
    parts = urlsplit(address if "://" in address else f"//{address}")
    assert parts.hostname and parts.port, f"no host:port in {address!r}"
    return parts.hostname, parts.port


def _image_service(service: dict) -> str | None:
    """The kitcore service a container runs (``kitcore/book:...`` -> ``book``)."""
    match = re.match(r"kitcore/(\w+):", service.get("image", ""))
    return match.group(1) if match else None


def _edges_in_compose(compose: dict) -> set[Edge]:
    """Who calls whom on which port, from the containers' environment and Prometheus."""
    edges = set()
    for name, service in compose.items():
        env = _environment(service)
        for variable in ADDRESS_VARIABLES:
            for address in filter(None, env.get(variable, "").split(",")):
                host, port = _host_port(address.strip())
                edges.add((name, host, port))
    scrape = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))["scrape_configs"]
    for job in scrape:
        for static in job["static_configs"]:
            for target in static["targets"]:
                host, port = _host_port(target)
                if host != "localhost":
                    edges.add(("prometheus", host, port))
    return edges


def _backend_transports() -> dict[str, str]:
    """The gateway's backends and the transport each is called over, from its wiring."""
    source = GATEWAY_MAIN.read_text(encoding="utf-8")
    found = dict(re.findall(r'new_instancer\(\s*"(\w+)".*?transport="(\w+)"', source, re.S))
    assert found, "the gateway's wiring names no backend"
    return found


def _edges_of_the_gateway(compose: dict) -> set[tuple[str, str, int, str]]:
    """Each gateway replica to each backend instance: (from, to, port, transport)."""
    edges = set()
    backends = _backend_transports()
    for gateway, g in compose.items():
        if _image_service(g) != "gateway":
            continue
        for name, service in compose.items():
            transport = backends.get(_image_service(service) or "")
            if transport:
                port = int(_environment(service)[f"KIT_{transport.upper()}_PORT"])
                edges.add((gateway, name, port, transport))
    return edges


def _published(compose: dict) -> set[tuple[str, int]]:
    """(service, default host port) of every port published to the host."""
    result = set()
    for name, service in compose.items():
        for mapping in service.get("ports", []):
            result.add((name, int(_default(mapping).split(":")[0])))
    return result


def test_every_container_is_drawn_once_and_nothing_else(compose, picture):
    _, names = picture
    assert sorted(names.values()) == sorted(compose)


def test_the_published_ports_are_the_arrows_from_outside(compose, picture):
    chart, names = picture
    drawn = {(names[dst], _port(label)) for src, dst, label in chart.edges if src == CLIENT}
    assert drawn == _published(compose)


def test_every_arrow_inside_is_in_the_stack_and_every_call_is_drawn(compose, picture):
    chart, names = picture
    drawn = {(names[src], names[dst], _port(label))
             for src, dst, label in chart.edges if src != CLIENT}
    expected = _edges_in_compose(compose)
    expected |= {(src, dst, port) for src, dst, port, _ in _edges_of_the_gateway(compose)}
    assert drawn == expected


def test_the_gateways_arrows_name_the_transport_its_clients_use(compose, picture):
    chart, names = picture
    labels = {(names[src], names[dst]): label for src, dst, label in chart.edges
              if src != CLIENT}
    for gateway, backend, _, transport in _edges_of_the_gateway(compose):
        assert TRANSPORT_WORDS[transport] in labels[(gateway, backend)], (gateway, backend)


def test_the_reader_refuses_what_it_does_not_understand():
    with pytest.raises(ValueError):
        flowchart.parse("flowchart LR\n    a --- b")
