"""The figures in docs/benchmarks.md are the committed report's, not typed by hand."""

from __future__ import annotations

import copy
import importlib.util
import sys

import pytest

from docs import pages

BENCH = pages.ROOT / "bench"


@pytest.fixture(scope="module")
def figures():
    """bench/docs_figures.py, imported the way `python bench/docs_figures.py` runs it."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("docs_figures", BENCH / "docs_figures.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_the_page_is_what_the_script_renders_from_results_json(figures):
    page = figures.PAGE.read_text(encoding="utf-8")
    assert figures.update(page, figures.load()) == page, (
        "run: .venv/bin/python bench/docs_figures.py")


def test_a_changed_figure_changes_the_page(figures):
    results = figures.load()
    changed = copy.deepcopy(results)
    changed["transport"]["summary"]["flask"]["throughput_rps"] += 1000
    assert figures.render(changed) != figures.render(results)


def test_the_page_shows_the_committed_plot(figures):
    assert "../bench/report/latency.png" in pages.links(figures.PAGE)
    assert (BENCH / "report" / "latency.png").stat().st_size > 0


def test_a_server_faster_than_its_baseline_reads_as_a_gain(figures):
    faster = {("granian", "flask"): {"throughput_ratio": 1.85, "throughput_cost": -0.85}}
    slower = {("kitcore", "flask"): {"throughput_ratio": 0.76, "throughput_cost": 0.24}}
    assert figures._against(faster, "granian", "flask") == "1.85 (+85%)"
    assert figures._against(slower, "kitcore", "flask") == "0.76 (-24%)"
