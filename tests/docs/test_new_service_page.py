"""docs/new-service.md shows the snippets `make new-service` really prints."""

from __future__ import annotations

import importlib.util

from docs import pages

PAGE = pages.DOCS / "new-service.md"
NAME = "inventory"


def _new_service():
    path = pages.ROOT / "scripts" / "new_service.py"
    spec = importlib.util.spec_from_file_location("new_service", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _yaml_blocks() -> list[str]:
    return [t.content for t in pages.tokens(PAGE) if t.type == "fence" and t.info == "yaml"]


def test_the_page_shows_the_printed_compose_service_and_scrape_job():
    script = _new_service()
    fields = {"name": NAME, "host": script.host_name(NAME)}
    assert _yaml_blocks() == [script.COMPOSE_SNIPPET.format(**fields),
                              script.PROMETHEUS_SNIPPET.format(**fields)]

