"""docs/configuration.md is the one table of every setting the services read.

Every ``KIT_*`` and ``OTEL_*`` name the toolkit or a service reads (a string
in their source), and every such name docker-compose.yml hands a service, is a
row of the table; every row is a name something really reads or sets.
"""

from __future__ import annotations

import re

from docs import pages

PAGE = pages.DOCS / "configuration.md"
NAME = re.compile(r"\b(?:KIT|OTEL)_[A-Z_]*[A-Z]\b")
SOURCES = [pages.ROOT / "libs" / "kitcore" / "src", pages.ROOT / "services"]
ELSEWHERE = ["docker-compose.yml", "Makefile", "scripts", "docker"]


def _read_by_code() -> set[str]:
    names = set()
    for folder in SOURCES:
        for path in folder.rglob("*.py"):
            if "tests" not in path.parts:
                names |= set(re.findall(rf'"({NAME.pattern})"', path.read_text()))
    return names


def _set_by_compose() -> set[str]:
    text = (pages.ROOT / "docker-compose.yml").read_text()
    return set(re.findall(rf"^\s+({NAME.pattern}):", text, re.M))


def _mentioned_anywhere() -> set[str]:
    names = set(_read_by_code())
    for entry in ELSEWHERE:
        path = pages.ROOT / entry
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            names |= set(NAME.findall(file.read_text(errors="replace")))
    return names


def _rows() -> set[str]:
    """The KIT_* and OTEL_* names in the first column of the table."""
    names = set()
    for first_cell in re.findall(r"^\| (`[^|]+`) \|", PAGE.read_text(), re.M):
        names |= set(NAME.findall(first_cell))
    return names


def test_every_setting_the_code_reads_is_in_the_table():
    assert sorted(_read_by_code() - _rows()) == []


def test_every_setting_compose_hands_a_service_is_in_the_table():
    assert sorted(_set_by_compose() - _rows()) == []


def test_every_row_is_read_or_set_somewhere():
    assert sorted(_rows() - _mentioned_anywhere()) == []
