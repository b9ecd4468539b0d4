"""The documentation pages as data: their links, headings and Mermaid blocks.

The front page (README.md) and every page under docs/ are parsed with
markdown-it (CommonMark, as GitHub renders them), so code blocks are never
mistaken for links and anchors are computed the way GitHub computes them.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def pages() -> list[Path]:
    """The front page and every page under docs/."""
    return [README, *sorted(DOCS.glob("*.md"))]


def other_readmes() -> list[Path]:
    """The README of each part (kitcore, a service, bench, the report) outside docs/."""
    found = [*ROOT.glob("libs/*/README.md"), *ROOT.glob("services/*/README.md"),
             *ROOT.glob("bench/**/*.md"), *ROOT.glob("docker/**/README.md")]
    return sorted(found)


@cache
def tokens(path: Path) -> list[Token]:
    """The page's block tokens, inline children attached."""
    return MarkdownIt("commonmark").enable("table").parse(path.read_text(encoding="utf-8"))


def mermaid_blocks(path: Path) -> list[str]:
    """The text of every ```mermaid block of the page, in order."""
    return [t.content for t in tokens(path) if t.type == "fence" and t.info.strip() == "mermaid"]


def links(path: Path) -> list[str]:
    """Every link and image target of the page, as written."""
    found = []
    for block in tokens(path):
        for child in block.children or []:
            if child.type == "link_open":
                found.append(str(child.attrs["href"]))
            elif child.type == "image":
                found.append(str(child.attrs["src"]))
    return found


def headings(path: Path) -> list[tuple[int, str]]:
    """(level, text) of every heading of the page."""
    result = []
    blocks = tokens(path)
    for i, block in enumerate(blocks):
        if block.type == "heading_open":
            inline = blocks[i + 1]
            text = "".join(c.content for c in inline.children or [] if c.type in
                           ("text", "code_inline"))
            result.append((int(block.tag[1]), text))
    return result


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the page's headings (a repeated one gets -1, -2 ...)."""
    seen: dict[str, int] = {}
    result = set()
    for _, text in headings(path):
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def section(path: Path, title: str) -> str:
    """The Markdown text under the heading ``title``, up to the next heading of its level."""
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"^(#+) {re.escape(title)}\n(.*?)(?=^\1 |\Z)", text, re.M | re.S)
    if match is None:
        raise LookupError(f"{path.name} has no section {title!r}")
    return match.group(2)
