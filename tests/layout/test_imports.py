"""The layering holds: no import circles, kitcore never reaches up into a service.

Read from the source with :mod:`ast` (see ``imports.py``), so a circle hidden
behind ``TYPE_CHECKING`` counts as one.
"""

from __future__ import annotations

from layout.imports import cycles, import_graph, source_modules

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
