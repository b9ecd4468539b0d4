"""The layering holds: no import circles, kitcore never reaches up into a service.

Read from the source with :mod:`ast` (see ``imports.py``), so a circle hidden
behind ``TYPE_CHECKING`` counts as one.
"""

from __future__ import annotations

from layout.imports import cycles, import_graph, source_modules, third_party_imports

SERVICES = {"book", "user", "gateway", "template"}


def test_the_graph_sees_every_service_and_kitcore() -> None:
    tops = {name.split(".")[0] for name in source_modules()}
    assert tops >= SERVICES | {"kitcore"}


def test_no_module_imports_itself_back_through_others() -> None:
    assert cycles(import_graph()) == []


def test_a_circle_is_found_when_there_is_one() -> None:
    graph = {"a.service": {"a.store"}, "a.store": {"a.service"}, "a.main": {"a.service"}}
    assert cycles(graph) == [["a.service", "a.store"]]


def test_kitcore_imports_no_service() -> None:
    graph = import_graph()
    upward = {
        (module, target)
        for module, targets in graph.items() if module.startswith("kitcore")
        for target in targets if target.split(".")[0] in SERVICES
    }
    assert upward == set()


def test_no_service_imports_another() -> None:
    graph = import_graph()
    across = {
        (module, target)
        for module, targets in graph.items() if module.split(".")[0] in SERVICES
        for target in targets
        if target.split(".")[0] in SERVICES and target.split(".")[0] != module.split(".")[0]
    }
    assert across == set()


def test_a_store_imports_its_domain_and_the_domain_no_store() -> None:
    graph = import_graph()
    for service in SERVICES - {"gateway"}:
        assert f"{service}.service" in graph[f"{service}.store"]
        assert not any(target.endswith(".store") for target in graph[f"{service}.service"])


TRANSPORT_LIBRARIES = {"flask", "werkzeug", "granian", "waitress", "grpc", "grpc_health"}
TRANSPORT_HOMES = ("kitcore.transport", "kitcore.app", "kitcore.http_servers", "kitcore.testing")
"""Where kitcore may import a transport library: the transports, the runner
and the HTTP servers that start them, and the test harness that serves them in tests."""


def test_kitcore_speaks_flask_and_grpc_only_in_its_transports() -> None:
    offenders = {
        module: sorted(third_party_imports(module) & TRANSPORT_LIBRARIES)
        for module in source_modules()
        if module.startswith("kitcore") and not module.startswith(TRANSPORT_HOMES)
    }
    assert {module: libs for module, libs in offenders.items() if libs} == {}


def test_the_transport_rule_sees_a_transport_import() -> None:
    assert "flask" in third_party_imports("kitcore.transport.http_admin")
    assert "grpc" in third_party_imports("kitcore.transport.grpc_health")
