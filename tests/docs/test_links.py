"""Every relative link and anchor on the front page, under docs/ and in each README resolves.

A link to a Markdown file with an anchor must name a heading of that file
(as GitHub computes anchors); a link to anything else must name a file or
folder of the repository. Every page under docs/ is reachable from the front
page, and starts with its title and a paragraph saying what it answers.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from docs import pages

ALL = pages.pages()


def _relative(link: str) -> bool:
    parts = urlsplit(link)
    return not parts.scheme and not parts.netloc


def _resolve(page: Path, link: str) -> tuple[Path, str]:
    parts = urlsplit(link)
    target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    return target, parts.fragment


@pytest.mark.parametrize("page", ALL + pages.other_readmes(),
                         ids=lambda p: str(p.relative_to(pages.ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for link in filter(_relative, pages.links(page)):
        target, anchor = _resolve(page, link)
        if not target.exists() or pages.ROOT not in (target, *target.parents):
            broken.append(f"{link}: no such file in the repository")
        elif anchor and target.suffix == ".md" and anchor not in pages.anchors(target):
            broken.append(f"{link}: {target.name} has no heading #{anchor}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_every_page_is_linked_from_the_front_page():
    linked = {_resolve(pages.README, link)[0]
              for link in filter(_relative, pages.links(pages.README))}
    assert [p.name for p in ALL[1:] if p not in linked] == []


@pytest.mark.parametrize("page", ALL[1:], ids=lambda p: p.name)
def test_every_page_starts_with_its_title_and_what_it_answers(page):
    blocks = pages.tokens(page)
    assert blocks[0].type == "heading_open" and blocks[0].tag == "h1"
    assert [b.type for b in blocks[3:6]] == ["paragraph_open", "inline", "paragraph_close"]


def test_the_reader_finds_a_broken_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A section, with `code`\n\n[ok](#a-section-with-code)\n")
    assert pages.links(page) == ["#a-section-with-code"]
    assert pages.anchors(page) == {"title", "a-section-with-code"}
